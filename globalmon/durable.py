"""Durable writes for aiohttp handlers: answer only after the data is committed to SQLite.

One thread owns the write connection. Handlers submit a function that writes; the thread runs
every waiting function in one transaction (group commit: concurrent requests share one fsync),
commits, then wakes each handler with its result. A function that raises rolls back only its
own savepoint and gets the exception; the others commit. The event loop never blocks on disk.

    writer = GroupCommitWriter(path, SCHEMA)
    row_id = await writer.write(lambda db: db.execute("INSERT ...", args).lastrowid)
    rows = await writer.read(lambda db: db.execute("SELECT ...").fetchall())
"""

from __future__ import annotations

import asyncio
import queue
import sqlite3
import threading
from collections.abc import Callable
from concurrent.futures import Future
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

T = TypeVar("T")
Work = Callable[[sqlite3.Connection], Any]

MAX_BATCH = 1000  # writes in one transaction at most, so one commit stays short


@dataclass
class _Job:
    work: Work
    done: Future[Any]


class WriterClosed(RuntimeError):
    """The writer was closed; nothing more is accepted."""


class GroupCommitWriter:
    """A SQLite database in WAL mode with a group-committing writer thread."""

    def __init__(self, path: str | Path, schema: str = "", *, synchronous: str = "FULL") -> None:
        self.path = str(path)
        self._jobs: queue.SimpleQueue[_Job | None] = queue.SimpleQueue()
        self._closed = False
        self.commits = 0  # transactions committed (for benchmarks and tests)
        db = self._connect()
        db.execute("PRAGMA journal_mode=WAL")
        if schema:
            db.executescript(schema)
        db.execute(f"PRAGMA synchronous={synchronous}")  # FULL: a commit is on disk
        self._thread = threading.Thread(
            target=self._run, args=(db,), name="sqlite-writer", daemon=True
        )
        self._thread.start()
        self._reader_local = threading.local()

    def _connect(self) -> sqlite3.Connection:
        db = sqlite3.connect(self.path, check_same_thread=False, isolation_level=None)
        db.execute("PRAGMA busy_timeout=5000")
        return db

    async def write(self, work: Callable[[sqlite3.Connection], T]) -> T:
        """Run ``work`` in the next transaction; return its result once committed."""
        if self._closed:
            raise WriterClosed("the database writer is closed")
        done: Future[T] = Future()
        self._jobs.put(_Job(work, done))
        return await asyncio.wrap_future(done)

    async def read(self, work: Callable[[sqlite3.Connection], T]) -> T:
        """Run ``work`` on a reader connection in a worker thread (WAL: reads never wait)."""
        return await asyncio.to_thread(self._read, work)

    def _read(self, work: Callable[[sqlite3.Connection], T]) -> T:
        db = getattr(self._reader_local, "db", None)
        if db is None:
            db = self._reader_local.db = self._connect()
        return work(db)

    def close(self) -> None:
        """Commit what is queued, then stop the writer thread."""
        if not self._closed:
            self._closed = True
            self._jobs.put(None)
            self._thread.join()

    def _run(self, db: sqlite3.Connection) -> None:
        stop = False
        while not stop:
            first = self._jobs.get()
            if first is None:
                break
            batch = [first]
            while len(batch) < MAX_BATCH:
                try:
                    nxt = self._jobs.get_nowait()
                except queue.Empty:
                    break
                if nxt is None:
                    stop = True
                    break
                batch.append(nxt)
            self._commit(db, batch)
        db.close()

    def _commit(self, db: sqlite3.Connection, batch: list[_Job]) -> None:
        # A caller cancelled while queued (e.g. a handler whose client went away, a task at
        # shutdown) is skipped: its work never runs. A claimed future can no longer be cancelled,
        # so setting its result below is always allowed.
        batch = [job for job in batch if job.done.set_running_or_notify_cancel()]
        if not batch:
            return
        results: list[tuple[_Job, Any, BaseException | None]] = []
        try:
            db.execute("BEGIN IMMEDIATE")
            for job in batch:
                db.execute("SAVEPOINT job")
                try:
                    value = job.work(db)
                except Exception as exc:  # the caller's own error: undo just its writes
                    db.execute("ROLLBACK TO job")
                    db.execute("RELEASE job")
                    results.append((job, None, exc))
                else:
                    db.execute("RELEASE job")
                    results.append((job, value, None))
            db.execute("COMMIT")
            self.commits += 1
        except sqlite3.Error as exc:  # the commit itself failed: nobody's data is durable
            if db.in_transaction:
                db.execute("ROLLBACK")
            for job in batch:
                job.done.set_exception(exc)
            return
        for job, value, error in results:
            if error is None:
                job.done.set_result(value)
            else:
                job.done.set_exception(error)
