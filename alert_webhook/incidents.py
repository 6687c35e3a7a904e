"""Incident bookkeeping, run inside the writer thread's transaction.

Every function here takes the write connection, changes rows, appends to the audit chain and
returns what the caller needs for metrics. Decisions (open an incident, escalate a step, run an
action) are committed together with the receipt or the tick that caused them, so a retried
notification, a second Alertmanager or a restart can never make the same decision twice.
"""

from __future__ import annotations

import sqlite3
from typing import Any

from alert_webhook.audit import Chain, canonical
from alert_webhook.payload import Alert
from alert_webhook.records import WATCHDOG, Outcome, Timed, queue, timeline
from alert_webhook.recovery import decide_actions
from alert_webhook.rules import Rules
from globalmon.conventions import IncidentState as I


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
            "INSERT INTO receipts(fingerprint, starts_at, status, received_at) "
            "VALUES (?,?,?,?) ON CONFLICT DO NOTHING",
            (alert.fingerprint, starts, alert.status, now),
        )
        if cur.rowcount == 0:
            out.duplicates += 1
            continue
        out.received[alert.status] += 1
        labels = canonical(alert.labels)
        # the canonical form of {"fingerprint", "labels", "startsAt", "status"}, labels reused
        chain.append(
            now,
            "receipt",
            f'{{"fingerprint":{canonical(alert.fingerprint)},"labels":{labels},'
            f'"startsAt":{canonical(starts)},"status":{canonical(alert.status)}}}',
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
    incident = _insert(db, alert, starts, labels_text, now, I.FIRING, policy, base, first_due)
    if incident is None:  # its resolution arrived first (Alertmanager retries out of order)
        return
    out.opened.append(incident)
    out.due_now |= first_due is not None and first_due <= now
    timeline(db, chain, incident, now, "opened", policy=policy, starts_at=starts)
    _link_root_cause(db, chain, rules, incident, labels, now)
    decide_actions(db, chain, rules, incident, alert, now, out)


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
        "INSERT INTO incidents(fingerprint, starts_at, alertname, severity, region, "
        "service, labels, annotations, state, opened_at, policy, base, next_due) "
        "VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?) ON CONFLICT DO NOTHING",
        (
            alert.fingerprint,
            starts,
            labels.get("alertname", ""),
            labels.get("severity", ""),
            labels.get("region", ""),
            labels.get("service", ""),
            labels_text,
            canonical(alert.annotations),
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
        timeline(db, chain, incident, now, "probable_symptom", of=root)


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
        incident = _insert(db, alert, starts, labels_text, now, I.RESOLVED, policy, now, None)
        assert incident is not None  # no row a moment ago, in this transaction
        db.execute(
            "UPDATE incidents SET resolved_at=?, resolved_by='alertmanager' WHERE id=?",
            (now, incident),
        )
        timeline(db, chain, incident, now, "resolved", by="alertmanager", unseen_firing=True)
    else:
        incident, state = row
        if state != I.RESOLVED:
            out.resolved.append(close(db, chain, incident, now, "alertmanager"))
            out.due_now = True  # the receivers that were told get the resolution
    decide_actions(db, chain, rules, incident, alert, now, out)


def close(db: sqlite3.Connection, chain: Chain, incident: int, now: float, by: str) -> Timed:
    region, severity, opened, auto = db.execute(
        "SELECT region, severity, opened_at, auto_recovered FROM incidents WHERE id=?",
        (incident,),
    ).fetchone()
    db.execute(
        "UPDATE incidents SET state='resolved', resolved_at=?, resolved_by=?, next_due=NULL "
        "WHERE id=?",
        (now, by, incident),
    )
    timeline(db, chain, incident, now, "resolved", by=by)
    notify_notified(db, incident, "resolve", now)
    return Timed(region, severity, max(0.0, now - opened), bool(auto))


def notify_notified(db: sqlite3.Connection, incident: int, event: str, now: float) -> None:
    """Tell every receiver that was told of the incident (resolve, acknowledge)."""
    receivers = [
        r
        for (r,) in db.execute(
            "SELECT DISTINCT receiver FROM deliveries WHERE incident_id=? AND event='trigger'",
            (incident,),
        )
    ]
    for receiver in receivers:
        queue(db, incident, receiver, event, "", "", now)
