"""Security and meta-monitoring: auth failures, rate limits, ingest rejections, the Watchdog,
globalmon components down, stale forecasts, failing rules and notifications."""

from __future__ import annotations

from globalmon import conventions as c
from globalmon.conventions import AlertName
from rules_generator.context import Place, sel
from rules_generator.model import Alert, Case, Group, Series
from rules_generator.rules.common import counter, minutes, steady

COMPONENT = {"job": c.JOB_PLUGIN_EXPORTER, "instance": "test-host:9465"}


def _increase(
    place: Place, name: str, metric: str, what: str, r: str, extra: dict[str, str]
) -> Alert | None:
    when = minutes(place.setting(name)[2]) + 6
    labels = {**COMPONENT, "region": r, **extra}
    series = sel(metric, **labels)
    return place.alert(
        name,
        f"sum by (job, instance) (increase({sel(metric, region=r)}[5m])) > 10",
        summary=f"{what} at {{{{ $labels.job }}}} in {r}",
        description=f"{{{{ $value | humanize }}}} {what.lower()} in the last 5 minutes.",
        dashboard=f"{c.DASH_INCIDENTS}?var-region={r}",
        cases=(
            Case(
                "fires",
                (Series(series, counter(5, when + 2)),),
                when,
                {"job": COMPONENT["job"], "instance": COMPONENT["instance"]},
                25.0,
            ),
            Case("near miss", (Series(series, counter(2, when + 2)),), when),
        ),
    )


def security_rules(place: Place) -> list[Group]:
    assert place.region is not None
    r = place.region.id
    alerts = (
        _increase(
            place,
            AlertName.SECURITY_AUTH_FAILURES,
            c.HTTP_AUTH_FAILURES.name,
            "Authentication failures",
            r,
            {"component": "ingest"},
        ),
        _increase(
            place,
            AlertName.SECURITY_RATE_LIMITED,
            c.HTTP_RATE_LIMITED.name,
            "Rate-limited requests",
            r,
            {"component": "ingest"},
        ),
        _increase(
            place,
            AlertName.SECURITY_INGEST_REJECTED,
            c.INGEST_REJECTED.name,
            "Rejected ingest requests",
            r,
            {"reason": "invalid"},
        ),
    )
    return [Group(c.GROUP_SECURITY, tuple(a for a in alerts if a))]


def watchdog(place: Place) -> Alert | None:
    return place.alert(
        AlertName.WATCHDOG,
        "vector(1)",
        summary="The alert pipeline works",
        description="Always firing. Route it to a dead man's switch: silence means the "
        "pipeline is broken.",
        dashboard=c.DASH_OVERVIEW,
        # Always firing by design: it has no near miss.
        cases=(Case("fires", (), 1, {}, 1.0),),
    )


def notifications_failing(place: Place, region: str) -> Alert | None:
    """Alertmanager failing to deliver, from whichever Prometheus scrapes the Alertmanagers."""
    return failures_alert(
        place,
        AlertName.ALERTMANAGER_NOTIFICATIONS_FAILING,
        c.ALERTMANAGER_NOTIFY_FAILURES,
        c.JOB_ALERTMANAGER,
        "Notifications fail",
        region,
    )


def _down(place: Place, name: str, job: str, what: str, r: str) -> Alert | None:
    labels = {"job": job, "instance": "test-host:9000", "region": r}
    when = minutes(place.setting(name)[2]) + 3
    series = sel("up", **labels)
    return place.alert(
        name,
        f"{sel('up', job=job, region=r)} == 0",
        summary=f"{what} is down in {r}",
        description=f"Prometheus cannot scrape {what} at {{{{ $labels.instance }}}}.",
        dashboard=f"{c.DASH_OVERVIEW}",
        cases=(
            Case("fires", (Series(series, steady(0, when + 2)),), when, labels, 0.0),
            Case("near miss", (Series(series, steady(1, when + 2)),), when),
        ),
    )


def watchdog_missing(place: Place, r: str) -> Alert | None:
    """The dead man's switch on the webhook's side: the region's Watchdog stopped arriving, or
    never arrived at a webhook that has been up all along. The webhook's gauge carries the
    Watchdog's region; scraped under this region's target labels it is ``exported_region``."""
    if not place.setting(AlertName.WATCHDOG)[0]:
        return None  # no Watchdog is sent, so none can go missing
    gauge = c.WEBHOOK_WATCHDOG.name
    last = sel(gauge, job=c.JOB_WEBHOOK, exported_region=r)
    up = sel("up", job=c.JOB_WEBHOOK, region=r)
    after = c.WATCHDOG_MISSING_AFTER_SECONDS
    when = minutes(place.setting(AlertName.WATCHDOG_MISSING)[2]) + after // 60 + 2
    target = {"job": c.JOB_WEBHOOK, "instance": "test-host:9466", "region": r}
    seen = {**target, "exported_region": r}
    return place.alert(
        AlertName.WATCHDOG_MISSING,
        f"time() - {last} > {after} or ({up} == 1 unless on () {last})",
        summary=f"The Watchdog of {r} no longer reaches the webhook",
        description="No Watchdog from this region has reached the webhook for over "
        f"{after // 60} minutes: alerts from {r} may not be reaching anyone through it. This "
        "alert also goes from Alertmanager straight to the meta receivers.",
        dashboard=c.DASH_OVERVIEW,
        cases=(
            # arrived once, at 0, then stopped
            Case(
                "stopped",
                (
                    Series(sel(gauge, **seen), steady(0, when + 2)),
                    Series(sel("up", **target), steady(1, when + 2)),
                ),
                when,
                seen,
                when * 60.0,
            ),
            Case(
                "never arrived",
                (Series(sel("up", **target), steady(1, when + 2)),),
                when,
                target,
                1.0,
            ),
            # arriving every minute (the gauge is the time it last arrived)
            Case(
                "near miss",
                (
                    Series(sel(gauge, **seen), counter(60, when + 2)),
                    Series(sel("up", **target), steady(1, when + 2)),
                ),
                when,
            ),
        ),
    )


def meta_rules(place: Place, *, alertmanagers: bool) -> list[Group]:
    """Meta-monitoring of one region; ``alertmanagers``: this Prometheus scrapes them."""
    assert place.region is not None
    r = place.region.id
    stale_labels = {"job": c.JOB_SIDECAR, "instance": "test-host:9000", "region": r}
    stale = sel(c.FORECASTER_LAST_SUCCESS.name, **stale_labels)
    alerts: list[Alert | None] = [
        watchdog(place),
        _down(place, AlertName.EXPORTER_DOWN, c.JOB_PLUGIN_EXPORTER, "the plugin exporter", r),
        _down(place, AlertName.FORECASTER_DOWN, c.JOB_SIDECAR, "the forecaster sidecar", r),
        _down(place, AlertName.WEBHOOK_DOWN, c.JOB_WEBHOOK, "the alert webhook", r),
        watchdog_missing(place, r),
        place.alert(
            AlertName.FORECASTS_STALE,
            f"time() - {sel(c.FORECASTER_LAST_SUCCESS.name, region=r)} > 900",
            summary=f"Forecasts in {r} are not being refreshed",
            description="The sidecar's last good run was {{ $value | humanizeDuration }} ago.",
            dashboard=c.DASH_CAPACITY,
            cases=(
                Case("fires", (Series(stale, steady(0, 22)),), 20, stale_labels, 1200.0),
                Case("near miss", (Series(stale, counter(60, 22)),), 20),
            ),
        ),
        failures_alert(
            place,
            AlertName.RULE_EVALUATION_FAILURES,
            c.PROMETHEUS_RULE_FAILURES,
            c.JOB_PROMETHEUS,
            "Rule evaluations fail",
            r,
        ),
    ]
    if alertmanagers:
        alerts.append(notifications_failing(place, r))
    return [Group(c.GROUP_META, tuple(a for a in alerts if a))]


def failures_alert(
    place: Place, name: str, metric: str, job: str, what: str, r: str
) -> Alert | None:
    labels = {"job": job, "instance": "test-host:9090", "region": r}
    series = sel(metric, **labels)
    return place.alert(
        name,
        f"increase({sel(metric, job=job, region=r)}[5m]) > 0",
        summary=f"{what} in {r}",
        description=f"{what} at {{{{ $labels.instance }}}}; check its logs.",
        dashboard=c.DASH_OVERVIEW,
        cases=(
            Case("fires", (Series(series, "0 0 0 1 1 1 1 1 1"),), 5, labels, 0.0),
            Case("near miss", (Series(series, steady(3, 8)),), 5),
        ),
    )
