"""What operators do to an incident: acknowledge, unacknowledge, resolve, annotate. Each is
written to the timeline and the audit chain with who did it."""

from __future__ import annotations

import sqlite3

from alert_webhook.audit import Chain
from alert_webhook.incidents import close, notify_notified
from alert_webhook.records import Conflict, Timed, incident_state, timeline
from alert_webhook.rules import Rules
from globalmon.conventions import IncidentState as I


def acknowledge(db: sqlite3.Connection, incident: int, by: str, note: str, now: float) -> Timed:
    if (state := incident_state(db, incident)) != I.FIRING:
        raise Conflict(f"incident {incident} is {state}, not firing")
    region, severity, opened = db.execute(
        "SELECT region, severity, opened_at FROM incidents WHERE id=?", (incident,)
    ).fetchone()
    db.execute(
        "UPDATE incidents SET state='acknowledged', acknowledged_at=?, acknowledged_by=?, "
        "next_due=NULL WHERE id=?",
        (now, by, incident),
    )
    chain = Chain(db)
    timeline(db, chain, incident, now, "acknowledged", by=by, note=note)
    notify_notified(db, incident, "acknowledge", now)
    return Timed(region, severity, max(0.0, now - opened))


def unacknowledge(
    db: sqlite3.Connection, rules: Rules, incident: int, by: str, note: str, now: float
) -> None:
    if (state := incident_state(db, incident)) != I.ACKNOWLEDGED:
        raise Conflict(f"incident {incident} is {state}, not acknowledged")
    name, base, index = db.execute(
        "SELECT policy, base, next_entry FROM incidents WHERE id=?", (incident,)
    ).fetchone()
    schedule = rules.schedules.get(name or "", [])
    # escalation picks up where it stopped; steps that came due meanwhile run at the next tick
    next_due = base + schedule[index].after if index < len(schedule) else None
    db.execute(
        "UPDATE incidents SET state='firing', acknowledged_at=NULL, acknowledged_by=NULL, "
        "next_due=? WHERE id=?",
        (next_due, incident),
    )
    timeline(db, Chain(db), incident, now, "unacknowledged", by=by, note=note)


def resolve_by_hand(db: sqlite3.Connection, incident: int, by: str, note: str, now: float) -> Timed:
    if incident_state(db, incident) == I.RESOLVED:
        raise Conflict(f"incident {incident} is already resolved")
    chain = Chain(db)
    closed = close(db, chain, incident, now, by)
    if note:
        timeline(db, chain, incident, now, "note", by=by, note=note)
    return closed


def annotate(db: sqlite3.Connection, incident: int, by: str, note: str, now: float) -> None:
    incident_state(db, incident)
    timeline(db, Chain(db), incident, now, "note", by=by, note=note)
