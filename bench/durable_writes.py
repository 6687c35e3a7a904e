"""Durable writes: group commit against a commit per write, 50 concurrent writers, same run.

Both use SQLite in WAL mode with synchronous=FULL and answer only after the commit; the
baseline commits each write alone from a worker thread (what a handler doing
``await asyncio.to_thread(insert_and_commit)`` gets). Reports writes/s and latency percentiles.

    python -m bench.durable_writes [--writes 5000] [--concurrency 50]
"""

from __future__ import annotations

import argparse
import asyncio
import sqlite3
import statistics
import tempfile
import threading
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

from globalmon.durable import GroupCommitWriter

SCHEMA = "CREATE TABLE IF NOT EXISTS t (id INTEGER PRIMARY KEY, v TEXT NOT NULL);"
ROW = "x" * 200


async def drive(
    write: Callable[[int], Awaitable[None]], writes: int, concurrency: int
) -> tuple[float, list[float]]:
    latencies: list[float] = []
    numbers = iter(range(writes))

    async def worker() -> None:
        for i in numbers:
            start = time.perf_counter()
            await write(i)
            latencies.append(time.perf_counter() - start)

    start = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    return time.perf_counter() - start, latencies


async def grouped(path: Path, writes: int, concurrency: int) -> tuple[float, list[float], int]:
    w = GroupCommitWriter(path, SCHEMA)

    async def write(i: int) -> None:
        await w.write(lambda db: db.execute("INSERT INTO t (v) VALUES (?)", (ROW,)))

    elapsed, lat = await drive(write, writes, concurrency)
    commits = w.commits
    w.close()
    return elapsed, lat, commits


async def per_write(path: Path, writes: int, concurrency: int) -> tuple[float, list[float], int]:
    db = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
    db.execute("PRAGMA journal_mode=WAL")
    db.executescript(SCHEMA)
    db.execute("PRAGMA synchronous=FULL")
    lock = threading.Lock()

    def insert() -> None:
        with lock:
            db.execute("BEGIN IMMEDIATE")
            db.execute("INSERT INTO t (v) VALUES (?)", (ROW,))
            db.execute("COMMIT")

    async def write(i: int) -> None:
        await asyncio.to_thread(insert)

    elapsed, lat = await drive(write, writes, concurrency)
    db.close()
    return elapsed, lat, writes


def _p(values: list[float], q: float) -> float:
    return statistics.quantiles(values, n=100)[int(q) - 1] * 1000


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--writes", type=int, default=5000)
    parser.add_argument("--concurrency", type=int, default=50)
    args = parser.parse_args()
    print(f"durable writes: {args.writes} writes, {args.concurrency} concurrent writers")
    rates = {}
    with tempfile.TemporaryDirectory() as tmp:
        for name, run in (("commit per write (baseline)", per_write), ("group commit", grouped)):
            elapsed, lat, commits = asyncio.run(
                run(Path(tmp) / f"{name[:5]}.db", args.writes, args.concurrency)
            )
            rates[name] = args.writes / elapsed
            print(
                f"  {name:28s} {rates[name]:9.0f} writes/s  p50 {_p(lat, 50):7.2f} ms  "
                f"p99 {_p(lat, 99):7.2f} ms  {commits} commits"
            )
    base = rates["commit per write (baseline)"]
    print(f"  group commit / baseline: {rates['group commit'] / base:.1f}x")


if __name__ == "__main__":
    main()
