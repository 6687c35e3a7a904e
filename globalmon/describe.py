"""`globalmon describe`: what a spec holds, as a short readable outline."""

from __future__ import annotations

from globalmon.spec import Spec
from globalmon.spec.types import duration_seconds, format_duration


def _after(spec: Spec, index: int, after: str | None) -> str:
    if after is not None:
        return after
    return format_duration(duration_seconds(spec.defaults.thresholds.escalate_after) * index)


def _count(n: int, word: str) -> str:
    return f"{n} {word}{'' if n == 1 else 's'}"


def describe(spec: Spec) -> str:
    """An outline of regions, services (with dependencies and SLOs), plugins, forecasts,
    escalation and recovery."""
    g = spec.global_
    lines = [
        f"scrape every {g.scrape_interval}, evaluate every {g.evaluation_interval}; "
        f"alertmanagers: {', '.join(g.alertmanager_urls)}",
        "regions:",
    ]
    for r in spec.regions:
        prometheus = ", ".join(r.prometheus_urls)
        lines.append(
            f"  {r.id} ({r.name}): {_count(len(r.agents), 'agent')}, prometheus {prometheus}"
        )
        for a in r.agents:
            extras = [_count(len(a.processes), "process group")] if a.processes else []
            extras += [_count(len(a.probes), "probe")] if a.probes else []
            tail = f" [{', '.join(extras)}]" if extras else ""
            lines.append(f"    - {a.id} {a.type} at {a.address}{tail}")
    if spec.services:
        lines.append("services:")
    for s in spec.services:
        deps = f" -> {', '.join(s.depends_on)}" if s.depends_on else ""
        where = ", ".join(s.regions) if s.regions else "all regions"
        lines.append(f"  {s.name}{deps} ({where})")
        lines += [
            f"    slo {o.name}: {o.objective}% over {o.window} ({o.sli.kind})" for o in s.slos
        ]
    if spec.plugins:
        lines.append("plugins:")
    lines += [f"  {p.id} (owner {p.owner})" for p in spec.plugins]
    if spec.forecasts:
        lines.append("forecasts:")
    for f in spec.forecasts:
        limit = f", limit {f.limit:g}" if f.limit is not None else ""
        lines.append(f"  {f.name}: horizons {', '.join(f.horizons)}{limit}")
    if spec.escalation_policies:
        lines.append("escalation policies:")
    for p in spec.escalation_policies:
        steps = "; ".join(
            f"{_after(spec, i, st.after)} {'+'.join(st.notify)}" for i, st in enumerate(p.steps)
        )
        lines.append(f"  {p.name}: {steps}")
    if spec.recovery_actions:
        lines.append("recovery actions:")
    for act in spec.recovery_actions:
        mode = " (dry run)" if act.guardrails.dry_run else ""
        lines.append(f"  {act.name}: {act.type} when {', '.join(act.matchers)}{mode}")
    lines.append("totals: " + spec.summary())
    return "\n".join(lines) + "\n"
