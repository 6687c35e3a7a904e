"""Durable alert ingest of `globalmon webhook` beside a no-op aiohttp handler, same run.

Both run as processes on loopback. The webhook commits every alert (receipt, incident, timeline,
audit records) to SQLite with synchronous=FULL before it answers; the no-op handler reads the body
and answers 200, the ceiling any aiohttp receiver on this machine could reach. Every alert is new
(no duplicates), so each one is real work. The load comes from wrk (C, one thread, 50 connections,
payloads made by ``webhook_alerts.lua``), which leaves most of a core to the server; on a 2-core
machine it still shares the CPU with it. Each server is warmed up first: a new database's first
seconds are slower while its WAL file grows. After the run every answered alert is looked up in
the webhook's database. Medians over the rounds.

The same load also goes to the webhook on PostgreSQL (a throwaway cluster on loopback, fsync and
synchronous_commit on: a commit is durable as SQLite's FULL), alone and as two replicas sharing
one database (wrk's connections split between them): durable alerts/s on either database, in
one run.

    python -m bench.webhook_ingest [--seconds 10] [--rounds 3] [--storm 10000]
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import json
import os
import shutil
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import aiohttp
import yaml

from local_stack import postgres, servers

ROOT = Path(__file__).resolve().parents[1]
SCRIPT = Path(__file__).with_name("webhook_alerts.lua")
TOKEN = "bench-token"
TARGET_RATE, TARGET_P99 = 8000, 0.020  # durable alerts/s and seconds, 1 alert/POST, FULL
NOOP = """
import sys
from aiohttp import web

async def ok(request):
    await request.read()
    return web.json_response({"received": 0})

app = web.Application(client_max_size=64 * 1024 * 1024)
app.router.add_post("/webhook", ok)
app.router.add_get("/-/ready", lambda r: web.Response(text="ok"))
web.run_app(app, host="127.0.0.1", port=int(sys.argv[1]), print=None)
"""


def spec(path: Path) -> Path:
    data = yaml.safe_load((ROOT / "examples" / "minimal.yaml").read_text())
    data["global"] = {"credentials": {"webhook_token": {"env": "BENCH_WEBHOOK_TOKEN"}}}
    path.write_text(yaml.safe_dump(data))
    return path


_serial = itertools.count()


def payloads(size: int) -> Iterator[bytes]:
    """Payloads of ``size`` alerts, every alert new."""
    while True:
        alerts = []
        for _ in range(size):
            i = next(_serial)
            labels = {"alertname": "BenchAlert", "severity": "warning", "region": "local",
                      "instance": f"host-{i}", "service": "api"}  # fmt: skip
            alerts.append(
                {
                    "status": "firing",
                    "labels": labels,
                    "annotations": {"summary": "bench"},
                    "startsAt": "2026-01-01T00:00:00Z",
                    "endsAt": "0001-01-01T00:00:00Z",
                    "generatorURL": "",
                    "fingerprint": f"{i:016x}",
                }
            )
        yield json.dumps({"version": "4", "status": "firing", "alerts": alerts}).encode()


@dataclass(frozen=True)
class Run:
    alerts: int  # answered 2xx
    rate: float  # alerts/s
    p50: float  # seconds, per POST
    p99: float


_runs = itertools.count()


def wrk(url: str, size: int, seconds: int, conc: int) -> Run:
    """One wrk run of ``size``-alert POSTs; any non-2xx answer or socket error ends the bench."""
    prefix = f"r{next(_runs)}"  # fingerprints never repeat across runs
    argv = ["wrk", "-t1", f"-c{conc}", f"-d{seconds}s", "--timeout", "10s", "-s", str(SCRIPT)]
    argv += [f"{url}/webhook", "--", str(size), prefix, TOKEN]
    out = subprocess.run(argv, capture_output=True, text=True, check=True, timeout=seconds + 60)
    line = next(x for x in out.stdout.splitlines() if x.startswith("SUMMARY "))
    summary = json.loads(line.removeprefix("SUMMARY "))
    if summary["non2xx"] or summary["socket_errors"]:
        sys.exit(f"webhook_ingest: {url}: {summary} (every POST must be answered 2xx)")
    answered = summary["requests"] * size
    return Run(
        answered,
        answered / (summary["duration_us"] / 1e6),
        summary["p50_us"] / 1e6,
        summary["p99_us"] / 1e6,
    )


async def post_once(url: str, body: bytes) -> float:
    """Seconds from sending one POST to its answer (the storm: one payload of many alerts)."""
    headers = {"Authorization": f"Bearer {TOKEN}", "Content-Type": "application/json"}
    async with aiohttp.ClientSession(url, headers=headers) as http:
        start = time.perf_counter()
        async with http.post("/webhook", data=body) as resp:
            await resp.read()
            assert resp.status == 200, resp.status
        return time.perf_counter() - start


def webhook(work: Path, name: str, synchronous: str, db: str | None = None) -> servers.Server:
    port = servers.free_port()
    return servers.Server(
        name,
        [sys.executable, "-m", "globalmon", "webhook", "--spec", str(spec(work / "spec.yaml")),
         "--db", db or str(work / f"{name}.db"), "--web.listen-address", f"127.0.0.1:{port}",
         "--synchronous", synchronous],
        port, work / name,
    )  # fmt: skip


def stored(db: Path | str) -> int:
    if isinstance(db, str):  # a PostgreSQL URL
        import psycopg

        with psycopg.connect(db) as pg_conn:
            row = pg_conn.execute("SELECT count(*) FROM receipts").fetchone()
            return int(row[0]) if row else 0
    with sqlite3.connect(db) as conn:
        (n,) = conn.execute("SELECT count(*) FROM receipts").fetchone()
    return int(n)


def load(group: list[servers.Server], size: int, seconds: int, conc: int) -> Run:
    """wrk against every server of ``group`` at once (replicas share the connections out)."""
    with ThreadPoolExecutor(len(group)) as pool:
        runs = list(pool.map(lambda s: wrk(s.url, size, seconds, conc // len(group)), group))
    return Run(
        sum(r.alerts for r in runs),
        sum(r.rate for r in runs),
        max(r.p50 for r in runs),
        max(r.p99 for r in runs),
    )


def run(args: argparse.Namespace, work: Path) -> None:
    os.environ["BENCH_WEBHOOK_TOKEN"] = TOKEN
    noop_port = servers.free_port()
    (work / "noop.py").write_text(NOOP)
    server = postgres.start()  # fsync and synchronous_commit on: a commit is on disk
    shared = {n: server.database(n) for n in ("one", "two")}
    targets: dict[str, list[servers.Server]] = {
        "no-op aiohttp": [
            servers.Server(
                "noop",
                [sys.executable, str(work / "noop.py"), str(noop_port)],
                noop_port,
                work / "noop",
            )
        ],
        "globalmon webhook": [webhook(work, "webhook", "FULL")],
        "webhook, synchronous=NORMAL": [webhook(work, "webhook-normal", "NORMAL")],
        "webhook on PostgreSQL": [webhook(work, "webhook-pg", "FULL", shared["one"])],
        "2 replicas on PostgreSQL": [
            webhook(work, f"replica{i}", "FULL", shared["two"]) for i in range(2)
        ],
    }
    databases: dict[str, Path | str] = {
        "globalmon webhook": work / "webhook.db",
        "webhook, synchronous=NORMAL": work / "webhook-normal.db",
        "webhook on PostgreSQL": shared["one"],
        "2 replicas on PostgreSQL": shared["two"],
    }
    rows: dict[str, list[Run]] = {}
    answered = dict.fromkeys(targets, 0)
    storms: list[float] = []
    try:
        for name, group in targets.items():
            for one in group:
                one.start().wait_ready()
            answered[name] += load(group, 1, args.warmup, args.concurrency).alerts
        for _ in range(args.rounds):
            for size in (1, 100):
                for name, group in targets.items():
                    result = load(group, size, args.seconds, args.concurrency)
                    answered[name] += result.alerts
                    rows.setdefault(
                        f"{name}, {size} alert{'s' if size > 1 else ''}/POST", []
                    ).append(result)
            [hook] = targets["globalmon webhook"]
            storms.append(asyncio.run(post_once(hook.url, next(payloads(args.storm)))))
            answered["globalmon webhook"] += args.storm
        for name, db in databases.items():
            if (found := stored(db)) < answered[name]:
                sys.exit(
                    f"webhook_ingest: {name}: {answered[name]} alerts answered, {found} stored"
                )
    finally:
        for group in targets.values():
            for one in group:
                one.stop()
        server.stop()

    print(
        f"webhook ingest: wrk, {args.concurrency} connections, {args.seconds:g} s a run, "
        f"{args.rounds} rounds after a {args.warmup:g} s warm-up, synchronous=FULL unless said "
        "(medians; every answered alert was found in the database)"
    )
    print(f"{'server':<48} {'alerts/s':>9} {'p50 ms':>8} {'p99 ms':>8} {'of no-op':>9}")
    med: dict[str, tuple[float, float, float]] = {}
    for key, runs in rows.items():
        med[key] = (
            statistics.median(r.rate for r in runs),
            statistics.median(r.p50 for r in runs),
            statistics.median(r.p99 for r in runs),
        )
    for key, (rate, p50, p99v) in med.items():
        base = med["no-op aiohttp, " + key.split(", ")[-1]]
        print(
            f"{key:<48} {rate:>9.0f} {p50 * 1000:>8.2f} {p99v * 1000:>8.2f} {rate / base[0]:>8.0%}"
        )
    rate, _, p99v = med["globalmon webhook, 1 alert/POST"]
    met = rate >= TARGET_RATE and p99v <= TARGET_P99
    print(
        f"target (1 alert/POST, FULL): >= {TARGET_RATE} alerts/s and p99 <= "
        f"{TARGET_P99 * 1000:.0f} ms at 50 connections: {'met' if met else 'not met'}"
        + ("" if args.concurrency == 50 else f" (this run used {args.concurrency} connections)")
    )
    print(f"one POST of {args.storm} alerts, committed: {statistics.median(storms):.2f} s (median)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=int, default=10, help="length of each wrk run")
    parser.add_argument("--warmup", type=int, default=5, help="seconds of load before")
    parser.add_argument("--concurrency", type=int, default=50)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--storm", type=int, default=10_000)
    args = parser.parse_args()
    if shutil.which("wrk") is None:
        sys.exit("webhook_ingest: wrk is not installed (make setup installs it)")
    with tempfile.TemporaryDirectory() as tmp:
        run(args, Path(tmp))


if __name__ == "__main__":
    main()
