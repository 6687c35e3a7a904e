"""Escalation schedules: a policy's steps and repeats flattened into one timeline.

A policy with steps at 0s and 5m, the second repeated every 10m twice, becomes

    [Entry(0, 0, 0.0), Entry(1, 0, 300.0), Entry(1, 1, 900.0), Entry(1, 2, 1500.0)]

(step index, repeat number, seconds after the incident started). The incident row keeps the
index of its next entry and that entry's due time; advancing both happens in the transaction that
queues the notifications, so a restart neither repeats nor skips an entry.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

from globalmon.spec import Spec
from globalmon.spec.notify import BusinessHours, EscalationPolicy
from globalmon.spec.types import duration_seconds

_DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")


@dataclass(frozen=True)
class Entry:
    step: int
    repeat: int
    after: float  # seconds after the incident started


def schedule(policy: EscalationPolicy, escalate_after: float) -> list[Entry]:
    entries = []
    for i, step in enumerate(policy.steps):
        after = duration_seconds(step.after) if step.after is not None else i * escalate_after
        entries.append(Entry(i, 0, after))
        if step.repeat is not None:
            every = duration_seconds(step.repeat.every)
            entries += [Entry(i, k, after + k * every) for k in range(1, step.repeat.times + 1)]
    return sorted(entries, key=lambda e: (e.after, e.step, e.repeat))


def in_business_hours(hours: BusinessHours, at: float) -> bool:
    local = datetime.fromtimestamp(at, UTC).astimezone(ZoneInfo(hours.timezone))
    clock = local.strftime("%H:%M")
    return _DAYS[local.weekday()] in hours.days and hours.start <= clock < hours.end


def applies(policy: EscalationPolicy, step: int, at: float) -> bool:
    """Whether step ``step`` runs at time ``at`` (its ``when`` against the business hours)."""
    when = policy.steps[step].when
    if when == "always" or policy.business_hours is None:
        return True
    inside = in_business_hours(policy.business_hours, at)
    return inside if when == "business_hours" else not inside


def policy_for(spec: Spec, labels: dict[str, str]) -> str | None:
    """The policy of the alert's service, else its plugin, else its region, else the default."""
    service = labels.get("service")
    plugin = labels.get("plugin")
    region = labels.get("region")
    for s in spec.services:
        if s.name == service and s.escalation_policy:
            return s.escalation_policy
    for p in spec.plugins:
        if p.id == plugin and p.escalation_policy:
            return p.escalation_policy
    for r in spec.regions:
        if r.id == region and r.escalation_policy:
            return r.escalation_policy
    return spec.global_.escalation_policy
