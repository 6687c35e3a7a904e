"""Per-service request rate, error ratio and latency, and their alerts, in one region."""

from __future__ import annotations

from globalmon import conventions as c
from globalmon.conventions import AlertName
from globalmon.spec.services import Service
from globalmon.spec.types import duration_seconds
from rules_generator.context import Place, num, sel
from rules_generator.model import Alert, Case, Group, Recording, Series
from rules_generator.rules.common import SLOW_P95, error_traffic, latency_buckets, minutes


def with_matcher(selector: str, name: str, value: str) -> str:
    """Add ``name="value"`` to a plain selector: ``x{a="b"}`` -> ``x{a="b",le="1"}``."""
    selector = selector.strip()
    if selector.endswith("}"):
        inner = selector[selector.index("{") + 1 : -1].strip()
        sep = "," if inner and not inner.endswith(",") else ""
        return f'{selector[:-1]}{sep}{name}="{value}"}}'
    return f'{selector}{{{name}="{value}"}}'


def selectors(service: Service, region: str) -> tuple[str, str, str]:
    """(requests, errors, duration buckets) selectors: the spec's, else its preset's names
    with the `service` and `region` labels."""
    m = service.metrics
    p = c.METRIC_PRESETS[m.preset]
    own = {"service": service.name, "region": region}
    errors = sel(p.errors, **own)
    if p.error_matcher:
        errors = errors[:-1] + "," + p.error_matcher + "}"
    return (
        m.requests or sel(p.requests, **own),
        m.errors or errors,
        m.duration_buckets or sel(p.buckets, **own),
    )


def uses_default_metrics(service: Service) -> bool:
    """Whether the service's signals are globalmon's own names (the generated tests feed those)."""
    m = service.metrics
    explicit = m.requests or m.errors or m.duration_buckets
    return m.preset == "globalmon" and not explicit


def service_rules(place: Place) -> list[Group]:
    assert place.region is not None
    assert place.service is not None
    r, s = place.region.id, place.service.name
    req, err, buckets = selectors(place.service, r)
    labels = {"region": r, "service": s}
    recordings = (
        Recording(c.RECORD_SERVICE_REQUEST_RATE, f"sum(rate({req}[5m]))", labels),
        Recording(
            c.RECORD_SERVICE_ERROR_RATIO, f"sum(rate({err}[5m])) / sum(rate({req}[5m]))", labels
        ),
        Recording(
            c.RECORD_SERVICE_LATENCY_P95,
            f"histogram_quantile(0.95, sum by (le) (rate({buckets}[5m])))",
            labels,
        ),
    )
    alerts = (_error_alert(place, labels), _latency_alert(place, labels))
    return [Group(f"{c.GROUP_SERVICES}.{s}", (*recordings, *(a for a in alerts if a)))]


def _inputs(place: Place) -> tuple[str, str, str] | None:
    """Series names for test inputs, when the service uses globalmon's metric names."""
    assert place.service is not None
    if not uses_default_metrics(place.service):
        return None
    return (c.SERVICE_REQUESTS.name, c.SERVICE_ERRORS.name, c.SERVICE_DURATION.name + "_bucket")


def _error_alert(place: Place, labels: dict[str, str]) -> Alert | None:
    t = place.thresholds
    ratio = t.error_rate_percent / 100
    at = minutes(place.setting(AlertName.SERVICE_ERROR_RATE_HIGH)[2]) + 7
    dashboard = f"{c.DASH_SERVICE}?var-region={labels['region']}&var-service={labels['service']}"
    expr = f"{sel(c.RECORD_SERVICE_ERROR_RATIO, **labels)} > {num(ratio)}"
    names = _inputs(place)
    cases: tuple[Case, ...] = ()
    if names:
        own = {"job": "api", "instance": "test-host:8080", **labels}

        def inputs(err_ratio: float) -> tuple[Series, ...]:
            return error_traffic(names[0], names[1], own, err_ratio, at + 2)

        fire = ratio + 0.05
        cases = (
            Case("fires", inputs(fire), at, dict(labels), fire),
            Case("near miss", inputs(max(ratio - 0.01, 0)), at),
        )
    else:  # custom selectors: feed the recorded ratio, which the custom rules leave alone
        series = sel(c.RECORD_SERVICE_ERROR_RATIO, **labels)
        cases = (
            Case(
                "fires",
                (Series(series, f"{num(ratio + 0.05)}x{at + 2}"),),
                at,
                dict(labels),
                ratio + 0.05,
            ),
            Case("near miss", (Series(series, f"{num(ratio)}x{at + 2}"),), at),
        )
    return place.alert(
        AlertName.SERVICE_ERROR_RATE_HIGH,
        expr,
        summary=f"Service {labels['service']} fails too many requests in {labels['region']}",
        description=f"{{{{ $value | humanizePercentage }}}} of requests fail "
        f"(threshold {num(t.error_rate_percent)}%).",
        dashboard=dashboard,
        cases=cases,
    )


def _latency_alert(place: Place, labels: dict[str, str]) -> Alert | None:
    t = place.thresholds
    limit = duration_seconds(t.response_time)
    at = minutes(place.setting(AlertName.SERVICE_RESPONSE_TIME_HIGH)[2]) + 7
    dashboard = f"{c.DASH_SERVICE}?var-region={labels['region']}&var-service={labels['service']}"
    expr = f"{sel(c.RECORD_SERVICE_LATENCY_P95, **labels)} > {num(limit)}"
    names = _inputs(place)
    if names:
        own = {"job": "api", "instance": "test-host:8080", **labels}

        def buckets(slow: bool) -> tuple[Series, ...]:
            return latency_buckets(names[2], own, limit, slow=slow, samples=at + 2)

        cases = (
            Case("fires", buckets(True), at, dict(labels), SLOW_P95 * limit),
            Case("near miss", buckets(False), at),
        )
    else:
        series = sel(c.RECORD_SERVICE_LATENCY_P95, **labels)
        cases = (
            Case(
                "fires",
                (Series(series, f"{num(2 * limit)}x{at + 2}"),),
                at,
                dict(labels),
                2 * limit,
            ),
            Case("near miss", (Series(series, f"{num(limit)}x{at + 2}"),), at),
        )
    return place.alert(
        AlertName.SERVICE_RESPONSE_TIME_HIGH,
        expr,
        summary=f"Service {labels['service']} is slow in {labels['region']}",
        description=f"p95 response time is {{{{ $value | humanizeDuration }}}} "
        f"(threshold {t.response_time}).",
        dashboard=dashboard,
        cases=cases,
    )
