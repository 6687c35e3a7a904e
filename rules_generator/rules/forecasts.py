"""Capacity and anomaly alerts on the forecaster sidecar's series, per forecast target.

Each target's expression is recorded as ``target:globalmon_forecast_input:value`` so the
``predict_linear`` fallback (used only while the sidecar is down) and the anomaly traffic guard
read one series instead of repeating the expression.
"""

from __future__ import annotations

from globalmon import conventions as c
from globalmon.conventions import AlertName
from globalmon.spec.forecast import Forecast
from rules_generator.context import Place, num, sel
from rules_generator.model import Alert, Case, Group, Recording, Series
from rules_generator.rules.common import counter, minutes, steady

WEEK, DAY = 7 * 86400, 86400


def forecast_rules(place: Place, f: Forecast) -> list[Group]:
    assert place.region is not None
    r = place.region.id
    source = {"job": c.JOB_AGENT, "instance": "test-host:9464", "region": r}
    labels = {**source, "target": f.name}
    rules: list[Recording | Alert | None] = [
        Recording(c.RECORD_FORECAST_INPUT, f.expr, {"target": f.name, "region": r})
    ]
    if f.limit is not None:
        rules += [
            _exhaustion(place, f, AlertName.CAPACITY_EXHAUSTION_SOON, WEEK, labels),
            _exhaustion(place, f, AlertName.CAPACITY_EXHAUSTION_IMMINENT, DAY, labels),
            _fallback(place, f, labels),
        ]
    rules.append(_anomaly(place, f, labels))
    return [Group(f"{c.GROUP_CAPACITY}.{f.name}", tuple(x for x in rules if x))]


def _dashboard(f: Forecast, r: str) -> str:
    return f"{c.DASH_CAPACITY}?var-region={r}&var-target={f.name}"


def _exhaustion(
    place: Place, f: Forecast, name: str, within: int, labels: dict[str, str]
) -> Alert | None:
    r = labels["region"]
    metric = c.CAPACITY_EXHAUSTION.name
    when = minutes(place.setting(name)[2]) + 3
    series = sel(metric, **labels)
    left = within / 2
    return place.alert(
        name,
        f"{sel(metric, target=f.name, region=r)} < {within}",
        summary=f"{f.name} reaches its limit of {num(f.limit or 0)} soon in {r}",
        description="The forecast crosses the limit in {{ $value | humanizeDuration }}.",
        dashboard=_dashboard(f, r),
        extra_labels={"target": f.name},
        cases=(
            Case("fires", (Series(series, steady(left, when + 2)),), when, dict(labels), left),
            Case("near miss", (Series(series, steady(within, when + 2)),), when),
        ),
    )


def _fallback(place: Place, f: Forecast, labels: dict[str, str]) -> Alert | None:
    """predict_linear while the sidecar is not up, guarded against its usual false positives:
    the trend must point at the limit, the value must already be past half of it, and at
    least 60 samples must back the fit (a fit over a few points swings wildly)."""
    assert f.limit is not None
    r = labels["region"]
    x = sel(c.RECORD_FORECAST_INPUT, target=f.name, region=r)
    limit = f.limit
    worse, sign = (">", 1) if f.polarity == "higher_is_worse" else ("<", -1)
    half = limit * 0.5 if sign > 0 else limit * 1.5
    sidecar_up = sel("up", job=c.JOB_SIDECAR, region=r)
    expr = (
        f"(predict_linear({x}[6h], {WEEK}) {worse} {num(limit)})"
        f" and ({'deriv' if sign > 0 else '-deriv'}({x}[6h]) > 0)"
        f" and ({x} {worse} {num(half)})"
        f" and (count_over_time({x}[6h]) >= 60)"
        f" unless on () ({sidecar_up} == 1)"
    )
    for_ = place.setting(AlertName.CAPACITY_EXHAUSTION_SOON)[2]
    when = 60 + minutes(for_) + 5
    start = limit * (0.6 if sign > 0 else 1.4)
    per_minute = sign * abs(limit) / (7 * 24 * 60)  # a full limit's worth in one week
    inp = {"region": r, "target": f.name}
    rising = Series(sel(c.RECORD_FORECAST_INPUT, **inp), counter(per_minute, when + 2, start))
    flat = Series(sel(c.RECORD_FORECAST_INPUT, **inp), steady(start, when + 2))
    predicted = start + per_minute * (when + 7 * 24 * 60)
    return place.alert(
        AlertName.CAPACITY_EXHAUSTION_SOON,
        expr,
        for_=for_,
        summary=f"{f.name} heads for its limit of {num(limit)} in {r} (linear fallback)",
        description="The forecaster is down; a linear fit predicts {{ $value | humanize }} "
        "in a week.",
        dashboard=_dashboard(f, r),
        extra_labels={"target": f.name, "method": "predict_linear"},
        cases=(
            Case("fires", (rising,), when, {**inp}, predicted),
            Case("near miss", (flat,), when),
        ),
    )


def _anomaly(place: Place, f: Forecast, labels: dict[str, str]) -> Alert | None:
    r = labels["region"]
    flag = sel(c.ANOMALY_FLAG.name, target=f.name, region=r)
    expr = f"{flag} == 1"
    series = [Series(sel(c.ANOMALY_FLAG.name, **labels), "1x10")]
    if f.anomaly_min_rate > 0:  # minimum-traffic guard: no anomalies on an idle series
        x = sel(c.RECORD_FORECAST_INPUT, target=f.name, region=r)
        expr = f"({expr}) and ({x} >= {num(f.anomaly_min_rate)})"
        series.append(
            Series(sel(c.RECORD_FORECAST_INPUT, **labels), steady(f.anomaly_min_rate * 2, 10))
        )
    when = minutes(place.setting(AlertName.METRIC_ANOMALOUS)[2]) + 3
    series = [Series(s.selector, f"{s.values.split('x')[0]}x{when + 2}") for s in series]
    miss = [Series(series[0].selector, f"0x{when + 2}"), *series[1:]]
    return place.alert(
        AlertName.METRIC_ANOMALOUS,
        expr,
        summary=f"{f.name} behaves unusually in {r}",
        description="The anomaly detector flags this series; compare it with its forecast band.",
        dashboard=_dashboard(f, r),
        extra_labels={"target": f.name},
        cases=(
            Case("fires", tuple(series), when, dict(labels), 1.0),
            Case("near miss", tuple(miss), when),
        ),
    )
