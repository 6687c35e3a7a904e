"""Agent liveness, host resources, process groups and probes in one region."""

from __future__ import annotations

from globalmon import conventions as c
from globalmon.conventions import AlertName
from globalmon.spec.types import duration_seconds
from rules_generator.context import Place, num, sel
from rules_generator.model import Alert, Case, Group, Series
from rules_generator.rules.common import agent_labels, minutes, steady
from rules_generator.rules.hosts import host_rules


def _sel(metric: str, region: str, **extra: str) -> str:
    return sel(metric, job=c.JOB_AGENT, region=region, **extra)


def _gauge_alert(
    place: Place,
    name: str,
    expr: str,
    inputs: list[tuple[str, float, float]],
    *,
    extra: dict[str, str],
    summary: str,
    description: str,
    fire_value: float,
) -> Alert | None:
    """An alert on gauges; inputs are (metric, firing value, near-miss value)."""
    region = place.region.id if place.region else ""
    labels = {**agent_labels(region), **extra}
    _, _, for_ = place.setting(name)
    at = minutes(for_) + 3

    def case(kind: str, pick: int) -> tuple[Series, ...]:
        return tuple(Series(sel(m, **labels), steady(vals[pick], at + 2)) for m, *vals in inputs)

    return place.alert(
        name,
        expr,
        summary=summary,
        description=description,
        dashboard=f"{c.DASH_REGION}?var-region={region}",
        cases=(
            Case("fires", case("fire", 0), at, dict(labels), fire_value),
            Case("near miss", case("miss", 1), at),
        ),
    )


def agent_rules(place: Place) -> list[Group]:
    assert place.region is not None
    r = place.region.id
    t = place.thresholds
    labels = agent_labels(r)
    stale = duration_seconds(t.heartbeat_stale_after)
    up = _sel("up", r)
    alerts: list[Alert | None] = [
        _gauge_alert(
            place,
            AlertName.AGENT_DOWN,
            f"{up} == 0",
            [("up", 0, 1)],
            extra={},
            summary="Agent {{ $labels.agent }} is down",
            description="Prometheus cannot scrape agent {{ $labels.agent }} at "
            "{{ $labels.instance }}.",
            fire_value=0,
        ),
        _heartbeat(place, labels, stale),
        _gauge_alert(
            place,
            AlertName.PROCESS_GROUP_DOWN,
            f"{_sel(c.PROCESS_UP.name, r)} == 0",
            [(c.PROCESS_UP.name, 0, 1)],
            extra={"group": "test-group"},
            summary="Process group {{ $labels.group }} is down on {{ $labels.agent }}",
            description="Fewer processes of group {{ $labels.group }} than expected are running.",
            fire_value=0,
        ),
        _gauge_alert(
            place,
            AlertName.PROBE_FAILED,
            f"{_sel(c.PROBE_SUCCESS.name, r)} == 0",
            [(c.PROBE_SUCCESS.name, 0, 1)],
            extra={"probe": "test-probe"},
            summary="Probe {{ $labels.probe }} failing on {{ $labels.agent }}",
            description="The {{ $labels.probe }} probe of agent {{ $labels.agent }} fails.",
            fire_value=0,
        ),
    ]
    return [
        Group(c.GROUP_AGENTS, tuple(a for a in alerts[:2] if a)),
        Group(c.GROUP_RESOURCES, (*host_rules(place), *(a for a in alerts[2:] if a))),
    ]


def _heartbeat(place: Place, labels: dict[str, str], stale: float) -> Alert | None:
    """Stale heartbeat: the newest heartbeat in the last 10m is older than the threshold.

    max_over_time keeps the alert alive for 10 minutes after the agent's series disappear.
    """
    r = labels["region"]
    metric = c.AGENT_HEARTBEAT.name
    stopped_at = 5
    at = stopped_at + int(stale // 60) + 2
    series = sel(metric, **labels)
    return place.alert(
        AlertName.AGENT_HEARTBEAT_STALE,
        f"time() - max_over_time({_sel(metric, r)}[10m]) > {num(stale)}",
        summary="Agent {{ $labels.agent }} stopped heartbeating",
        description="The last heartbeat of agent {{ $labels.agent }} is "
        "{{ $value | humanizeDuration }} old.",
        dashboard=f"{c.DASH_REGION}?var-region={r}",
        cases=(
            # heartbeats carry their own time: value = seconds since the test's start
            Case(
                "fires",
                (Series(series, f"0+60x{stopped_at}"),),
                at,
                dict(labels),
                float(at * 60 - stopped_at * 60),
            ),
            Case("near miss", (Series(series, f"0+60x{at + 2}"),), at),
        ),
    )
