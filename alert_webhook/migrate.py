"""`globalmon webhook migrate`: a SQLite webhook database copied into PostgreSQL, then checked.

The copy keeps every id (incidents, actions and deliveries are referred to by id in the audit
trail and by operators) and every audit record as it is, so the chain's hashes still hold. It
runs in one transaction under the replicas' write lock: replicas already started on the target
wait, and a copy that fails leaves the target as it was. Afterwards the target's chain is walked
again and must end in the source's head, with the same number of rows in every table.
"""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass, field

from alert_webhook.audit import verify
from alert_webhook.schema import SCHEMA
from globalmon import pg

# parents before children; the replicas' own tables stay behind (they describe live processes)
TABLES = (
    "audit",
    "audit_checkpoints",
    "receipts",
    "incidents",
    "timeline",
    "deliveries",
    "delivery_attempts",
    "actions",
)
BATCH = 5000


class MigrationError(RuntimeError):
    """The copy was refused or did not check out; the message says why."""


@dataclass
class Migrated:
    rows: dict[str, int] = field(default_factory=dict)
    audit_records: int = 0
    head: str = ""


def _columns(db: sqlite3.Connection, table: str) -> list[str]:
    return [row[1] for row in db.execute(f"PRAGMA table_info({table})")]


def migrate(source: str, target: str) -> Migrated:
    """Copy the SQLite database at ``source`` into the empty PostgreSQL database ``target``."""
    try:
        src = sqlite3.connect(f"file:{source}?mode=ro", uri=True)
        src.execute("SELECT 1 FROM audit LIMIT 1")
    except sqlite3.Error as exc:
        raise MigrationError(f"--from: cannot read a webhook database at {source}: {exc}") from None
    try:
        src.execute("BEGIN")  # one snapshot of the source for the whole copy
        before = verify(src)
        if before.problems:
            raise MigrationError(
                f"--from: the audit trail of {source} is broken ({before.problems[0]}; "
                f"{len(before.problems)} problem(s)): `globalmon audit verify` shows them all"
            )
        pg.PgServer(target, SCHEMA).writer().close()  # the schema, made once
        dst = pg.PgConnection(target, id_tables=pg.id_tables(SCHEMA))
        try:
            return _copy(src, dst, before.head, before.records)
        finally:
            dst.close()
    finally:
        src.close()


def _copy(src: sqlite3.Connection, dst: pg.PgConnection, head: str, records: int) -> Migrated:
    out = Migrated()
    dst.execute("BEGIN IMMEDIATE")
    try:
        for table in TABLES:
            (found,) = dst.execute(f"SELECT count(*) FROM {table}").fetchone() or (0,)
            if found:
                raise MigrationError(
                    f"--to: table {table} already holds {found} rows; expected an empty "
                    "database (a migration never merges two histories)"
                )
        for table in TABLES:
            out.rows[table] = _copy_table(src, dst, table)
        pg.reset_identities(dst, [t for t in TABLES if t in pg.id_tables(SCHEMA)])
        after = verify(pg.dbapi(dst))  # inside the transaction: a failed check commits nothing
        if after.problems or after.head != head or after.records != records:
            raise MigrationError(
                f"the copied audit trail does not check out: {after.records} records ending in "
                f"{after.head} against {records} ending in {head}"
                + (f"; {after.problems[0]}" if after.problems else "")
            )
        for table, n in out.rows.items():
            (copied,) = dst.execute(f"SELECT count(*) FROM {table}").fetchone() or (0,)
            if copied != n:
                raise MigrationError(f"{table}: {copied} rows arrived of {n}")
        dst.execute("COMMIT")
    except BaseException:
        if dst.in_transaction and not dst.broken:
            dst.execute("ROLLBACK")
        raise
    out.audit_records, out.head = records, head
    return out


def _copy_table(src: sqlite3.Connection, dst: pg.PgConnection, table: str) -> int:
    columns = _columns(src, table)
    if not columns:  # a database made before this table existed
        return 0
    names = ", ".join(columns)
    insert = f"INSERT INTO {table}({names}) VALUES ({', '.join('?' * len(columns))})"
    cursor = src.execute(f"SELECT {names} FROM {table} ORDER BY rowid")
    total = 0
    while rows := cursor.fetchmany(BATCH):
        dst.executemany(insert, rows)
        total += len(rows)
    return total
