"""Region health: agents-up and probe-success ratios, degraded and failed alerts."""

from __future__ import annotations

import math

from globalmon import conventions as c
from globalmon.conventions import AlertName
from rules_generator.context import Place, num, sel
from rules_generator.model import Alert, Case, Group, Recording, Series
from rules_generator.rules.common import agent_labels, minutes, steady


def _fleet(
    region: str, total: int, up: int, samples: int, back_at: int | None = None
) -> tuple[Series, ...]:
    """``up`` of ``total`` agents up; with ``back_at``, the others down until that minute and up
    from it on."""
    out = []
    for i in range(total):
        labels = {
            **agent_labels(region),
            "agent": f"test-agent-{i}",
            "instance": f"test-host-{i}:9464",
        }
        if i < up or back_at is None:
            values = steady(1 if i < up else 0, samples)
        else:
            values = f"0x{back_at - 1} 1x{samples - back_at}"
        out.append(Series(sel("up", **labels), values))
    return tuple(out)


def _count_in(low: float, high: float) -> tuple[int, int]:
    """(up, total): a fleet whose up ratio lies in [low, high), the middle if it can."""
    for total in (4, 10, 20, 100, 1000):
        up = math.floor((low + high) / 2 * total)
        if low <= up / total < high:
            return up, total
    raise ValueError(f"no fleet has an up ratio in [{low}, {high})")


def _count_above(level: float) -> tuple[int, int]:
    """(up, total) with an up ratio just above ``level``: the nearest miss of ``< level``.

    Not exactly at the level: Prometheus' avg() is an incremental mean, so 9 of 10 agents up
    can come out a hair below 0.9.
    """
    for total in (10, 20, 100, 1000):
        up = math.floor(level * total) + 1
        if up <= total:
            return up, total
    return 1, 1  # level 1.0: all up is the only miss


def region_rules(place: Place) -> list[Group]:
    assert place.region is not None
    r = place.region.id
    t = place.thresholds
    ratio = sel(c.RECORD_AGENTS_UP_RATIO, region=r)
    probes = sel(c.RECORD_PROBE_SUCCESS_RATIO, region=r)
    recordings = (
        Recording(
            c.RECORD_AGENTS_UP_RATIO, f"avg by (region) ({sel('up', job=c.JOB_AGENT, region=r)})"
        ),
        Recording(
            c.RECORD_PROBE_SUCCESS_RATIO,
            f"avg by (region) ({sel(c.PROBE_SUCCESS.name, job=c.JOB_AGENT, region=r)})",
        ),
        # Health: the agents-up ratio, scaled by the probe success ratio where probes exist.
        Recording(
            c.RECORD_REGION_HEALTH,
            f"{ratio} * on (region) ({probes} or on (region) (0 * {ratio} + 1))",
        ),
    )
    dashboard = f"{c.DASH_REGION}?var-region={r}"

    def level_alert(
        name: str, expr: str, fire: tuple[int, int], miss: tuple[int, int], word: str, level: float
    ) -> Alert | None:
        at = minutes(place.setting(name)[2]) + 3
        cases = [
            Case(
                "fires", _fleet(r, fire[1], fire[0], at + 2), at, {"region": r}, fire[0] / fire[1]
            ),
            Case("near miss", _fleet(r, miss[1], miss[0], at + 2), at),
        ]
        keep = minutes(place.keep_firing_for(name))
        if keep >= 2:
            # The fleet is back at minute at + 1. The alert reads the recorded ratio, and
            # promtool evaluates the recording and alert groups in either order (both seen on
            # one file, run to run), so the alert sees the recovery at at + 1 or at + 2: it fires
            # at at + keep and is quiet at at + keep + 2 either way. Without keep_firing_for it
            # may fire at at + 1 too, so only a keep of 2 minutes or more is told apart (the
            # default, two 15 s scrapes and evaluations, is not: the stack's region-outage
            # scenario checks that one for real).
            back = _fleet(r, fire[1], fire[0], at + keep + 4, back_at=at + 1)
            value = fire[0] / fire[1]
            cases += [
                Case("keeps firing as it comes back", back, at + keep, {"region": r}, value),
                Case("resolved after keep_firing_for", back, at + keep + 2),
            ]
        return place.alert(
            name,
            expr,
            summary=f"Region {r} is {word}",
            description=f"Only {{{{ $value | humanizePercentage }}}} of the agents in {r} are up "
            f"({word} below {num(level * 100)}%).",
            dashboard=dashboard,
            cases=cases,
        )

    degraded, failed = t.region_degraded_below, t.region_failed_below
    alerts = (
        level_alert(
            AlertName.REGION_DEGRADED,
            f"{ratio} < {num(degraded)} >= {num(failed)}",
            _count_in(failed, degraded),
            _count_above(degraded),
            "degraded",
            degraded,
        ),
        level_alert(
            AlertName.REGION_FAILED,
            f"{ratio} < {num(failed)}",
            _count_in(0, failed) if failed > 0 else (0, 1),
            _count_above(failed),
            "failed",
            failed,
        ),
    )
    return [
        Group(c.GROUP_RECORDING, recordings),
        Group(c.GROUP_REGIONS, tuple(a for a in alerts if a)),
    ]
