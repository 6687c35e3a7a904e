"""Recovery actions: which ones an alert triggers (matchers, guardrails, cooldowns, blast
radius), claiming them to run, their results, verification, approval, and interrupted runs."""

from __future__ import annotations

import sqlite3
from typing import Any

from jinja2 import TemplateError

from alert_webhook.audit import Chain
from alert_webhook.escalation import escalate_now
from alert_webhook.matching import BadTarget, target
from alert_webhook.payload import Alert
from alert_webhook.records import Conflict, NotFound, Outcome, incident_state, timeline
from alert_webhook.rules import Rules
from alert_webhook.schema import ACTIVE_ACTION_STATES
from globalmon.conventions import ActionState as A
from globalmon.conventions import IncidentState as I
from globalmon.spec.recovery import RecoveryAction
from globalmon.spec.types import duration_seconds


def decide_actions(
    db: sqlite3.Connection,
    chain: Chain,
    rules: Rules,
    incident: int,
    alert: Alert,
    now: float,
    out: Outcome,
) -> None:
    for action in rules.matching_actions(alert.labels, alert.status):
        region = alert.labels.get("region", "")
        try:
            what = target(action, alert.labels, alert.annotations)
        except (BadTarget, TemplateError) as exc:
            _record_action(
                db,
                chain,
                incident,
                action,
                "-",
                region,
                alert.status,
                "refused",
                f"bad target: {exc}",
                now,
            )
            continue
        state, reason = _guard(db, action, incident, what, now)
        row = _record_action(
            db, chain, incident, action, what, region, alert.status, state, reason, now
        )
        if state == A.PENDING:
            out.actions.append(row)
            out.due_now = True


def _guard(
    db: sqlite3.Connection, action: RecoveryAction, incident: int, what: str, now: float
) -> tuple[str, str]:
    g = action.guardrails
    (attempts,) = db.execute(
        "SELECT count(*) FROM actions WHERE incident_id=? AND action=? "
        "AND state NOT IN ('skipped', 'refused', 'rejected')",
        (incident, action.name),
    ).fetchone()
    if attempts >= g.max_attempts:
        return A.SKIPPED, f"max_attempts ({g.max_attempts}) reached"
    (last,) = db.execute(
        "SELECT max(coalesce(started_at, created_at)) FROM actions WHERE action=? AND target=? "
        "AND state NOT IN ('skipped', 'refused', 'rejected')",
        (action.name, what),
    ).fetchone()
    cooldown = duration_seconds(g.cooldown)
    if last is not None and now - last < cooldown:
        return A.SKIPPED, f"cooldown: last run {now - last:.0f}s ago, cooldown {g.cooldown}"
    return (A.AWAITING_APPROVAL if g.require_approval else A.PENDING), ""


def _record_action(
    db: sqlite3.Connection,
    chain: Chain,
    incident: int,
    action: RecoveryAction,
    what: str,
    region: str,
    trigger: str,
    state: str,
    reason: str,
    now: float,
    not_before: float | None = None,
) -> int:
    cur = db.execute(
        "INSERT INTO actions(incident_id, action, target, region, trigger, state, reason, "
        "created_at, not_before) VALUES (?,?,?,?,?,?,?,?,?)",
        (incident, action.name, what, region, trigger, state, reason, now, not_before or now),
    )
    assert cur.lastrowid is not None
    timeline(
        db,
        chain,
        incident,
        now,
        "action_decided",
        action=action.name,
        action_id=cur.lastrowid,
        target=what,
        state=state,
        reason=reason,
    )
    return cur.lastrowid


def claim_actions(
    db: sqlite3.Connection, rules: Rules, now: float, replica: str | None = None
) -> list[int]:
    """Pending actions allowed to start now (concurrency and blast radius), marked running.

    Marking them running commits before anything runs: after a crash such a row is
    'interrupted', never started again.
    """
    chain = Chain(db)
    active = ",".join(f"'{s}'" for s in ACTIVE_ACTION_STATES)
    per_action = dict(
        db.execute(
            f"SELECT action, count(*) FROM actions WHERE state IN ({active}) GROUP BY action"
        )
    )
    per_region = dict(
        db.execute(
            f"SELECT region, count(*) FROM actions WHERE state IN ({active}) GROUP BY region"
        )
    )
    claimed = []
    for row, incident, name, region in db.execute(
        "SELECT id, incident_id, action, region FROM actions WHERE state='pending' "
        "AND not_before <= ? ORDER BY id",
        (now,),
    ).fetchall():
        action = rules.actions.get(name)
        if action is None:  # removed from the spec since
            db.execute(
                "UPDATE actions SET state='refused', reason='not in the spec' WHERE id=?", (row,)
            )
            continue
        g = action.guardrails
        if (
            per_action.get(name, 0) >= g.max_concurrent
            or per_region.get(region, 0) >= g.max_per_region
        ):
            continue  # waits for a slot
        per_action[name] = per_action.get(name, 0) + 1
        per_region[region] = per_region.get(region, 0) + 1
        db.execute("UPDATE actions SET state='running', started_at=? WHERE id=?", (now, row))
        if replica is not None:  # replicas: the one running it (alert_webhook.replicas)
            db.execute(
                "INSERT INTO action_owners(action_id, replica) VALUES (?,?) "
                "ON CONFLICT(action_id) DO UPDATE SET replica=excluded.replica",
                (row, replica),
            )
        timeline(db, chain, incident, now, "action_started", action=name, action_id=row)
        claimed.append(row)
    return claimed


def finish_action(
    db: sqlite3.Connection,
    rules: Rules,
    row: int,
    result: str,
    detail: str,
    now: float,
    *,
    verifying: bool = False,
) -> None:
    """Record a run's result; a failure escalates the incident at once."""
    chain = Chain(db)
    incident, name, was = db.execute(
        "SELECT incident_id, action, state FROM actions WHERE id=?", (row,)
    ).fetchone()
    if (
        was not in ACTIVE_ACTION_STATES
    ):  # interrupted meanwhile (its replica was taken for gone): keep that
        _late(db, chain, incident, name, row, result, detail, now)
        return
    state = A.VERIFYING if verifying else result
    db.execute(
        "UPDATE actions SET state=?, finished_at=?, detail=? WHERE id=?",
        (state, now, detail[-4000:], row),
    )
    timeline(
        db,
        chain,
        incident,
        now,
        "action_finished",
        action=name,
        action_id=row,
        result=result,
        detail=detail[-500:],
    )
    if result in (A.FAILED, A.TIMEOUT, A.ERROR):
        escalate_now(db, chain, rules, incident, now, f"recovery action {name} {result}")
        _retry_later(db, chain, rules, row, now)


def verified(
    db: sqlite3.Connection, rules: Rules, row: int, ok: bool, detail: str, now: float
) -> None:
    chain = Chain(db)
    incident, name, was = db.execute(
        "SELECT incident_id, action, state FROM actions WHERE id=?", (row,)
    ).fetchone()
    if was != A.VERIFYING:
        result = A.VERIFIED if ok else A.VERIFY_FAILED
        _late(db, chain, incident, name, row, result, detail, now)
        return
    db.execute(
        "UPDATE actions SET state=?, detail=detail || ? WHERE id=?",
        (A.VERIFIED if ok else A.VERIFY_FAILED, f"\n{detail}", row),
    )
    if ok:
        db.execute("UPDATE incidents SET auto_recovered=1 WHERE id=?", (incident,))
        timeline(db, chain, incident, now, "auto_recovered", action=name, action_id=row)
    else:
        timeline(
            db, chain, incident, now, "verify_failed", action=name, action_id=row, detail=detail
        )
        escalate_now(db, chain, rules, incident, now, f"recovery action {name} did not recover")
        _retry_later(db, chain, rules, row, now)


def _late(
    db: sqlite3.Connection,
    chain: Chain,
    incident: int,
    name: str,
    row: int,
    result: str,
    detail: str,
    now: float,
) -> None:
    """A result for an action no longer running: on the record, the state left as it is."""
    timeline(
        db,
        chain,
        incident,
        now,
        "action_result_late",
        action=name,
        action_id=row,
        result=result,
        detail=detail[-500:],
    )


def _retry_later(db: sqlite3.Connection, chain: Chain, rules: Rules, row: int, now: float) -> None:
    """Another attempt after the cooldown, while the incident is open and attempts remain."""
    incident, name, what, region, trigger, started = db.execute(
        "SELECT incident_id, action, target, region, trigger, started_at FROM actions WHERE id=?",
        (row,),
    ).fetchone()
    action = rules.actions.get(name)
    if action is None or incident_state(db, incident) == I.RESOLVED:
        return
    (attempts,) = db.execute(
        "SELECT count(*) FROM actions WHERE incident_id=? AND action=? "
        "AND state NOT IN ('skipped', 'refused', 'rejected')",
        (incident, name),
    ).fetchone()
    if attempts >= action.guardrails.max_attempts:
        return
    state = A.AWAITING_APPROVAL if action.guardrails.require_approval else A.PENDING
    later = (started or now) + duration_seconds(action.guardrails.cooldown)
    _record_action(db, chain, incident, action, what, region, trigger, state, "retry", now, later)


def approve(db: sqlite3.Connection, row: int, by: str, approved: bool, now: float) -> None:
    found = db.execute(
        "SELECT incident_id, action, state FROM actions WHERE id=?", (row,)
    ).fetchone()
    if found is None:
        raise NotFound(f"no action {row}")
    incident, name, state = found
    if state != A.AWAITING_APPROVAL:
        raise Conflict(f"action {row} is {state}, not awaiting approval")
    db.execute(
        "UPDATE actions SET state=?, reason=? WHERE id=?",
        (
            A.PENDING if approved else A.REJECTED,
            f"{'approved' if approved else 'rejected'} by {by}",
            row,
        ),
    )
    timeline(
        db,
        Chain(db),
        incident,
        now,
        "action_approved" if approved else "action_rejected",
        action=name,
        action_id=row,
        by=by,
    )


def interrupt_running(db: sqlite3.Connection, rules: Rules, now: float) -> int:
    """At start: actions that were running when the process died are never run again."""
    active = ",".join(f"'{s}'" for s in ACTIVE_ACTION_STATES)
    rows = db.execute(
        f"SELECT id, incident_id, action FROM actions WHERE state IN ({active})"
    ).fetchall()
    interrupt(db, rules, [tuple(r) for r in rows], now)
    return len(rows)


def interrupt(
    db: sqlite3.Connection, rules: Rules, rows: list[tuple[Any, ...]], now: float
) -> None:
    """Mark (id, incident, action) rows interrupted and escalate their incidents."""
    chain = Chain(db)
    for row, incident, name in rows:
        db.execute("UPDATE actions SET state='interrupted', finished_at=? WHERE id=?", (now, row))
        timeline(db, chain, incident, now, "action_interrupted", action=name, action_id=row)
        escalate_now(db, chain, rules, incident, now, f"recovery action {name} was interrupted")
