"""Incident bookkeeping, run inside the writer thread's transaction.

Every function here takes the write connection, changes rows, appends to the audit chain and
returns what the caller needs for metrics. Decisions (open an incident, escalate a step, run an
action) are committed together with the receipt or the tick that caused them, so a retried
notification, a second Alertmanager or a restart can never make the same decision twice.
"""

from __future__ import annotations

import functools
import sqlite3
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from jinja2 import TemplateError

from alert_webhook.audit import Chain, canonical
from alert_webhook.matching import BadTarget, target
from alert_webhook.payload import Alert
from alert_webhook.policy import applies
from alert_webhook.rules import Rules
from alert_webhook.schema import ACTIVE_ACTION_STATES
from globalmon.durable import isolated
from globalmon.spec.recovery import RecoveryAction
from globalmon.spec.types import duration_seconds

STATES = ("firing", "acknowledged", "resolved")
WATCHDOG = "Watchdog"


_json = canonical


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


def _timeline(
    db: sqlite3.Connection, chain: Chain, incident: int, now: float, kind: str, **detail: Any
) -> None:
    text = _json({"incident": incident, **detail})  # one text for the timeline and the audit
    db.execute(
        "INSERT INTO timeline(incident_id, at, kind, detail) VALUES (?,?,?,?)",
        (incident, now, kind, text),
    )
    chain.append(now, kind, text)


def ingest(db: sqlite3.Connection, rules: Rules, alerts: list[Alert], now: float) -> Outcome:
    """Record a payload's alerts: new receipts open or resolve incidents; repeats do nothing."""
    chain = Chain(db)
    out = Outcome()
    for alert in alerts:
        starts = alert.starts_at
        watchdog = alert.labels.get("alertname") == WATCHDOG
        if watchdog:  # every delivery counts, repeats included: it says the pipeline works
            out.watchdogs.append(alert.labels.get("region", ""))
        cur = db.execute(
            "INSERT OR IGNORE INTO receipts(fingerprint, starts_at, status, received_at) "
            "VALUES (?,?,?,?)",
            (alert.fingerprint, starts, alert.status, now),
        )
        if cur.rowcount == 0:
            out.duplicates += 1
            continue
        out.received[alert.status] += 1
        labels = _json(alert.labels)
        # the canonical form of {"fingerprint", "labels", "startsAt", "status"}, labels reused
        chain.append(
            now,
            "receipt",
            f'{{"fingerprint":{_json(alert.fingerprint)},"labels":{labels},'
            f'"startsAt":{_json(starts)},"status":{_json(alert.status)}}}',
        )
        if watchdog:
            continue  # the dead man's switch proves the pipeline works; it is not an incident
        if alert.status == "firing":
            _open(db, chain, rules, alert, starts, labels, now, out)
        else:
            _resolved_by_alertmanager(db, chain, rules, alert, starts, labels, now, out)
    return out


def _open(
    db: sqlite3.Connection,
    chain: Chain,
    rules: Rules,
    alert: Alert,
    starts: str,
    labels_text: str,
    now: float,
    out: Outcome,
) -> None:
    labels = alert.labels
    policy = rules.policy_for(labels)
    schedule = rules.schedules.get(policy, []) if policy else []
    base = min(alert.startsAt.timestamp(), now)
    first_due = base + schedule[0].after if schedule else None
    incident = _insert(db, alert, starts, labels_text, now, "firing", policy, base, first_due)
    if incident is None:  # its resolution arrived first (Alertmanager retries out of order)
        return
    out.opened.append(incident)
    out.due_now |= first_due is not None and first_due <= now
    _timeline(db, chain, incident, now, "opened", policy=policy, startsAt=starts)
    _link_root_cause(db, chain, rules, incident, labels, now)
    _decide_actions(db, chain, rules, incident, alert, now, out)


def _insert(
    db: sqlite3.Connection,
    alert: Alert,
    starts: str,
    labels_text: str,
    now: float,
    state: str,
    policy: str | None,
    base: float,
    next_due: float | None,
) -> int | None:
    """The new incident's id; None when this episode has one already."""
    labels = alert.labels
    cur = db.execute(
        "INSERT OR IGNORE INTO incidents(fingerprint, starts_at, alertname, severity, region, "
        "service, labels, annotations, state, opened_at, policy, base, next_due) "
        "VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?)",
        (
            alert.fingerprint,
            starts,
            labels.get("alertname", ""),
            labels.get("severity", ""),
            labels.get("region", ""),
            labels.get("service", ""),
            labels_text,
            _json(alert.annotations),
            state,
            now,
            policy,
            base,
            next_due,
        ),
    )
    return cur.lastrowid if cur.rowcount else None


def _link_root_cause(
    db: sqlite3.Connection,
    chain: Chain,
    rules: Rules,
    incident: int,
    labels: dict[str, str],
    now: float,
) -> None:
    candidates = root_causes(db, rules, labels.get("service", ""), labels.get("region", ""))
    candidates = [c for c in candidates if c["id"] != incident]
    if candidates:
        root = candidates[0]["id"]
        db.execute("UPDATE incidents SET symptom_of=? WHERE id=?", (root, incident))
        _timeline(db, chain, incident, now, "probable_symptom", of=root)


def root_causes(
    db: sqlite3.Connection, rules: Rules, service: str, region: str
) -> list[dict[str, Any]]:
    """Open incidents on services ``service`` depends on, most probable root cause first.

    Ranked by: not itself a symptom of something else, then farthest upstream in the service
    graph, then earliest opened (a cause usually starts before its symptoms).
    """
    upstream = rules.upstream(service) if service else {}
    if not upstream:
        return []
    marks = ",".join("?" * len(upstream))
    rows = db.execute(
        f"SELECT id, service, alertname, opened_at, symptom_of FROM incidents "
        f"WHERE state != 'resolved' AND service IN ({marks}) AND (region = ? OR region = '')",
        (*upstream, region),
    ).fetchall()
    found = [
        {
            "id": i,
            "service": s,
            "alertname": a,
            "opened_at": t,
            "symptom_of": sym,
            "distance": upstream[s],
        }
        for i, s, a, t, sym in rows
    ]
    found.sort(key=lambda c: (c["symptom_of"] is not None, -c["distance"], c["opened_at"], c["id"]))
    return found


def _resolved_by_alertmanager(
    db: sqlite3.Connection,
    chain: Chain,
    rules: Rules,
    alert: Alert,
    starts: str,
    labels_text: str,
    now: float,
    out: Outcome,
) -> None:
    row = db.execute(
        "SELECT id, state FROM incidents WHERE fingerprint=? AND starts_at=?",
        (alert.fingerprint, starts),
    ).fetchone()
    if row is None:  # never saw it firing (the webhook was down): keep it for the record
        policy = rules.policy_for(alert.labels)
        incident = _insert(db, alert, starts, labels_text, now, "resolved", policy, now, None)
        assert incident is not None  # no row a moment ago, in this transaction
        db.execute(
            "UPDATE incidents SET resolved_at=?, resolved_by='alertmanager' WHERE id=?",
            (now, incident),
        )
        _timeline(db, chain, incident, now, "resolved", by="alertmanager", unseen_firing=True)
    else:
        incident, state = row
        if state != "resolved":
            _resolve(db, chain, incident, now, "alertmanager")
            out.due_now = True  # the receivers that were told get the resolution
    _decide_actions(db, chain, rules, incident, alert, now, out)


def _resolve(db: sqlite3.Connection, chain: Chain, incident: int, now: float, by: str) -> None:
    db.execute(
        "UPDATE incidents SET state='resolved', resolved_at=?, resolved_by=?, next_due=NULL "
        "WHERE id=?",
        (now, by, incident),
    )
    _timeline(db, chain, incident, now, "resolved", by=by)
    _notify_notified(db, incident, "resolve", now)


def _notify_notified(db: sqlite3.Connection, incident: int, event: str, now: float) -> None:
    """Tell every receiver that was told of the incident (resolve, acknowledge)."""
    receivers = [
        r
        for (r,) in db.execute(
            "SELECT DISTINCT receiver FROM deliveries WHERE incident_id=? AND event='trigger'",
            (incident,),
        )
    ]
    for receiver in receivers:
        _queue(db, incident, receiver, event, "", "", now)


def _queue(
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


# --- escalation -----------------------------------------------------------------------------


def escalate(db: sqlite3.Connection, rules: Rules, now: float, limit: int = 500) -> Outcome:
    """Run every escalation entry that is due; each runs once, in this transaction."""
    out = Outcome()
    # the due index by name: without statistics the planner picks the state index and walks
    # every firing incident
    due = db.execute(
        "SELECT id, policy, base, next_entry FROM incidents INDEXED BY incidents_due "
        "WHERE next_due IS NOT NULL AND next_due <= ? AND state='firing' ORDER BY next_due LIMIT ?",
        (now, limit),
    ).fetchall()
    for incident, name, base, index in due:
        one = functools.partial(
            _escalate_one, rules=rules, now=now, row=(incident, name, base, index)
        )
        steps, failed = isolated(db, one)
        if failed is None:
            out.escalations.extend(steps)
        else:  # recorded, and this incident's escalation stops; not the others'
            db.execute("UPDATE incidents SET next_due=NULL WHERE id=?", (incident,))
            _timeline(db, Chain(db), incident, now, "escalation_failed", reason=repr(failed)[:500])
    return out


def _escalate_one(
    db: sqlite3.Connection,
    *,
    rules: Rules,
    now: float,
    row: tuple[int, str | None, float, int],
) -> list[str]:
    """One due incident's entries, (id, policy, base, next entry) as the due query reads them;
    the steps that notified."""
    incident, name, base, index = row
    chain = Chain(db)
    notified: list[str] = []
    schedule = rules.schedules.get(name or "", [])
    policy = rules.policies.get(name or "")
    forced = True  # the first entry runs: it is due (or was escalated at once)
    while index < len(schedule) and (forced or base + schedule[index].after <= now):
        forced = False
        entry = schedule[index]
        assert policy is not None
        at = min(now, base + entry.after)
        step = str(entry.step + 1)
        if applies(policy, entry.step, at):
            receivers = policy.steps[entry.step].notify
            for receiver in receivers:
                _queue(db, incident, receiver, "trigger", step, "", now)
            _timeline(
                db,
                chain,
                incident,
                now,
                "escalated",
                step=step,
                repeat=entry.repeat,
                receivers=receivers,
            )
            notified.append(step)
        else:
            _timeline(
                db,
                chain,
                incident,
                now,
                "step_skipped",
                step=step,
                repeat=entry.repeat,
                reason=f"runs {policy.steps[entry.step].when}",
            )
        index += 1
    next_due = base + schedule[index].after if index < len(schedule) else None
    db.execute(
        "UPDATE incidents SET next_entry=?, next_due=? WHERE id=?", (index, next_due, incident)
    )
    return notified


def escalate_now(
    db: sqlite3.Connection, chain: Chain, rules: Rules, incident: int, now: float, why: str
) -> None:
    """Make the next step due at once (a failed recovery); with no step left, repeat the last."""
    state, name, index = db.execute(
        "SELECT state, policy, next_entry FROM incidents WHERE id=?", (incident,)
    ).fetchone()
    _timeline(db, chain, incident, now, "escalate_now", reason=why)
    if state != "firing":
        return  # acknowledged: a person has it; resolved: nothing to do
    schedule = rules.schedules.get(name or "", [])
    if index < len(schedule):
        db.execute("UPDATE incidents SET next_due=? WHERE id=?", (now, incident))
    elif schedule:
        policy = rules.policies[name]
        last = schedule[-1].step
        for receiver in policy.steps[last].notify:
            _queue(db, incident, receiver, "trigger", str(last + 1), why, now)


# --- people -----------------------------------------------------------------------------------


class NotFound(LookupError):
    pass


class Conflict(ValueError):
    pass


def _state(db: sqlite3.Connection, incident: int) -> str:
    row = db.execute("SELECT state FROM incidents WHERE id=?", (incident,)).fetchone()
    if row is None:
        raise NotFound(f"no incident {incident}")
    return str(row[0])


def acknowledge(db: sqlite3.Connection, incident: int, by: str, note: str, now: float) -> None:
    if (state := _state(db, incident)) != "firing":
        raise Conflict(f"incident {incident} is {state}, not firing")
    db.execute(
        "UPDATE incidents SET state='acknowledged', acknowledged_at=?, acknowledged_by=?, "
        "next_due=NULL WHERE id=?",
        (now, by, incident),
    )
    chain = Chain(db)
    _timeline(db, chain, incident, now, "acknowledged", by=by, note=note)
    _notify_notified(db, incident, "acknowledge", now)


def unacknowledge(
    db: sqlite3.Connection, rules: Rules, incident: int, by: str, note: str, now: float
) -> None:
    if (state := _state(db, incident)) != "acknowledged":
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
    _timeline(db, Chain(db), incident, now, "unacknowledged", by=by, note=note)


def resolve_by_hand(db: sqlite3.Connection, incident: int, by: str, note: str, now: float) -> None:
    if _state(db, incident) == "resolved":
        raise Conflict(f"incident {incident} is already resolved")
    chain = Chain(db)
    _resolve(db, chain, incident, now, by)
    if note:
        _timeline(db, chain, incident, now, "note", by=by, note=note)


def annotate(db: sqlite3.Connection, incident: int, by: str, note: str, now: float) -> None:
    _state(db, incident)
    _timeline(db, Chain(db), incident, now, "note", by=by, note=note)


# --- recovery actions -----------------------------------------------------------------------


def _decide_actions(
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
        if state == "pending":
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
        return "skipped", f"max_attempts ({g.max_attempts}) reached"
    (last,) = db.execute(
        "SELECT max(coalesce(started_at, created_at)) FROM actions WHERE action=? AND target=? "
        "AND state NOT IN ('skipped', 'refused', 'rejected')",
        (action.name, what),
    ).fetchone()
    cooldown = duration_seconds(g.cooldown)
    if last is not None and now - last < cooldown:
        return "skipped", f"cooldown: last run {now - last:.0f}s ago, cooldown {g.cooldown}"
    return ("awaiting_approval" if g.require_approval else "pending"), ""


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
    _timeline(
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


def claim_actions(db: sqlite3.Connection, rules: Rules, now: float) -> list[int]:
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
        _timeline(db, chain, incident, now, "action_started", action=name, action_id=row)
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
    incident, name = db.execute(
        "SELECT incident_id, action FROM actions WHERE id=?", (row,)
    ).fetchone()
    state = "verifying" if verifying else result
    db.execute(
        "UPDATE actions SET state=?, finished_at=?, detail=? WHERE id=?",
        (state, now, detail[-4000:], row),
    )
    _timeline(
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
    if result in ("failed", "timeout", "error"):
        escalate_now(db, chain, rules, incident, now, f"recovery action {name} {result}")
        _retry_later(db, chain, rules, row, now)


def verified(
    db: sqlite3.Connection, rules: Rules, row: int, ok: bool, detail: str, now: float
) -> None:
    chain = Chain(db)
    incident, name = db.execute(
        "SELECT incident_id, action FROM actions WHERE id=?", (row,)
    ).fetchone()
    db.execute(
        "UPDATE actions SET state=?, detail=detail || ? WHERE id=?",
        ("verified" if ok else "verify_failed", f"\n{detail}", row),
    )
    if ok:
        db.execute("UPDATE incidents SET auto_recovered=1 WHERE id=?", (incident,))
        _timeline(db, chain, incident, now, "auto_recovered", action=name, action_id=row)
    else:
        _timeline(
            db, chain, incident, now, "verify_failed", action=name, action_id=row, detail=detail
        )
        escalate_now(db, chain, rules, incident, now, f"recovery action {name} did not recover")
        _retry_later(db, chain, rules, row, now)


def _retry_later(db: sqlite3.Connection, chain: Chain, rules: Rules, row: int, now: float) -> None:
    """Another attempt after the cooldown, while the incident is open and attempts remain."""
    incident, name, what, region, trigger, started = db.execute(
        "SELECT incident_id, action, target, region, trigger, started_at FROM actions WHERE id=?",
        (row,),
    ).fetchone()
    action = rules.actions.get(name)
    if action is None or _state(db, incident) == "resolved":
        return
    (attempts,) = db.execute(
        "SELECT count(*) FROM actions WHERE incident_id=? AND action=? "
        "AND state NOT IN ('skipped', 'refused', 'rejected')",
        (incident, name),
    ).fetchone()
    if attempts >= action.guardrails.max_attempts:
        return
    state = "awaiting_approval" if action.guardrails.require_approval else "pending"
    later = (started or now) + duration_seconds(action.guardrails.cooldown)
    _record_action(db, chain, incident, action, what, region, trigger, state, "retry", now, later)


def approve(db: sqlite3.Connection, row: int, by: str, approved: bool, now: float) -> None:
    found = db.execute(
        "SELECT incident_id, action, state FROM actions WHERE id=?", (row,)
    ).fetchone()
    if found is None:
        raise NotFound(f"no action {row}")
    incident, name, state = found
    if state != "awaiting_approval":
        raise Conflict(f"action {row} is {state}, not awaiting approval")
    db.execute(
        "UPDATE actions SET state=?, reason=? WHERE id=?",
        (
            "pending" if approved else "rejected",
            f"{'approved' if approved else 'rejected'} by {by}",
            row,
        ),
    )
    _timeline(
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
    chain = Chain(db)
    active = ",".join(f"'{s}'" for s in ACTIVE_ACTION_STATES)
    rows = db.execute(
        f"SELECT id, incident_id, action FROM actions WHERE state IN ({active})"
    ).fetchall()
    for row, incident, name in rows:
        db.execute("UPDATE actions SET state='interrupted', finished_at=? WHERE id=?", (now, row))
        _timeline(db, chain, incident, now, "action_interrupted", action=name, action_id=row)
        escalate_now(db, chain, rules, incident, now, f"recovery action {name} was interrupted")
    return len(rows)


def iso(ts: float | None) -> str | None:
    return (
        None if ts is None else datetime.fromtimestamp(ts, UTC).isoformat().replace("+00:00", "Z")
    )
