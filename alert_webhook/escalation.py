"""Escalation: the policy's steps as they come due, and a step made due at once (a failed
recovery). Run inside the writer's transaction; each due incident in a savepoint of its own."""

from __future__ import annotations

import functools
import sqlite3

from alert_webhook.audit import Chain
from alert_webhook.policy import applies
from alert_webhook.records import Outcome, queue, timeline
from alert_webhook.rules import Rules
from globalmon.conventions import IncidentState as I
from globalmon.durable import isolated


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
            timeline(db, Chain(db), incident, now, "escalation_failed", reason=repr(failed)[:500])
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
                queue(db, incident, receiver, "trigger", step, "", now)
            timeline(
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
            timeline(
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
    timeline(db, chain, incident, now, "escalate_now", reason=why)
    if state != I.FIRING:
        return  # acknowledged: a person has it; resolved: nothing to do
    schedule = rules.schedules.get(name or "", [])
    if index < len(schedule):
        db.execute("UPDATE incidents SET next_due=? WHERE id=?", (now, incident))
    elif schedule:
        policy = rules.policies[name]
        last = schedule[-1].step
        for receiver in policy.steps[last].notify:
            queue(db, incident, receiver, "trigger", str(last + 1), why, now)
