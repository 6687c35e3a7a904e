"""The writer process: results after commit, isolation, a dying child, closing, kill -9 safety."""

from __future__ import annotations

import asyncio
import os
import signal
import sqlite3
import subprocess
import sys
import textwrap
import time
from pathlib import Path
from typing import Any

import pytest

from globalmon.durable import WriterClosed
from globalmon.durable_process import ProcessWriter, WriterGone

SCHEMA = "CREATE TABLE IF NOT EXISTS t (id INTEGER PRIMARY KEY, v TEXT NOT NULL);"
REPO = Path(__file__).resolve().parent.parent.parent


def make_context(prefix: str) -> str:
    return prefix


# The writes run in the child, so they are module-level functions of (db, context, *args).
def insert(db: sqlite3.Connection, prefix: str, value: str) -> int:
    return int(db.execute("INSERT INTO t (v) VALUES (?)", (prefix + value,)).lastrowid or 0)


def insert_then_fail(db: sqlite3.Connection, prefix: str) -> None:
    db.execute("INSERT INTO t (v) VALUES ('partial')")
    raise ValueError("refused")


class Unpicklable(Exception):
    def __init__(self, handle: Any) -> None:
        super().__init__("holds a handle")
        self.handle = handle


def fail_unpicklably(db: sqlite3.Connection, prefix: str) -> None:
    raise Unpicklable(lambda: None)


def parse_number(text: str) -> tuple[str]:
    return (str(int(text)),)  # raises ValueError for what is not a number


def pid(db: sqlite3.Connection, prefix: str) -> int:
    return os.getpid()


def writer(tmp_path: Path) -> ProcessWriter:
    return ProcessWriter(tmp_path / "d.db", SCHEMA, context=(make_context, ("ctx-",)))


def values(path: Path) -> list[str]:
    db = sqlite3.connect(path)
    try:
        return [v for (v,) in db.execute("SELECT v FROM t ORDER BY id")]
    finally:
        db.close()


async def test_a_call_returns_after_commit_with_the_context(tmp_path: Path) -> None:
    w = writer(tmp_path)
    try:
        assert await w.call(insert, "a") == 1
        assert values(tmp_path / "d.db") == ["ctx-a"]  # committed: another connection sees it
        assert await w.call(pid) != os.getpid()  # it ran in the child
        count = await w.read(lambda db: db.execute("SELECT count(*) FROM t").fetchone()[0])
        assert count == 1
    finally:
        w.close()


async def test_concurrent_calls_all_commit(tmp_path: Path) -> None:
    w = writer(tmp_path)
    try:
        ids = await asyncio.gather(*(w.call(insert, str(i)) for i in range(500)))
        assert sorted(ids) == list(range(1, 501))
        assert len(values(tmp_path / "d.db")) == 500
    finally:
        w.close()


async def test_a_failing_call_rolls_back_alone_and_gets_its_error(tmp_path: Path) -> None:
    w = writer(tmp_path)
    try:
        results = await asyncio.gather(
            w.call(insert, "ok-1"),
            w.call(insert_then_fail),
            w.call(fail_unpicklably),
            w.call(insert, "ok-2"),
            return_exceptions=True,
        )
        assert isinstance(results[1], ValueError)
        assert str(results[1]) == "refused"
        assert isinstance(results[2], RuntimeError)  # what did not pickle, named
        assert "Unpicklable" in str(results[2])
        assert values(tmp_path / "d.db") == ["ctx-ok-1", "ctx-ok-2"]
    finally:
        w.close()


async def test_prepare_runs_before_the_transaction_and_its_error_is_the_callers(
    tmp_path: Path,
) -> None:
    w = writer(tmp_path)
    try:
        results = await asyncio.gather(
            w.call(insert, "007", prepare=parse_number),
            w.call(insert, "seven", prepare=parse_number),
            w.call(insert, "plain"),
            return_exceptions=True,
        )
        assert isinstance(results[1], ValueError)
        assert values(tmp_path / "d.db") == ["ctx-7", "ctx-plain"]  # prepare's output was used
    finally:
        w.close()


async def test_a_dead_child_fails_its_waiters_and_the_next_call_starts_another(
    tmp_path: Path,
) -> None:
    w = writer(tmp_path)
    try:
        first = await w.call(pid)
        os.kill(first, signal.SIGKILL)
        with pytest.raises(WriterGone):  # sent to the dead child: nobody can answer it
            await asyncio.wait_for(w.call(insert, "maybe"), 10)
        second = await w.call(pid)
        assert second != first
        assert await w.call(insert, "after") > 0
        assert values(tmp_path / "d.db")[-1] == "ctx-after"
    finally:
        w.close()


async def test_close_commits_what_was_sent_and_refuses_more(tmp_path: Path) -> None:
    w = writer(tmp_path)
    await w.call(insert, "first")  # attached
    tasks = [asyncio.create_task(w.call(insert, str(i))) for i in range(200)]
    await asyncio.sleep(0)  # every call has written its frame
    w.close()
    assert len(values(tmp_path / "d.db")) == 201
    with pytest.raises(WriterClosed):
        await w.call(insert, "late")
    for t in tasks:
        t.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)


def test_a_database_that_cannot_be_opened_is_an_error_at_start(tmp_path: Path) -> None:
    with pytest.raises(sqlite3.OperationalError):
        ProcessWriter(tmp_path / "missing" / "d.db", SCHEMA, context=(make_context, ("",)))


CHILD = textwrap.dedent("""
    import asyncio, sys
    from globalmon.durable_process import ProcessWriter
    from tests.unit.test_durable_process import SCHEMA, insert, make_context

    async def main():
        w = ProcessWriter(sys.argv[1], SCHEMA, context=(make_context, ("",)))
        async def one(i):
            await w.call(insert, str(i))
            sys.stdout.write(f"{i}\\n")  # acknowledged only after the commit
            sys.stdout.flush()
        counter = iter(range(10_000_000))
        async def worker():  # 50 writers at once, like 50 client connections
            for i in counter:
                await one(i)
        await asyncio.gather(*(worker() for _ in range(50)))

    asyncio.run(main())
""")


def test_every_acknowledged_write_survives_kill_9_of_both_processes(tmp_path: Path) -> None:
    db = tmp_path / "k.db"
    parent = subprocess.Popen(
        [sys.executable, "-c", CHILD, str(db)], stdout=subprocess.PIPE, text=True, cwd=REPO
    )
    assert parent.stdout is not None
    acked: list[str] = []
    deadline = time.monotonic() + 120
    while len(acked) < 5_000:
        line = parent.stdout.readline()
        assert line, "the writer died before 5k writes"
        acked.append(line.strip())
        assert time.monotonic() < deadline, "5k acknowledged writes took over 2 minutes"
    # the whole process group: the writer process dies mid-burst too, not after a clean batch
    children = subprocess.run(
        ["pgrep", "-P", str(parent.pid)], capture_output=True, text=True, check=False
    ).stdout.split()
    for p in [parent.pid, *map(int, children)]:
        os.kill(p, signal.SIGKILL)
    parent.wait()
    parent.stdout.close()
    stored = set(values(db))
    missing = set(acked) - stored
    assert children, "no writer process was found"
    assert not missing, f"{len(missing)} acknowledged writes lost"
