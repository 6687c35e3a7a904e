"""Durable writes from a writer process: the group commit of `durable`, run beside the server.

The thread writer shares one interpreter lock with the event loop: every SQLite statement
releases and retakes it, so at a few thousand writes a second the loop and the writer spend
more time handing the lock back and forth than working. Here the writes run in a child process
with a lock of its own. The parent sends ``(id, function, args, prepare)`` frames over a socket
pair; the child runs whatever has arrived in one transaction (``durable.commit_batch``), commits,
and answers with one frame for the whole batch. A caller gets its result only after that commit.

    writer = ProcessWriter(path, SCHEMA, context=(Rules, (spec,)))
    outcome = await writer.call(incidents.ingest, body, now, prepare=parsed)  # (db, rules, ...)
    rows = await writer.read(lambda db: db.execute("SELECT ...").fetchall())

Functions and arguments travel by pickle, so a function is a module-level name and must depend
only on the database, the context and its arguments (``commit_batch`` may run it twice). The
child builds the context once (``factory(*args)``); a call's optional ``prepare`` runs there
too, before the transaction. Reads run in the parent, on reader connections in worker threads
(WAL: they never wait for the writer).

If the child dies, the calls waiting for it fail with ``WriterGone`` (their writes may or may not
be committed: callers retry, and retries are deduplicated) and the next call starts a new child.
When the parent dies, the child sees the socket close and exits after the batch in hand.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import os
import pickle
import signal
import socket
import struct
import subprocess
import sys
import threading
from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import Any, TypeVar

from globalmon.durable import (
    MAX_BATCH,
    WriterClosed,
    commit_batch,
    connect,
    open_for_writing,
)

T = TypeVar("T")
_LENGTH = struct.Struct("!I")
START_TIMEOUT = 60.0  # seconds for the child to import, open the database and say ready


class WriterGone(RuntimeError):
    """The writer process stopped before answering; the write may or may not be committed."""


def _frame(obj: object) -> bytes:
    body = pickle.dumps(obj, protocol=pickle.HIGHEST_PROTOCOL)
    return _LENGTH.pack(len(body)) + body


class _Frames:
    """Length-prefixed frames from a blocking socket (the child's side)."""

    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock
        self.buf = bytearray()
        self.eof = False
        # one receive buffer for good: a fresh 1 MiB bytes per recv() cost three memory-mapping
        # system calls each (strace of the writer under load)
        self._chunk = bytearray(1 << 20)

    def _take(self) -> list[bytes]:
        out: list[bytes] = []
        pos = 0
        while len(self.buf) - pos >= _LENGTH.size:
            (size,) = _LENGTH.unpack_from(self.buf, pos)
            end = pos + _LENGTH.size + size
            if len(self.buf) < end:
                break
            out.append(bytes(self.buf[pos + _LENGTH.size : end]))
            pos = end
        del self.buf[:pos]
        return out

    def read(self, *, block: bool) -> list[bytes]:
        """Whole frames: at least one when ``block`` (unless the socket closed), else any ready."""
        frames = self._take()
        while not frames and not self.eof:
            try:  # without blocking: one system call, not a select() and a recv()
                n = self.sock.recv_into(self._chunk, 0, 0 if block else socket.MSG_DONTWAIT)
            except BlockingIOError:
                break
            if not n:
                self.eof = True
                break
            self.buf += memoryview(self._chunk)[:n]
            frames = self._take()
        return frames


def _portable(error: BaseException | None) -> BaseException | None:
    """The error itself when it pickles, else a RuntimeError naming it."""
    if error is None:
        return None
    try:
        pickle.loads(pickle.dumps(error))
    except Exception:
        return RuntimeError(f"{type(error).__name__}: {error}")
    return error


def child_main(fd: int) -> int:
    """The writer process: ``python -m globalmon.durable_process FD``."""
    # Ctrl-C and a service manager's SIGTERM reach the whole process group: the parent shuts
    # down and closes the socket, and this process exits once what it was sent is committed.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    sock = socket.socket(fileno=fd)
    frames = _Frames(sock)
    first = frames.read(block=True)
    if not first:
        return 0
    path, schema, synchronous, factory, args = pickle.loads(first[0])
    try:
        db = open_for_writing(path, schema, synchronous)
        context = factory(*args)
    except Exception as exc:
        sock.sendall(_frame(("error", _portable(exc))))
        return 1
    sock.sendall(_frame(("ready", None)))
    pending = first[1:]
    while True:
        pending += frames.read(block=not pending)
        if not pending:
            break  # the parent closed the socket and everything it sent is committed
        while len(pending) < MAX_BATCH and not frames.eof:
            more = frames.read(block=False)  # what arrived meanwhile joins this commit
            if not more:
                break
            pending += more
        batch, pending = pending[:MAX_BATCH], pending[MAX_BATCH:]
        answer: list[tuple[int, Any, BaseException | None]] = []
        ready: list[tuple[int, Callable[..., Any], tuple[Any, ...]]] = []
        for job, func, args, prepare in map(pickle.loads, batch):
            try:  # outside the transaction: a job refused here costs the others nothing
                ready.append((job, func, prepare(*args) if prepare else args))
            except Exception as exc:
                answer.append((job, None, _portable(exc)))
        outcomes = commit_batch(db, [partial(_run, func, context, a) for _, func, a in ready])
        answer += [
            (job, value, _portable(error))
            for (job, _, _), (value, error) in zip(ready, outcomes, strict=True)
        ]
        try:
            sock.sendall(_frame(answer))
        except OSError:  # the parent is gone: what it sent is committed, nobody is waiting
            break
    db.close()
    return 0


def _run(func: Callable[..., Any], context: Any, args: tuple[Any, ...], db: Any) -> Any:
    return func(db, context, *args)


class ProcessWriter:
    """A SQLite database in WAL mode whose writes run in a group-committing child process."""

    def __init__(
        self,
        path: str | Path,
        schema: str = "",
        *,
        synchronous: str = "FULL",
        context: tuple[Callable[..., Any], tuple[Any, ...]],
    ) -> None:
        self.path = str(path)
        self._init = (self.path, schema, synchronous, *context)
        self._ids = itertools.count()
        self._pending: dict[int, asyncio.Future[Any]] = {}
        self._closed = False
        self._reader_local = threading.local()
        self._lock = asyncio.Lock()
        self._stream: tuple[asyncio.StreamWriter, asyncio.Task[None]] | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._proc, self._sock = self._spawn()
        self._used = False  # whether an asyncio stream has taken this child's socket

    def _reap(self) -> None:
        try:
            self._proc.wait(timeout=60)
        except subprocess.TimeoutExpired:
            self._proc.kill()
            self._proc.wait()

    def _spawn(self) -> tuple[subprocess.Popen[bytes], socket.socket]:
        """Start a child and wait until it has the database open (raises what it could not)."""
        ours, theirs = socket.socketpair()
        proc = subprocess.Popen(
            [sys.executable, "-m", "globalmon.durable_process", str(theirs.fileno())],
            pass_fds=[theirs.fileno()],
            stdin=subprocess.DEVNULL,
            cwd=os.getcwd(),
        )
        theirs.close()
        try:
            ours.sendall(_frame(self._init))
            ours.settimeout(START_TIMEOUT)
            frames = _Frames(ours)
            answer = frames.read(block=True)
            if not answer:
                raise WriterGone(f"the writer process exited with {proc.wait()}")
            kind, error = pickle.loads(answer[0])
            if kind != "ready":
                proc.wait()
                raise error
        except BaseException:
            ours.close()
            with contextlib.suppress(ProcessLookupError):
                proc.kill()
            proc.wait()
            raise
        ours.settimeout(None)
        return proc, ours

    async def call(
        self,
        func: Callable[..., T],
        *args: Any,
        prepare: Callable[..., tuple[Any, ...]] | None = None,
    ) -> T:
        """``func(db, context, *args)`` in the next transaction; its result once committed.

        ``prepare(*args)``, when given, runs in the child before the transaction and returns the
        arguments ``func`` gets; what it raises is the caller's (e.g. parsing a body there keeps
        that work off the event loop, and a bad body never reaches the transaction)."""
        if self._closed:
            raise WriterClosed("the database writer is closed")
        stream = self._stream
        writer = stream[0] if stream is not None else await self._attached()
        # the stream's loop, which is this one (get_running_loop() makes a getpid system call)
        loop = self._loop
        assert loop is not None  # set with the stream
        done: asyncio.Future[T] = loop.create_future()
        job = next(self._ids)
        self._pending[job] = done
        writer.write(_frame((job, func, args, prepare)))
        if writer.transport.get_write_buffer_size() > 1 << 20:
            # the child is behind: wait instead of buffering without end (a lost connection
            # fails ``done`` with WriterGone, from the reader)
            with contextlib.suppress(ConnectionError):
                await writer.drain()
        return await done

    async def _attached(self) -> asyncio.StreamWriter:
        """The socket as an asyncio stream on this loop; a new child if the last one died."""
        if self._stream is not None:
            return self._stream[0]
        async with self._lock:
            if self._stream is None:
                if self._used:  # that child's stream ended: it died; a new one, off the loop
                    self._sock.close()
                    await asyncio.to_thread(self._reap)
                    self._proc, self._sock = await asyncio.to_thread(self._spawn)
                self._used = True
                reader, writer = await asyncio.open_connection(sock=self._sock)
                self._loop = asyncio.get_running_loop()
                self._stream = (writer, asyncio.create_task(self._answers(reader)))
            return self._stream[0]

    async def _answers(self, reader: asyncio.StreamReader) -> None:
        try:
            while True:
                head = await reader.readexactly(_LENGTH.size)
                body = await reader.readexactly(_LENGTH.unpack(head)[0])
                for job, value, error in pickle.loads(body):
                    done = self._pending.pop(job, None)
                    if done is None or done.cancelled():
                        continue
                    if error is None:
                        done.set_result(value)
                    else:
                        done.set_exception(error)
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:  # the child is gone: whoever still waits cannot know, so they are told
            stream, self._stream = self._stream, None
            if stream is not None:
                stream[0].close()
            gone = WriterGone("the database writer process stopped")
            for done in self._pending.values():
                if not done.done():
                    done.set_exception(gone)
            self._pending.clear()

    async def read(self, work: Callable[[Any], T]) -> T:
        """Run ``work`` on a reader connection in a worker thread (WAL: reads never wait)."""
        return await asyncio.to_thread(self._read, work)

    def _read(self, work: Callable[[Any], T]) -> T:
        db = getattr(self._reader_local, "db", None)
        if db is None:
            db = self._reader_local.db = connect(self.path)
        return work(db)

    def close(self) -> None:
        """Let the child commit what it was sent, then wait for it to exit."""
        if self._closed:
            return
        self._closed = True
        with contextlib.suppress(OSError):
            self._sock.shutdown(socket.SHUT_WR)
        self._reap()
        if self._stream is not None:
            with contextlib.suppress(RuntimeError):  # its loop may be closed already
                self._stream[1].cancel()
        self._sock.close()


if __name__ == "__main__":
    sys.exit(child_main(int(sys.argv[1])))
