"""Retention: resolved incidents and what hangs off them leave the database; the audit trail
stays verifiable through a signed checkpoint of what was pruned.

A run deletes every incident resolved before the cutoff (unless a kept incident names it as its
root cause, or it still has an unfinished action or a pending delivery), its timeline,
deliveries and their attempts, and actions; receipts older than the cutoff that no kept
incident came from; and the audit trail's prefix up to its last record before the cutoff. For
that prefix it writes a checkpoint: the last pruned record's sequence number and hash, signed
with HMAC-SHA256 under a key kept outside the database. ``verify`` then starts the chain from
the latest checkpoint: the first kept record must follow it, and with the key the checkpoint
itself must be the one that was signed (someone who deletes records cannot sign a checkpoint
that hides it). The run itself is an audit record.

The work goes in short transactions of at most ``batch`` incidents or receipts, or ten times as
many audit records (each audit batch ends in its own checkpoint), with a pause between them, so
a running webhook's writes wait for one batch, not for the whole run; a run stopped half way
has left a consistent database, and the next run goes on. A root cause whose symptoms fall in a
later batch waits for the next run.
"""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Callable
from dataclasses import dataclass, fields
from functools import partial
from typing import TypeVar

from alert_webhook.audit import CHECKPOINTS, Chain, Checkpoint, sign
from alert_webhook.schema import REPLICAS
from globalmon.conventions import ActionState

MIN_AGE_SECONDS = 86400.0  # Alertmanager's retries and the actions' cooldowns are younger
BATCH = 2000  # incidents (and receipts) a transaction deletes: some tens of milliseconds
# Between two transactions: a writer waiting on SQLite's busy handler retries after at most
# 100 ms, so back-to-back transactions could keep it out for the whole run.
PAUSE_SECONDS = 0.12
# an action in one of these states still has work to do (or an approver to wait for)
UNFINISHED = (
    ActionState.PENDING,
    ActionState.AWAITING_APPROVAL,
    ActionState.RUNNING,
    ActionState.VERIFYING,
)
T = TypeVar("T")


@dataclass(frozen=True)
class Pruned:
    incidents: int = 0
    timeline: int = 0
    deliveries: int = 0
    attempts: int = 0
    actions: int = 0
    receipts: int = 0
    audit: int = 0
    checkpoint: Checkpoint | None = None

    def __add__(self, other: Pruned) -> Pruned:
        counts = {f.name: getattr(self, f.name) + getattr(other, f.name) for f in _COUNTS}
        return Pruned(**counts, checkpoint=other.checkpoint or self.checkpoint)


_COUNTS = [f for f in fields(Pruned) if f.name != "checkpoint"]


def _transaction(db: sqlite3.Connection, work: Callable[[], T], pause: float) -> T:
    time.sleep(pause)
    db.execute("BEGIN IMMEDIATE")
    try:
        out = work()
        db.execute("COMMIT")
    except BaseException:
        db.execute("ROLLBACK")
        raise
    return out


DOOMED = "(SELECT id FROM doomed)"  # SQLite's "IN doomed", in words PostgreSQL knows too


def _incidents(db: sqlite3.Connection, cutoff: float, after: int, batch: int) -> tuple[Pruned, int]:
    """One batch: the resolved incidents with ids after ``after``; the counts and the last id
    looked at (0 when there was none)."""
    unfinished = ",".join(f"'{state.value}'" for state in UNFINISHED)  # our constants, not input
    db.execute("DELETE FROM doomed")
    db.execute(
        f"""INSERT INTO doomed SELECT id FROM incidents i
        WHERE id > ? AND state = 'resolved' AND resolved_at < ?
          AND NOT EXISTS (SELECT 1 FROM actions a WHERE a.incident_id = i.id
                          AND a.state IN ({unfinished}))
          AND NOT EXISTS (SELECT 1 FROM deliveries d WHERE d.incident_id = i.id
                          AND d.state = 'pending')
        ORDER BY id LIMIT ?""",
        (after, cutoff, batch),
    )
    (last,) = db.execute("SELECT COALESCE(MAX(id), 0) FROM doomed").fetchone()
    # a root cause stays while one of its symptoms stays (which may keep that one's root)
    kept_roots = (
        "DELETE FROM doomed WHERE id IN (SELECT symptom_of FROM incidents "
        "WHERE symptom_of IS NOT NULL AND id NOT IN (SELECT id FROM doomed))"
    )
    while db.execute(kept_roots).rowcount:
        pass
    # a doomed incident that is a root of another doomed one goes with it
    db.execute(f"UPDATE incidents SET symptom_of = NULL WHERE id IN {DOOMED}")

    def gone(sql: str) -> int:
        return db.execute(sql).rowcount

    their_deliveries = f"(SELECT id FROM deliveries WHERE incident_id IN {DOOMED})"
    attempts = gone(f"DELETE FROM delivery_attempts WHERE delivery_id IN {their_deliveries}")
    gone(f"DELETE FROM delivery_leases WHERE delivery_id IN {their_deliveries}")
    deliveries = gone(f"DELETE FROM deliveries WHERE incident_id IN {DOOMED}")
    timeline = gone(f"DELETE FROM timeline WHERE incident_id IN {DOOMED}")
    gone(
        "DELETE FROM action_owners WHERE action_id IN "
        f"(SELECT id FROM actions WHERE incident_id IN {DOOMED})"
    )
    actions = gone(f"DELETE FROM actions WHERE incident_id IN {DOOMED}")
    incidents = gone(f"DELETE FROM incidents WHERE id IN {DOOMED}")
    return Pruned(incidents, timeline, deliveries, attempts, actions), last


def _receipts(db: sqlite3.Connection, cutoff: float, batch: int) -> Pruned:
    return Pruned(
        receipts=db.execute(
            "DELETE FROM receipts WHERE id IN (SELECT id FROM receipts r WHERE received_at < ? "
            "AND NOT EXISTS (SELECT 1 FROM incidents i WHERE i.fingerprint = r.fingerprint "
            "AND i.starts_at = r.starts_at) LIMIT ?)",
            (cutoff, batch),
        ).rowcount
    )


def _audit(db: sqlite3.Connection, upto: int, now: float, key: bytes, batch: int) -> Pruned:
    """Records up to ``upto`` (at most ``batch`` of them) replaced by a signed checkpoint."""
    first = db.execute("SELECT MIN(seq) FROM audit").fetchone()[0]
    if first is None or first > upto:
        return Pruned()
    end = min(upto, first + batch - 1)
    row = db.execute("SELECT hash FROM audit WHERE seq = ?", (end,)).fetchone()
    if row is None:  # a gap: verify reports it; pruning stops short of it
        return Pruned()
    pruned = db.execute("DELETE FROM audit WHERE seq <= ?", (end,)).rowcount
    checkpoint = Checkpoint(end, row[0], now, pruned, sign(key, end, row[0], now, pruned))
    db.execute(
        "INSERT INTO audit_checkpoints(seq, hash, at, pruned, signature) VALUES (?,?,?,?,?) "
        "ON CONFLICT(seq) DO UPDATE SET hash=excluded.hash, at=excluded.at, "
        "pruned=excluded.pruned, signature=excluded.signature",
        (end, row[0], now, pruned, checkpoint.signature),
    )
    return Pruned(audit=pruned, checkpoint=checkpoint)


def prune(
    db: sqlite3.Connection,
    *,
    cutoff: float,
    now: float,
    key: bytes,
    batch: int = BATCH,
    pause: float = PAUSE_SECONDS,
) -> Pruned:
    """Delete what was resolved before ``cutoff`` (``db`` in autocommit mode, as
    ``isolation_level=None`` gives); see the module."""
    if now - cutoff < MIN_AGE_SECONDS:
        raise ValueError(f"the cutoff must be at least {MIN_AGE_SECONDS:.0f} s before now")
    if not key:
        raise ValueError("the checkpoint key is empty")
    for tables in (CHECKPOINTS, REPLICAS):  # a database older than these tables
        db.executescript(tables)
    db.execute("CREATE TEMP TABLE IF NOT EXISTS doomed(id INTEGER PRIMARY KEY)")
    total, after = Pruned(), 0
    while True:  # incidents in batches of ascending ids
        done, after = _transaction(db, partial(_incidents, db, cutoff, after, batch), pause)
        total += done
        if not after:
            break
    while (done := _transaction(db, partial(_receipts, db, cutoff, batch), pause)).receipts:
        total += done
    upto = db.execute("SELECT MAX(seq) FROM audit WHERE at < ?", (cutoff,)).fetchone()[0]
    while upto is not None:
        # audit records go by a range of their key: ten times as many cost about as much
        done = _transaction(db, partial(_audit, db, upto, now, key, batch * 10), pause)
        if not done.audit:
            break
        total += done

    def record() -> None:
        data = {f.name: getattr(total, f.name) for f in _COUNTS}
        checkpoint = total.checkpoint.seq if total.checkpoint else None
        Chain(db).append(now, "retention", data | {"cutoff": cutoff, "checkpoint_seq": checkpoint})

    _transaction(db, record, pause)
    return total
