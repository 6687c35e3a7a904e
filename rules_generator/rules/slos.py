"""SLOs as multi-window, multi-burn-rate alerts (the Google SRE workbook's, as Sloth does).

Burn factors come from the share of the error budget each alert window may spend:
page when 2% goes in 1h (with 5m) or 5% in 6h (with 30m); ticket when 10% goes in 1d (with 2h)
or 10% in 3d (with 6h). For a 30d window those are the familiar 14.4x, 6x, 3x and 1x.
"""

from __future__ import annotations

from globalmon import conventions as c
from globalmon.conventions import AlertName
from globalmon.spec.services import WINDOW_PLACEHOLDER, AvailabilitySli, LatencySli, Slo
from globalmon.spec.types import duration_seconds
from rules_generator.context import Place, num, sel
from rules_generator.model import Alert, Case, Group, Recording, Series
from rules_generator.rules.common import counter, minutes, steady
from rules_generator.rules.services import selectors, uses_default_metrics, with_matcher

WINDOWS = ("5m", "30m", "1h", "2h", "6h", "1d", "3d")
# (alert, [(long window, short window, budget share)])
BURNS = (
    (AlertName.SLO_ERROR_BUDGET_BURN_FAST, (("1h", "5m", 0.02), ("6h", "30m", 0.05))),
    (AlertName.SLO_ERROR_BUDGET_BURN_SLOW, (("1d", "2h", 0.10), ("3d", "6h", 0.10))),
)


def burn_factor(slo_window: str, long_window: str, share: float) -> float:
    return share * duration_seconds(slo_window) / duration_seconds(long_window)


def error_ratio(place: Place, slo: Slo, window: str) -> str:
    assert place.service is not None
    assert place.region is not None
    req, err, buckets = selectors(place.service, place.region.id)
    sli = slo.sli
    if isinstance(sli, AvailabilitySli):
        return f"sum(rate({err}[{window}])) / sum(rate({req}[{window}]))"
    if isinstance(sli, LatencySli):
        fast = with_matcher(buckets, "le", num(duration_seconds(sli.threshold)))
        every = with_matcher(buckets, "le", "+Inf")
        return f"1 - (sum(rate({fast}[{window}])) / sum(rate({every}[{window}])))"
    good = sli.good.replace(WINDOW_PLACEHOLDER, window)
    total = sli.total.replace(WINDOW_PLACEHOLDER, window)
    return f"1 - (({good}) / ({total}))"


def slo_rules(place: Place) -> list[Group]:
    assert place.service is not None
    assert place.region is not None
    groups = []
    for slo in place.service.slos:
        labels = {"region": place.region.id, "service": place.service.name, "slo": slo.name}
        budget = 1 - slo.objective / 100
        rules: list[Recording | Alert] = [
            Recording(c.RECORD_SLO_ERROR_RATIO.format(window=w), error_ratio(place, slo, w), labels)
            for w in WINDOWS
        ]
        short = sel(c.RECORD_SLO_ERROR_RATIO.format(window="5m"), **labels)
        rules += [
            Recording(c.RECORD_SLO_OBJECTIVE, f"vector({num(slo.objective / 100)})", labels),
            Recording(
                c.RECORD_SLO_ERROR_RATIO.format(window=slo.window),
                f"avg_over_time({short}[{slo.window}])",
                labels,
            ),
            Recording(
                c.RECORD_SLO_BUDGET_REMAINING,
                f"1 - {sel(c.RECORD_SLO_ERROR_RATIO.format(window=slo.window), **labels)}"
                f" / {num(budget)}",
                labels,
            ),
        ]
        for name, pairs in BURNS:
            alert = _burn_alert(place, slo, labels, name, pairs, budget)
            if alert:
                rules.append(alert)
        groups.append(Group(f"{c.GROUP_SLOS}.{place.service.name}.{slo.name}", tuple(rules)))
    return groups


def _burn_alert(
    place: Place,
    slo: Slo,
    labels: dict[str, str],
    name: str,
    pairs: tuple[tuple[str, str, float], ...],
    budget: float,
) -> Alert | None:
    clauses = []
    for long, short, share in pairs:
        limit = num(burn_factor(slo.window, long, share) * budget)
        a = sel(c.RECORD_SLO_ERROR_RATIO.format(window=long), **labels)
        b = sel(c.RECORD_SLO_ERROR_RATIO.format(window=short), **labels)
        clauses.append(f"({a} > {limit} and {b} > {limit})")
    expr = " or ".join(clauses)
    # A constant error ratio makes every window's rate the same once two samples exist, long
    # before a window is full of data; so the test waits for `for`, plus a margin.
    first_long = pairs[0][0]
    at = minutes(place.setting(name)[2]) + 10
    fire = min(1.0, 2 * burn_factor(slo.window, first_long, pairs[0][2]) * budget)
    lowest = min(burn_factor(slo.window, lg, s) for lg, _, s in pairs) * budget
    miss = lowest * 0.9
    return place.alert(
        name,
        expr,
        summary=f"SLO {slo.name} of {labels['service']} is burning its error budget "
        f"in {labels['region']}",
        description=f"Error ratio {{{{ $value | humanizePercentage }}}} against an objective of "
        f"{num(slo.objective)}% over {slo.window}.",
        dashboard=f"{c.DASH_SERVICE}?var-region={labels['region']}&var-service={labels['service']}",
        extra_labels={"slo": slo.name},
        cases=(
            Case("fires", _inputs(place, slo, labels, fire, at), at, dict(labels), fire),
            Case("near miss", _inputs(place, slo, labels, miss, at), at),
        ),
    )


def _inputs(
    place: Place, slo: Slo, labels: dict[str, str], ratio: float, at: int
) -> tuple[Series, ...]:
    """Raw request counters for availability SLIs on globalmon's metrics; else the recorded
    error ratios of every window, which the SLI's own rules leave alone without their inputs."""
    assert place.service is not None
    if isinstance(slo.sli, AvailabilitySli) and uses_default_metrics(place.service):
        own = {
            "job": "api",
            "instance": "test-host:8080",
            "region": labels["region"],
            "service": labels["service"],
        }
        return (
            Series(sel(c.SERVICE_REQUESTS.name, **own), counter(1000, at + 2)),
            Series(sel(c.SERVICE_ERRORS.name, **own), counter(1000 * ratio, at + 2)),
        )
    return tuple(
        Series(sel(c.RECORD_SLO_ERROR_RATIO.format(window=w), **labels), steady(ratio, at + 2))
        for w in WINDOWS
    )
