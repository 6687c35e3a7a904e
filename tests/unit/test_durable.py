"""The group-commit writer: results after commit, shared commits, isolation, kill -9 safety."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import sqlite3
import subprocess
import sys
import textwrap
import threading
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from globalmon.durable import GroupCommitWriter, WriterClosed

SCHEMA = "CREATE TABLE IF NOT EXISTS t (id INTEGER PRIMARY KEY, v TEXT NOT NULL);"


def _insert(value: str) -> Callable[[sqlite3.Connection], int]:
    return lambda db: int(db.execute("INSERT INTO t (v) VALUES (?)", (value,)).lastrowid or 0)


async def test_a_write_returns_after_commit_and_is_readable(tmp_path: Path) -> None:
    w = GroupCommitWriter(tmp_path / "d.db", SCHEMA)
    row = await w.write(_insert("a"))
    assert row == 1
    # another connection sees it: it is committed, not just in the writer's transaction
    other = sqlite3.connect(tmp_path / "d.db")
    assert other.execute("SELECT v FROM t").fetchall() == [("a",)]
    other.close()
    assert await w.read(lambda db: db.execute("SELECT count(*) FROM t").fetchone()[0]) == 1
    w.close()


async def test_concurrent_writes_share_commits(tmp_path: Path) -> None:
    w = GroupCommitWriter(tmp_path / "d.db", SCHEMA)
    ids = await asyncio.gather(*(w.write(_insert(str(i))) for i in range(500)))
    assert sorted(ids) == list(range(1, 501))
    assert w.commits < 100  # far fewer fsyncs than writes
    w.close()


async def test_a_failing_write_rolls_back_alone(tmp_path: Path) -> None:
    w = GroupCommitWriter(tmp_path / "d.db", SCHEMA)

    def bad(db: sqlite3.Connection) -> None:
        db.execute("INSERT INTO t (v) VALUES ('partial')")
        raise ValueError("refused")

    results = await asyncio.gather(
        w.write(_insert("ok-1")),
        w.write(bad),
        w.write(_insert("ok-2")),
        return_exceptions=True,
    )
    assert isinstance(results[1], ValueError)
    rows = await w.read(lambda db: [r[0] for r in db.execute("SELECT v FROM t ORDER BY id")])
    assert rows == ["ok-1", "ok-2"]
    w.close()


async def test_a_closed_writer_refuses(tmp_path: Path) -> None:
    w = GroupCommitWriter(tmp_path / "d.db", SCHEMA)
    w.close()
    with pytest.raises(WriterClosed):
        await w.write(_insert("late"))


CHILD = textwrap.dedent("""
    import asyncio, sys
    from globalmon.durable import GroupCommitWriter
    SCHEMA = "CREATE TABLE IF NOT EXISTS t (id INTEGER PRIMARY KEY, v TEXT NOT NULL);"

    async def main():
        w = GroupCommitWriter(sys.argv[1], SCHEMA)
        async def one(i):
            await w.write(lambda db: db.execute("INSERT INTO t (v) VALUES (?)", (str(i),)))
            sys.stdout.write(f"{i}\\n")  # acknowledged only after the commit
            sys.stdout.flush()
        counter = iter(range(10_000_000))
        async def worker():  # 50 writers at once, like 50 client connections
            for i in counter:
                await one(i)
        await asyncio.gather(*(worker() for _ in range(50)))

    asyncio.run(main())
""")


def test_every_acknowledged_write_survives_kill_9(tmp_path: Path) -> None:
    db = tmp_path / "k.db"
    child = subprocess.Popen(
        [sys.executable, "-c", CHILD, str(db)],
        stdout=subprocess.PIPE,
        text=True,
        cwd=Path(__file__).resolve().parent.parent.parent,
    )
    assert child.stdout is not None
    acked: list[str] = []
    deadline = time.monotonic() + 120
    while len(acked) < 10_000:
        line = child.stdout.readline()
        assert line, "the writer died before 10k writes"
        acked.append(line.strip())
        assert time.monotonic() < deadline, "10k acknowledged writes took over 2 minutes"
    os.kill(child.pid, signal.SIGKILL)  # mid-burst: more writes are in flight
    child.wait()
    child.stdout.close()
    conn = sqlite3.connect(db)
    stored = {r[0] for r in conn.execute("SELECT v FROM t")}
    conn.close()
    missing = set(acked) - stored
    assert not missing, f"{len(missing)} acknowledged writes lost"


async def test_a_caller_cancelled_while_queued_is_skipped_and_the_writer_lives_on(
    tmp_path: Path,
) -> None:
    w = GroupCommitWriter(tmp_path / "d.db", SCHEMA)
    started, release = threading.Event(), threading.Event()

    def blocking(db: sqlite3.Connection) -> None:
        started.set()  # the writer is inside this job: the next write must wait in the queue
        release.wait(10)
        db.execute("INSERT INTO t (v) VALUES ('first')")

    busy = asyncio.ensure_future(w.write(blocking))
    assert await asyncio.to_thread(started.wait, 10)
    queued = asyncio.ensure_future(w.write(_insert("cancelled")))
    await asyncio.sleep(0)  # let it enqueue
    queued.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await queued
    release.set()
    await busy
    # a dead writer thread would leave this waiting forever: bound it
    assert await asyncio.wait_for(w.write(_insert("after")), 10) > 0
    rows = await w.read(lambda db: [r[0] for r in db.execute("SELECT v FROM t ORDER BY id")])
    assert rows == ["first", "after"]
    w.close()
