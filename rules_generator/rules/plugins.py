"""Plugin alerts in one region: resources, errors, latency, memory leaks, critical and high
events."""

from __future__ import annotations

from globalmon import conventions as c
from globalmon.conventions import AlertName
from globalmon.spec.types import duration_seconds
from rules_generator.context import Place, num, sel
from rules_generator.model import Alert, Case, Group, Recording, Series
from rules_generator.rules.common import (
    SLOW_P95,
    counter,
    error_traffic,
    latency_buckets,
    minutes,
    steady,
)


def plugin_rules(place: Place) -> list[Group]:
    assert place.region is not None
    assert place.plugin is not None
    r, p = place.region.id, place.plugin.id
    t = place.thresholds
    own = {"job": c.JOB_PLUGIN_EXPORTER, "region": r, "plugin": p}
    series_labels = {**own, "instance": "test-host:9465"}
    labels = {"region": r, "plugin": p}
    dashboard = f"{c.DASH_PLUGIN}?var-region={r}&var-plugin={p}"
    req, err = sel(c.PLUGIN_REQUESTS.name, **own), sel(c.PLUGIN_ERRORS.name, **own)
    buckets = sel(c.PLUGIN_RESPONSE_TIME.name + "_bucket", **own)
    recordings = (
        Recording(
            c.RECORD_PLUGIN_ERROR_RATIO, f"sum(rate({err}[5m])) / sum(rate({req}[5m]))", labels
        ),
        Recording(
            c.RECORD_PLUGIN_LATENCY_P95,
            f"histogram_quantile(0.95, sum by (le) (rate({buckets}[5m])))",
            labels,
        ),
    )

    def at(name: str, extra: int = 3) -> int:
        return minutes(place.setting(name)[2]) + extra

    def gauge(name: str, metric: str, level: float, what: str) -> Alert | None:
        when = at(name)
        s = sel(metric, **series_labels)
        return place.alert(
            name,
            f"{sel(metric, **own)} > {num(level)}",
            summary=f"Plugin {p} {what} is high in {r}",
            description=f"{what.capitalize()} is {{{{ $value | humanizePercentage }}}} "
            f"(threshold {num(level * 100)}%).",
            dashboard=dashboard,
            cases=(
                Case(
                    "fires",
                    (Series(s, steady(level + 0.05, when + 2)),),
                    when,
                    dict(series_labels),
                    level + 0.05,
                ),
                Case("near miss", (Series(s, steady(level, when + 2)),), when),
            ),
        )

    ratio = t.error_rate_percent / 100
    when = at(AlertName.PLUGIN_ERROR_RATE_HIGH, 7)

    def traffic(err_ratio: float) -> tuple[Series, ...]:
        return error_traffic(
            c.PLUGIN_REQUESTS.name, c.PLUGIN_ERRORS.name, series_labels, err_ratio, when + 2
        )

    limit = duration_seconds(t.response_time)
    lat_at = at(AlertName.PLUGIN_RESPONSE_TIME_HIGH, 7)

    def latency(slow: bool) -> tuple[Series, ...]:
        name = c.PLUGIN_RESPONSE_TIME.name + "_bucket"
        return latency_buckets(name, series_labels, limit, slow=slow, samples=lat_at + 2)

    alerts = [
        gauge(AlertName.PLUGIN_CPU_HIGH, c.PLUGIN_CPU.name, t.cpu_percent / 100, "CPU usage"),
        gauge(
            AlertName.PLUGIN_MEMORY_HIGH,
            c.PLUGIN_MEMORY_USAGE.name,
            t.memory_percent / 100,
            "memory usage",
        ),
        place.alert(
            AlertName.PLUGIN_ERROR_RATE_HIGH,
            f"{sel(c.RECORD_PLUGIN_ERROR_RATIO, **labels)} > {num(ratio)}",
            summary=f"Plugin {p} fails too many requests in {r}",
            description=f"{{{{ $value | humanizePercentage }}}} of requests fail "
            f"(threshold {num(t.error_rate_percent)}%).",
            dashboard=dashboard,
            cases=(
                Case("fires", traffic(ratio + 0.05), when, dict(labels), ratio + 0.05),
                Case("near miss", traffic(max(ratio - 0.01, 0)), when),
            ),
        ),
        place.alert(
            AlertName.PLUGIN_RESPONSE_TIME_HIGH,
            f"{sel(c.RECORD_PLUGIN_LATENCY_P95, **labels)} > {num(limit)}",
            summary=f"Plugin {p} is slow in {r}",
            description=f"p95 response time is {{{{ $value | humanizeDuration }}}} "
            f"(threshold {t.response_time}).",
            dashboard=dashboard,
            cases=(
                Case("fires", latency(True), lat_at, dict(labels), SLOW_P95 * limit),
                Case("near miss", latency(False), lat_at),
            ),
        ),
        _leak(place, own, series_labels, dashboard),
        _event_alert(
            place, own, series_labels, dashboard, AlertName.PLUGIN_CRITICAL_EVENT, "critical"
        ),
        _event_alert(
            place, own, series_labels, dashboard, AlertName.PLUGIN_HIGH_SEVERITY_EVENT, "high"
        ),
    ]
    return [Group(f"{c.GROUP_PLUGINS}.{p}", (*recordings, *(a for a in alerts if a)))]


def _leak(
    place: Place, own: dict[str, str], series_labels: dict[str, str], dashboard: str
) -> Alert | None:
    """Steady growth: rising over 30m, and 20% above the lowest point of the last hour."""
    m = c.PLUGIN_MEMORY.name
    s, series = sel(m, **own), sel(m, **series_labels)
    when = 60 + minutes(place.setting(AlertName.PLUGIN_MEMORY_LEAK)[2]) + 5
    step = 2_000_000  # bytes a minute
    return place.alert(
        AlertName.PLUGIN_MEMORY_LEAK,
        f"deriv({s}[30m]) > 0 and {s} > 1.2 * min_over_time({s}[1h])",
        summary=f"Plugin {own['plugin']} leaks memory in {own['region']}",
        description="Memory grows by {{ $value | humanize }}B/s without coming back down.",
        dashboard=dashboard,
        cases=(
            Case(
                "fires",
                (Series(series, counter(step, when + 2, start=100_000_000)),),
                when,
                dict(series_labels),
                step / 60,
            ),
            Case("near miss", (Series(series, steady(100_000_000, when + 2)),), when),
        ),
    )


def _event_alert(
    place: Place,
    own: dict[str, str],
    series_labels: dict[str, str],
    dashboard: str,
    name: str,
    severity: str,
) -> Alert | None:
    """An event of ``severity`` in the last 5 minutes (the seed design's routing: critical
    events page, high ones take the warning route). The exporter creates a (type, severity)
    series with the first such event, and increase() needs two samples, so a series that is new
    in the last 5 minutes counts too (``unless ... offset``)."""
    m = c.PLUGIN_EVENTS.name
    labels = {**series_labels, "severity": severity, "type": "test-event"}
    series = sel(m, **labels)
    events = sel(m, **own, severity=severity)
    when = 6
    return place.alert(
        name,
        f"increase({events}[5m]) > 0 or ({events} unless {events} offset 5m)",
        summary=f"Plugin {own['plugin']} reported a {severity} event",
        description=f"A {severity} {{{{ $labels.type }}}} event; see the plugin's events for "
        "details.",
        dashboard=dashboard,
        cases=(
            Case("fires", (Series(series, "0 0 0 1 1 1 1 1 1"),), when, labels, 0.0),
            Case(
                "fires on a new series", (Series(series, "_ _ _ 1 1 1 1 1 1"),), when, labels, 1.0
            ),
            Case("near miss", (Series(series, steady(1, 8)),), when),
        ),
    )
