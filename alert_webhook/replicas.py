"""Replicas sharing one database: who is alive, who sends which notification, who runs which action.

Every decision (a receipt, an escalation step, an action to run) is one write transaction, and
write transactions run one at a time across replicas (`globalmon.pg`'s write lock), so it is
taken once whichever replica takes it. What happens *outside* the database is claimed first:

- a notification due to be sent is leased to one replica (``delivery_leases``) until its result
  is recorded; another replica takes it over only when the lease ran out or its holder stopped
  beating;
- a recovery action marked running names its replica (``action_owners``); when that replica
  stops beating, another one marks the action interrupted and escalates, exactly as a restart
  does for a single webhook: an action cut short is never run twice by itself.

A replica beats (``replicas.seen_at``) every few seconds from its background loop. On SQLite
there is one webhook per file: its leases still keep one pass from sending what another pass of
the same process holds, and a restart interrupts whatever was running.
"""

from __future__ import annotations

import sqlite3
from typing import Any

from alert_webhook.recovery import interrupt
from alert_webhook.rules import Rules
from alert_webhook.schema import ACTIVE_ACTION_STATES

BEAT_EVERY = 5.0  # seconds between a replica's heartbeats
STALE_AFTER = 20.0  # a replica not seen for this long is gone: its claims are taken over
LEASE = 300.0  # a delivery's lease ends even if its holder still beats (a send hangs)


FORGET_AFTER = 86400.0  # a replica silent for a day leaves the table (every start is a new id)


def beat(db: sqlite3.Connection, rules: Rules, replica: str, now: float) -> None:
    db.execute(
        "INSERT INTO replicas(id, started_at, seen_at) VALUES (?,?,?) "
        "ON CONFLICT(id) DO UPDATE SET seen_at=excluded.seen_at",
        (replica, now, now),
    )
    db.execute("DELETE FROM replicas WHERE seen_at < ?", (now - FORGET_AFTER,))


def _alive(column: str) -> str:
    """SQL: the replica named in ``column`` beat recently (the first ``?`` is the cutoff)."""
    return f"EXISTS(SELECT 1 FROM replicas r WHERE r.id = {column} AND r.seen_at >= ?)"


def claim_deliveries(
    db: sqlite3.Connection, rules: Rules, replica: str, now: float, limit: int
) -> list[dict[str, Any]]:
    """Due notifications no live replica holds, leased to ``replica``; with what sending needs."""
    rows = db.execute(
        "SELECT d.id, d.receiver, d.event, d.step, d.note, i.id AS incident_id, i.state, "
        "i.labels, i.annotations, i.starts_at FROM deliveries d "
        "JOIN incidents i ON i.id = d.incident_id "
        "LEFT JOIN delivery_leases l ON l.delivery_id = d.id "
        "WHERE d.state='pending' AND d.next_attempt <= ? AND (l.delivery_id IS NULL "
        f"OR l.until <= ? OR (l.replica != ? AND NOT {_alive('l.replica')})) "
        "ORDER BY d.next_attempt LIMIT ?",
        (now, now, replica, now - STALE_AFTER, limit),
    ).fetchall()
    for row in rows:
        db.execute(
            "INSERT INTO delivery_leases(delivery_id, replica, until) VALUES (?,?,?) "
            "ON CONFLICT(delivery_id) DO UPDATE SET replica=excluded.replica, until=excluded.until",
            (row[0], replica, now + LEASE),
        )
    names = ("id", "receiver", "event", "step", "note", "incident_id", "state")
    return [
        dict(zip((*names, "labels", "annotations", "starts_at"), tuple(row), strict=True))
        for row in rows
    ]


def release(db: sqlite3.Connection, delivery: int) -> None:
    db.execute("DELETE FROM delivery_leases WHERE delivery_id=?", (delivery,))


def interrupt_orphaned(db: sqlite3.Connection, rules: Rules, replica: str, now: float) -> int:
    """Running actions whose replica stopped beating: interrupted and escalated, never rerun."""
    active = ",".join(f"'{s}'" for s in ACTIVE_ACTION_STATES)
    rows = db.execute(
        f"SELECT a.id, a.incident_id, a.action FROM actions a "
        f"LEFT JOIN action_owners o ON o.action_id = a.id "
        f"WHERE a.state IN ({active}) AND (o.replica IS NULL OR "
        f"(o.replica != ? AND NOT {_alive('o.replica')}))",
        (replica, now - STALE_AFTER),
    ).fetchall()
    interrupt(db, rules, [tuple(r) for r in rows], now)
    return len(rows)


def work_due(db: sqlite3.Connection, replica: str, now: float) -> bool:
    """Whether a running action lost its replica (a read: the idle check of a tick)."""
    active = ",".join(f"'{s}'" for s in ACTIVE_ACTION_STATES)
    (found,) = db.execute(
        f"SELECT EXISTS(SELECT 1 FROM actions a LEFT JOIN action_owners o "
        f"ON o.action_id = a.id WHERE a.state IN ({active}) AND (o.replica IS NULL OR "
        f"(o.replica != ? AND NOT {_alive('o.replica')})))",
        (replica, now - STALE_AFTER),
    ).fetchone()
    return bool(found)
