"""Durable writes for aiohttp handlers: answer only after the data is committed to SQLite.

One thread owns the write connection. Handlers submit a function that writes; the thread runs
every waiting function in one transaction (group commit: concurrent requests share one fsync),
commits, then wakes each handler with its result. A function that raises gets the exception
and leaves no rows; the others commit (the batch is then run again, each function in a savepoint
of its own, so a function must depend only on the database and its arguments). The event loop
never blocks on disk.

    writer = GroupCommitWriter(path, SCHEMA)
    row_id = await writer.write(lambda db: db.execute("INSERT ...", args).lastrowid)
    rows = await writer.read(lambda db: db.execute("SELECT ...").fetchall())
"""

from __future__ import annotations

import asyncio
import contextlib
import queue
import sqlite3
import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol, TypeVar

T = TypeVar("T")
Work = Callable[[sqlite3.Connection], Any]

MAX_BATCH = 1000  # writes in one transaction at most, so one commit stays short


class Connection(sqlite3.Connection):
    """The write connection; ``scratch`` holds caches valid until the transaction ends.

    The writer empties it whenever a transaction or a job's savepoint ends in a rollback, so a
    cache there (e.g. the audit chain's head) never outlives the rows it describes.
    """

    scratch: dict[str, Any]


@dataclass
class _Job:
    work: Work
    done: asyncio.Future[Any]
    loop: asyncio.AbstractEventLoop


Outcome = tuple[Any, BaseException | None]  # a work's value, or the error it raised


class WriterClosed(RuntimeError):
    """The writer was closed; nothing more is accepted."""


class Backend(Protocol):
    """Where the connections come from: a SQLite file, or a PostgreSQL server (`globalmon.pg`)."""

    def writer(self) -> Any: ...  # the write connection, the schema made
    def reader(self) -> Any: ...


@dataclass(frozen=True)
class SqliteFile:
    path: str
    schema: str = ""
    synchronous: str = "FULL"

    def writer(self) -> Connection:
        return open_for_writing(self.path, self.schema, self.synchronous)

    def reader(self) -> Connection:
        return connect(self.path)


class GroupCommitWriter:
    """A SQLite database in WAL mode (or a ``backend``'s) with a group-committing writer thread."""

    def __init__(
        self,
        path: str | Path,
        schema: str = "",
        *,
        synchronous: str = "FULL",
        backend: Backend | None = None,
    ) -> None:
        self.path = str(path)
        self.backend: Backend = backend or SqliteFile(self.path, schema, synchronous)
        self._jobs: queue.SimpleQueue[_Job | None] = queue.SimpleQueue()
        self._closed = False
        self.commits = 0  # transactions run (for benchmarks and tests)
        db = self.backend.writer()
        self._thread = threading.Thread(
            target=self._run, args=(db,), name="sqlite-writer", daemon=True
        )
        self._thread.start()
        self._reader_local = threading.local()
        self._readers: list[Any] = []  # every open reader connection
        self._busy: set[int] = set()  # ids of the readers running a query now
        self._readers_lock = threading.Lock()

    async def write(self, work: Callable[[sqlite3.Connection], T]) -> T:
        """Run ``work`` in the next transaction; return its result once committed."""
        if self._closed:
            raise WriterClosed("the database writer is closed")
        loop = asyncio.get_running_loop()
        done: asyncio.Future[T] = loop.create_future()
        self._jobs.put(_Job(work, done, loop))
        return await done

    async def read(self, work: Callable[[sqlite3.Connection], T]) -> T:
        """Run ``work`` on a reader connection in a worker thread (WAL: reads never wait)."""
        return await asyncio.to_thread(self._read, work)

    def _read(self, work: Callable[[sqlite3.Connection], T]) -> T:
        db = self._acquire()
        try:
            try:
                return work(db)
            except sqlite3.Error:
                if not getattr(db, "broken", False):
                    raise
            self._release(db)
            db = self._acquire()  # the connection was lost meanwhile: a read can run again
            return work(db)
        finally:
            self._release(db)

    # Reader connections, one per worker thread, are closed with the writer; one in use then is
    # closed by its own thread when its read ends (closing SQLite's under a running query
    # crashes the process).

    def _acquire(self) -> Any:
        with self._readers_lock:
            db = getattr(self._reader_local, "db", None)
            usable = db is not None and db in self._readers and not getattr(db, "broken", False)
            if usable:
                self._busy.add(id(db))
                return db
        fresh = self.backend.reader()  # first read of this thread, or a lost server connection
        with self._readers_lock:
            self._readers.append(fresh)
            self._busy.add(id(fresh))
        self._reader_local.db = fresh
        if db is not None:
            self._drop(db)
        return fresh

    def _release(self, db: Any) -> None:
        with self._readers_lock:
            self._busy.discard(id(db))
            closed = self._closed
        if closed:
            self._drop(db)

    def _drop(self, db: Any) -> None:
        with self._readers_lock:
            if db not in self._readers:
                return
            self._readers.remove(db)
        with contextlib.suppress(Exception):  # a lost connection is closed already
            db.close()

    def close(self) -> None:
        """Commit what is queued, then stop the writer thread; close the idle readers."""
        if not self._closed:
            with self._readers_lock:
                self._closed = True
            self._jobs.put(None)
            self._thread.join()
            with self._readers_lock:
                idle = [db for db in self._readers if id(db) not in self._busy]
            for db in idle:
                self._drop(db)

    def _run(self, db: Connection) -> None:
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
            db = self._reconnected(db)
            self._commit(db, batch)
        db.close()

    def _reconnected(self, db: Any) -> Any:
        """A server connection lost (a restart, a failover) is opened again; if that fails, this
        batch fails with the error and the next one tries again."""
        if not getattr(db, "broken", False):
            return db
        try:
            return self.backend.writer()
        except sqlite3.Error:
            return db

    def _commit(self, db: Connection, batch: list[_Job]) -> None:
        # A caller cancelled while queued (e.g. a handler whose client went away, a task at
        # shutdown) is skipped: its work never runs. One cancelled after this check may see its
        # work committed; its result is then dropped (a retry is deduplicated by the caller).
        batch = [job for job in batch if not job.done.cancelled()]
        if not batch:
            return
        outcomes = commit_batch(db, [job.work for job in batch])
        self.commits += 1
        # One wake-up per event loop for the whole batch: a wake-up per job cost the loop a
        # self-pipe write and a callback each, a fifth of the writer's time at 5k writes/s.
        by_loop: dict[asyncio.AbstractEventLoop, list[tuple[_Job, Outcome]]] = {}
        for job, outcome in zip(batch, outcomes, strict=True):
            by_loop.setdefault(job.loop, []).append((job, outcome))
        for loop, settled in by_loop.items():
            with contextlib.suppress(RuntimeError):  # that loop is closed: nobody is waiting
                loop.call_soon_threadsafe(_settle, settled)


def connect(path: str) -> Connection:
    db = sqlite3.connect(path, check_same_thread=False, isolation_level=None, factory=Connection)
    db.scratch = {}
    db.execute("PRAGMA busy_timeout=5000")
    return db


def open_for_writing(path: str, schema: str, synchronous: str) -> Connection:
    """The write connection: WAL, the schema made, ``synchronous`` (FULL: a commit is on disk)."""
    if synchronous.upper() not in ("OFF", "NORMAL", "FULL", "EXTRA"):
        raise ValueError(f"synchronous: found {synchronous!r}; expected OFF, NORMAL, FULL or EXTRA")
    db = connect(path)
    db.execute("PRAGMA journal_mode=WAL")
    if schema:
        db.executescript(schema)
    db.execute(f"PRAGMA synchronous={synchronous}")
    return db


def commit_batch(db: Any, works: list[Work]) -> list[Outcome]:
    """Run ``works`` in one transaction and commit it: each one's (value, None) or (None, error).
    ``db`` is a write `Connection` or a `globalmon.pg.PgConnection` (the same interface).

    A work that raises leaves no rows and gets its exception; the others commit. When the
    transaction itself fails (disk full, I/O error) every work gets that error: none is durable.
    """
    try:
        db.scratch = {}
        db.execute("BEGIN IMMEDIATE")
        # First without savepoints (two statements a work saved): works rarely fail. When one
        # does, the whole batch is rolled back and run again, each work in a savepoint of its own.
        try:
            outcomes: list[Outcome] = [(_synced(db, work), None) for work in works]
        except Exception:
            db.scratch = {}
            db.execute("ROLLBACK")
            db.execute("BEGIN IMMEDIATE")
            outcomes = [isolated(db, work) for work in works]
        db.execute("COMMIT")
    except sqlite3.Error as exc:
        db.scratch = {}
        if db.in_transaction:
            with contextlib.suppress(sqlite3.Error):  # a lost server connection has none left
                db.execute("ROLLBACK")
        return [(None, exc) for _ in works]
    return outcomes


def _synced(db: sqlite3.Connection, work: Work) -> Any:
    """``work(db)``, and every statement it sent answered: a connection that pipelines
    (`globalmon.pg`) raises a statement's error here, to the work that sent it."""
    value = work(db)
    sync = getattr(db, "sync", None)
    if sync is not None:
        sync()
    return value


def isolated(db: sqlite3.Connection, work: Work) -> Outcome:
    """``work(db)`` in a savepoint: its value, or its exception with its writes undone (the
    rest of the transaction kept). Also for one item of a background pass, so that one bad
    item is recorded and skipped instead of failing the pass for every other."""
    db.execute("SAVEPOINT job")
    try:
        value = _synced(db, work)
    except Exception as exc:  # the caller's own error: undo just its writes
        if hasattr(db, "scratch"):  # either database's write connection
            db.scratch = {}
        db.execute("ROLLBACK TO job")
        db.execute("RELEASE job")
        return (None, exc)
    db.execute("RELEASE job")
    return (value, None)


def _settle(settled: list[tuple[_Job, Outcome]]) -> None:
    """On the caller's loop: hand each waiting caller its result."""
    for job, (value, error) in settled:
        if job.done.cancelled():
            continue
        if error is None:
            job.done.set_result(value)
        else:
            job.done.set_exception(error)
