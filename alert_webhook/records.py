"""What every incident module writes: timeline entries (each one an audit record too), queued
notifications, and what one transaction did (for the metrics)."""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from alert_webhook.audit import Chain, canonical
from globalmon.conventions import AlertName
from globalmon.conventions import IncidentState as I

STATES = tuple(I)
WATCHDOG = AlertName.WATCHDOG


@dataclass(frozen=True)
class Timed:
    """An incident acknowledged or resolved, for the KPI histograms."""

    region: str
    severity: str
    seconds: float
    auto_recovered: bool = False


@dataclass(frozen=True)
class Attempt:
    """One try at sending a notification, as the channel answered it."""

    delivery: int
    ok: bool
    retry: bool  # when it failed: whether trying again may help (a 5xx, not a 4xx)
    detail: str
    at: float


@dataclass(frozen=True)
class RetryPolicy:
    attempts: int  # at most this many tries
    backoff: float  # seconds before the second; doubling after each, up to a cap


@dataclass(frozen=True)
class Kpis:
    """Means and ratios over a recent window, from the database."""

    resolve: dict[tuple[str, str], float]  # (region, service) -> mean seconds
    acknowledge: dict[str, float]  # region -> mean seconds
    recovery: dict[str, float]  # action -> success ratio


@dataclass
class Outcome:
    """What one transaction did, for the metrics."""

    received: dict[str, int] = field(default_factory=lambda: {"firing": 0, "resolved": 0})
    duplicates: int = 0
    watchdogs: list[str] = field(default_factory=list)  # regions whose Watchdog arrived
    opened: list[int] = field(default_factory=list)
    escalations: list[str] = field(default_factory=list)  # step numbers, 1-based
    actions: list[int] = field(default_factory=list)  # action rows to run
    due_now: bool = False  # something for the background pass to do at once
    resolved: list[Timed] = field(default_factory=list)


def timeline(
    db: sqlite3.Connection, chain: Chain, incident: int, now: float, kind: str, **detail: Any
) -> None:
    text = canonical({"incident": incident, **detail})  # one text for the timeline and the audit
    db.execute(
        "INSERT INTO timeline(incident_id, at, kind, detail) VALUES (?,?,?,?)",
        (incident, now, kind, text),
    )
    chain.append(now, kind, text)


def queue(
    db: sqlite3.Connection,
    incident: int,
    receiver: str,
    event: str,
    step: str,
    note: str,
    now: float,
) -> None:
    db.execute(
        "INSERT INTO deliveries(incident_id, receiver, event, step, note, state, next_attempt, "
        "created_at) VALUES (?,?,?,?,?,'pending',?,?)",
        (incident, receiver, event, step, note, now, now),
    )


class NotFound(LookupError):
    pass


class Conflict(ValueError):
    pass


def incident_state(db: sqlite3.Connection, incident: int) -> str:
    row = db.execute("SELECT state FROM incidents WHERE id=?", (incident,)).fetchone()
    if row is None:
        raise NotFound(f"no incident {incident}")
    return str(row[0])


def iso(ts: float | None) -> str | None:
    return (
        None if ts is None else datetime.fromtimestamp(ts, UTC).isoformat().replace("+00:00", "Z")
    )
