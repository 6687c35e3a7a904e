"""PostgreSQL behind the DB-API our SQL is written for (sqlite3's), for replicas sharing a database.

The webhook's writes are functions of a connection that speak sqlite3's dialect: ``?``
parameters, ``cursor.lastrowid``, ``BEGIN IMMEDIATE``. ``PgConnection`` gives them that on
PostgreSQL, so the same functions run on either database:

- ``?`` becomes ``%s`` (and a literal ``%`` doubles) outside quoted text;
- an ``INSERT`` into a table with an ``id`` gets ``RETURNING id``: that is ``lastrowid``;
- ``BEGIN IMMEDIATE`` (SQLite's "take the write lock now") becomes ``BEGIN`` plus a transaction
  advisory lock shared by every replica. Write transactions therefore run one at a time across
  all replicas, as they do in one SQLite file: each write function keeps the guarantees it was
  written for (an escalation step taken once, a receipt deduplicated, one audit chain) with
  locks, not timing. A replica's group commit carries hundreds of writes per transaction, so
  the lock is taken per batch, not per alert;
- ``INDEXED BY`` (a SQLite planner hint) and ``PRAGMA`` are dropped;
- errors are raised as sqlite3's classes (``IntegrityError``, ``OperationalError``), so the
  callers' error handling is the same for both.

Rows support ``row[0]``, ``row["name"]``, unpacking and ``dict(row)``, as ``sqlite3.Row`` does.
"""

from __future__ import annotations

import contextlib
import functools
import re
import sqlite3
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any, cast

import psycopg
from psycopg import pq

# pg_advisory_xact_lock's key for the write lock: "glmn" as an integer
WRITE_LOCK = 0x676C6D6E
URL_PREFIXES = ("postgresql://", "postgres://")


def is_url(target: object) -> bool:
    """True for a PostgreSQL connection URL (else a SQLite path)."""
    return isinstance(target, str) and target.startswith(URL_PREFIXES)


def redact(url: str) -> str:
    """The URL without its password, for messages and logs."""
    return re.sub(r"(://[^:/@]*):[^@/]*@", r"\1:***@", url)


class Row:
    """One row: by position, by column name, unpacked, or as ``dict(row)``."""

    __slots__ = ("_names", "_values")

    def __init__(self, values: Sequence[Any], names: tuple[str, ...]) -> None:
        self._values = tuple(values)
        self._names = names

    def __getitem__(self, key: int | str | slice) -> Any:
        if isinstance(key, str):
            try:
                return self._values[self._names.index(key)]
            except ValueError:
                raise IndexError(f"no column {key!r}") from None
        return self._values[key]

    def __iter__(self) -> Iterator[Any]:
        return iter(self._values)

    def __len__(self) -> int:
        return len(self._values)

    def __eq__(self, other: object) -> bool:
        if isinstance(other, Row):
            return self._values == other._values
        return self._values == other

    __hash__ = None  # type: ignore[assignment]

    def keys(self) -> list[str]:
        return list(self._names)

    def __repr__(self) -> str:
        return f"Row{self._values!r}"


class Cursor:
    """The part of sqlite3.Cursor our code uses. In a pipelined transaction the statement's
    result is waited for only when something of it is read (``PgConnection.sync``)."""

    def __init__(
        self,
        cur: psycopg.Cursor[Any] | None = None,
        owner: PgConnection | None = None,
        returning: bool = False,
    ) -> None:
        self._cur = cur
        self._owner = owner
        self._returning = returning
        self._names: tuple[str, ...] | None = None if cur is not None else ()
        self._pending: list[Row] = []
        self._lastrowid: int | None = None

    def _ready(self) -> psycopg.Cursor[Any] | None:
        if self._names is None:  # the first read of this statement's result
            assert self._cur is not None
            if self._owner is not None:
                self._owner.sync()
                self._owner = None
            if self._returning:
                row = self._cur.fetchone()
                self._lastrowid = row[0] if row else None
                self._names = ()
            else:
                described = self._cur.description
                self._names = tuple(d.name for d in described) if described else ()
        return self._cur

    @property
    def rowcount(self) -> int:
        cur = self._ready()
        return cur.rowcount if cur is not None else -1

    @property
    def lastrowid(self) -> int | None:
        self._ready()
        return self._lastrowid

    def fetchone(self) -> Row | None:
        cur = self._ready()
        if self._pending:
            return self._pending.pop(0)
        if cur is None or not self._names:
            return None
        values = cur.fetchone()
        return None if values is None else Row(values, self._names)

    def fetchall(self) -> list[Row]:
        cur = self._ready()
        out, self._pending = self._pending, []
        if cur is not None and self._names:
            names = self._names
            out.extend(Row(v, names) for v in cur.fetchall())
        return out

    def __iter__(self) -> Iterator[Row]:
        return iter(self.fetchall())


_QUOTED_OR_MARK = re.compile(r"'(?:[^']|'')*'|\"(?:[^\"]|\"\")*\"|\?|%")
_INSERT = re.compile(r"^\s*INSERT\s+INTO\s+(\w+)", re.IGNORECASE)
_INDEXED_BY = re.compile(r"\s+INDEXED\s+BY\s+\w+", re.IGNORECASE)


@functools.lru_cache(maxsize=512)
def translate(sql: str, with_args: bool, id_tables: frozenset[str]) -> tuple[str, bool]:
    """(PostgreSQL text, whether it returns the new row's id)."""
    sql = _INDEXED_BY.sub("", sql)
    if with_args:

        def mark(m: re.Match[str]) -> str:
            token = m.group(0)
            if token == "?":
                return "%s"
            return token.replace("%", "%%")  # psycopg reads % everywhere, quoted text included

        sql = _QUOTED_OR_MARK.sub(mark, sql)
    insert = _INSERT.match(sql)
    returning = bool(
        insert and insert.group(1).lower() in id_tables and "RETURNING" not in sql.upper()
    )
    if returning:
        sql = sql.rstrip().rstrip(";") + " RETURNING id"
    return sql, returning


_ERRORS: tuple[tuple[type[psycopg.Error], type[sqlite3.Error]], ...] = (
    (psycopg.errors.IntegrityError, sqlite3.IntegrityError),
    (psycopg.errors.ProgrammingError, sqlite3.OperationalError),
    (psycopg.errors.DataError, sqlite3.OperationalError),
    (psycopg.Error, sqlite3.OperationalError),
)


def _as_sqlite(exc: psycopg.Error) -> sqlite3.Error:
    for theirs, ours in _ERRORS:
        if isinstance(exc, theirs):
            return ours(f"postgresql: {str(exc).strip()}")
    return sqlite3.OperationalError(str(exc))  # pragma: no cover - the last entry catches all


class PgConnection:
    """A PostgreSQL connection in autocommit mode, statements in sqlite3's dialect; explicit
    ``BEGIN``/``COMMIT`` make the transactions, as the webhook's writer does on SQLite."""

    def __init__(self, url: str, *, id_tables: frozenset[str] = frozenset()) -> None:
        self.url = url
        self.id_tables = id_tables
        self.scratch: dict[str, Any] = {}
        self.row_factory: object = None  # accepted for sqlite3's sake; rows are always Row
        try:
            # no server-side prepared statements: a PREPARE inside a pipeline that an error
            # aborts leaves psycopg believing in a statement the server never made
            self._conn = psycopg.connect(
                url, autocommit=True, connect_timeout=10, prepare_threshold=None
            )
        except psycopg.Error as exc:
            raise _as_sqlite(exc) from None

    @property
    def in_transaction(self) -> bool:
        return self._conn.info.transaction_status != pq.TransactionStatus.IDLE

    @property
    def broken(self) -> bool:
        return self._conn.closed or self._conn.broken

    def execute(self, sql: str, args: Sequence[Any] = ()) -> Cursor:
        head = sql.lstrip()[:16].upper()
        if head.startswith("PRAGMA"):
            return Cursor()
        if head.startswith("BEGIN"):
            self.scratch = {}  # caches of an earlier transaction (the audit head) are stale
            self._run("BEGIN", ())
            # every replica's write transactions, one at a time (see the module's docstring)
            self._run("SELECT pg_advisory_xact_lock(%s)", (WRITE_LOCK,))
            self._pipelined()
            return Cursor()
        if head.startswith(("COMMIT", "ROLLBACK")) and not head.startswith("ROLLBACK TO"):
            self._unpipelined(keep_errors=head.startswith("COMMIT"))
            self._run(sql, None)
            return Cursor()
        text, returning = translate(sql, bool(args), self.id_tables)
        params = tuple(int(a) if isinstance(a, bool) else a for a in args) if args else None
        cur = self._run(text, params)
        return Cursor(cur, self if self._pipeline is not None else None, returning)

    # --- pipelining: inside a write transaction, statements go out without waiting for each
    # answer; the answers are read when something of a result is (a SELECT's rows, a rowcount)
    # and at ``sync()``, which `globalmon.durable` calls after each write function, so an error
    # is raised to the function that caused it. Only the statements whose answer is read wait.

    _pipeline: psycopg.Pipeline | None = None
    _pipeline_exit: contextlib.ExitStack | None = None

    def _pipelined(self) -> None:
        stack = contextlib.ExitStack()
        self._pipeline = stack.enter_context(self._conn.pipeline())
        self._pipeline_exit = stack

    def _unpipelined(self, *, keep_errors: bool) -> None:
        stack, self._pipeline, self._pipeline_exit = self._pipeline_exit, None, None
        if stack is None:
            return
        try:
            stack.close()
        except psycopg.Error as exc:
            if keep_errors:
                raise _as_sqlite(exc) from None

    def sync(self) -> None:
        """Wait for every statement sent so far; raise the first one's error."""
        if self._pipeline is None:
            return
        try:
            self._pipeline.sync()
        except psycopg.Error as exc:
            self._drain()
            raise _as_sqlite(exc) from None

    def _drain(self) -> None:
        """After an error in the pipeline the statements sent behind it answer "aborted": read
        those answers too, so the next statement starts on a clean pipeline."""
        for _ in range(8):
            if self._pipeline is None or self.broken:
                return
            try:
                self._pipeline.sync()
                return
            except psycopg.Error:
                continue

    def _run(self, sql: str, params: Sequence[Any] | None) -> psycopg.Cursor[Any]:
        try:
            return self._conn.execute(sql.encode(), params)  # bytes: no %-parsing without args
        except psycopg.Error as exc:
            # pipelined, a statement's call may raise an earlier one's error (the answers that
            # had arrived are read as it is sent)
            self._drain()
            raise _as_sqlite(exc) from None

    def executemany(self, sql: str, rows: Sequence[Sequence[Any]]) -> None:
        """One statement for many rows (pipelined: one round trip for the lot)."""
        text, _ = translate(sql, True, frozenset())
        try:
            with self._conn.cursor() as cur:
                cur.executemany(text.encode(), rows)
        except psycopg.Error as exc:
            raise _as_sqlite(exc) from None

    def executescript(self, script: str) -> None:
        try:
            self._conn.execute(script.encode())
        except psycopg.Error as exc:
            raise _as_sqlite(exc) from None

    def close(self) -> None:
        self._conn.close()


def dbapi(db: PgConnection) -> sqlite3.Connection:
    """``db`` where a function is typed for sqlite3's connection: it offers the part they use."""
    return cast(sqlite3.Connection, db)


_TYPES = (
    # a table's own "id" is picked by the database; another integer key is set by its writer
    (
        re.compile(r"\bid INTEGER PRIMARY KEY\b"),
        "id BIGINT GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY",
    ),
    (re.compile(r"\bINTEGER\b"), "BIGINT"),
    (re.compile(r"\bREAL\b"), "DOUBLE PRECISION"),
)


def schema(sqlite_schema: str) -> str:
    """The SQLite schema's tables and indexes in PostgreSQL's types."""
    out = sqlite_schema
    for pattern, replacement in _TYPES:
        out = pattern.sub(replacement, out)
    return out


def id_tables(sqlite_schema: str) -> frozenset[str]:
    """Tables whose key is an ``id INTEGER PRIMARY KEY`` the database picks."""
    return frozenset(
        m.group(1).lower()
        for m in re.finditer(
            r"CREATE TABLE IF NOT EXISTS (\w+)\(\s*id INTEGER PRIMARY KEY", sqlite_schema
        )
    )


@dataclass(frozen=True)
class PgServer:
    """A `globalmon.durable` backend: connections to ``url``, the schema made once."""

    url: str
    sqlite_schema: str

    def writer(self) -> PgConnection:
        db = self.reader()
        try:  # under the write lock (replicas may start together), not pipelined (a script)
            db._run("BEGIN", None)
            db._run("SELECT pg_advisory_xact_lock(%s)", (WRITE_LOCK,))
            db.executescript(schema(self.sqlite_schema))
            db._run("COMMIT", None)
        except BaseException:
            db.close()
            raise
        return db

    def reader(self) -> PgConnection:
        return PgConnection(self.url, id_tables=id_tables(self.sqlite_schema))


def reset_identities(db: PgConnection, tables: Sequence[str]) -> None:
    """After rows were copied in with their ids: the next id picked is past the last one."""
    for table in tables:
        db.execute(
            f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), "
            f"GREATEST((SELECT max(id) FROM {table}), 1), (SELECT max(id) FROM {table}) "
            "IS NOT NULL)"
        )
