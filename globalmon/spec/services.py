"""Services with their dependencies and SLOs, and plugins."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import AfterValidator, Field, model_validator

from globalmon.conventions import AlertName
from globalmon.spec.alerting import AlertOverrides, PluginThresholds, ServiceThresholds
from globalmon.spec.types import Duration, HostPort, Id, PluginId, PromQL, StrictModel

WINDOW_PLACEHOLDER = "{{window}}"


class EventsSli(StrictModel):
    """An SLI as two counter queries; `{{window}}` is replaced by each burn-rate window."""

    kind: Literal["events"] = Field(description="SLI kind.", examples=["events"])
    good: PromQL = Field(
        description="Rate of good events over `{{window}}`.",
        examples=['sum(rate(http_requests_total{job="api",code!~"5.."}[{{window}}]))'],
    )
    total: PromQL = Field(
        description="Rate of all events over `{{window}}`.",
        examples=['sum(rate(http_requests_total{job="api"}[{{window}}]))'],
    )

    @model_validator(mode="after")
    def _windowed(self) -> EventsSli:
        for name in ("good", "total"):
            if WINDOW_PLACEHOLDER not in getattr(self, name):
                raise ValueError(f"{name} to contain the {WINDOW_PLACEHOLDER} placeholder")
        return self


class AvailabilitySli(StrictModel):
    """Built-in SLI: the share of the service's requests that did not fail."""

    kind: Literal["availability"] = Field(description="SLI kind.", examples=["availability"])


class LatencySli(StrictModel):
    """Built-in SLI: the share of the service's requests faster than a threshold."""

    kind: Literal["latency"] = Field(description="SLI kind.", examples=["latency"])
    threshold: Duration = Field(
        description="Requests faster than this are good; must be a histogram bucket bound.",
        examples=["300ms"],
    )


Sli = Annotated[EventsSli | AvailabilitySli | LatencySli, Field(discriminator="kind")]


class Slo(StrictModel):
    """A service level objective, alerted on with multi-window multi-burn-rate rules."""

    name: Id = Field(description="SLO name, the `slo` label.", examples=["availability"])
    objective: float = Field(
        gt=0,
        lt=100,
        description="Target percentage of good events over the window.",
        examples=[99.9],
    )
    window: Literal["7d", "28d", "30d"] = Field(
        "30d", description="Compliance window of the error budget.", examples=["28d"]
    )
    sli: Sli = Field(
        description="How good and total events are counted.", examples=[{"kind": "availability"}]
    )


class DnsSd(StrictModel):
    """Targets from DNS names (Prometheus' dns_sd_configs)."""

    names: list[str] = Field(
        min_length=1, description="DNS names to query.", examples=[["_http._tcp.api.internal"]]
    )
    type: Literal["SRV", "A", "AAAA"] = Field(
        "SRV", description="Record type; A and AAAA need a port.", examples=["A"]
    )
    port: int | None = Field(
        None, ge=1, le=65535, description="Port for A and AAAA records.", examples=[8080]
    )

    @model_validator(mode="after")
    def _port(self) -> DnsSd:
        if self.type != "SRV" and self.port is None:
            raise ValueError(f"a port for {self.type} records")
        return self


class KubernetesSd(StrictModel):
    """Targets from the region's Kubernetes API (Prometheus' kubernetes_sd_configs)."""

    role: Literal["endpoints", "endpointslice", "pod", "service"] = Field(
        "endpoints", description="What to discover.", examples=["pod"]
    )
    namespaces: list[str] = Field(
        default_factory=list, description="Namespaces; all when empty.", examples=[["shop"]]
    )
    selector: str | None = Field(
        None, description="Label selector of the discovered objects.", examples=["app=api"]
    )
    port: str | None = Field(None, description="Only the port of this name.", examples=["metrics"])


class ConsulSd(StrictModel):
    """Targets from a Consul catalog (Prometheus' consul_sd_configs)."""

    server: HostPort = Field(
        "localhost:8500", description="Consul agent address.", examples=["consul:8500"]
    )
    services: list[str] = Field(
        min_length=1, description="Consul service names.", examples=[["api"]]
    )
    tags: list[str] = Field(
        default_factory=list, description="Only instances with all these tags.", examples=[["v2"]]
    )


class _Sources(StrictModel):
    static: list[HostPort] = Field(
        default_factory=list, description="Fixed host:port targets.", examples=[["api-1:8080"]]
    )
    file_sd: list[str] = Field(
        default_factory=list,
        description="Files of targets Prometheus watches (file_sd_configs).",
        examples=[["/etc/prometheus/targets/api-*.json"]],
    )
    dns: DnsSd | None = Field(
        None, description="Targets from DNS.", examples=[{"names": ["_http._tcp.api.internal"]}]
    )
    kubernetes: KubernetesSd | None = Field(
        None,
        description="Targets from Kubernetes.",
        examples=[{"role": "pod", "namespaces": ["shop"], "selector": "app=api"}],
    )
    consul: ConsulSd | None = Field(
        None, description="Targets from Consul.", examples=[{"services": ["api"]}]
    )

    def has_sources(self) -> bool:
        return bool(self.static or self.file_sd or self.dns or self.kubernetes or self.consul)


def _check_path(value: str) -> str:
    if not value.startswith("/") or any(c.isspace() for c in value):
        raise ValueError("an HTTP path starting with /, such as /metrics")
    return value


MetricsPath = Annotated[str, AfterValidator(_check_path)]


class ServiceTargets(_Sources):
    """A region's own targets of a service, instead of the ones for every region."""

    metrics_path: MetricsPath | None = Field(
        None, description="Path in this region, if not the service's.", examples=["/metrics"]
    )

    @model_validator(mode="after")
    def _some(self) -> ServiceTargets:
        if not self.has_sources():
            raise ValueError("at least one of static, file_sd, dns, kubernetes, consul")
        return self


class ServiceScrape(_Sources):
    """Where each region's Prometheus finds the service's metrics. The job is named after the
    service and sets the `region` and `service` labels the rules select on."""

    metrics_path: MetricsPath = Field(
        "/metrics", description="HTTP path of the metrics.", examples=["/metrics"]
    )
    scheme: Literal["http", "https"] = Field("http", description="Scheme.", examples=["https"])
    regions: dict[str, ServiceTargets] = Field(
        default_factory=dict,
        description="Per region id, targets that replace the ones above there.",
        examples=[{"eu-west-1": {"static": ["api-euw1-1:8080"]}}],
    )

    @model_validator(mode="after")
    def _some(self) -> ServiceScrape:
        if not self.has_sources() and not self.regions:
            raise ValueError("at least one of static, file_sd, dns, kubernetes, consul or regions")
        return self

    def targets_in(self, region: str) -> tuple[_Sources, str] | None:
        """The sources and metrics path in ``region``, or None if it names none there."""
        own = self.regions.get(region)
        if own is not None:
            return own, own.metrics_path or self.metrics_path
        return (self, self.metrics_path) if self.has_sources() else None


class ServiceMetrics(StrictModel):
    """Where a service's request signals are: a preset of a common instrumentation's names,
    selected by the `service` and `region` labels its scrape job sets, or explicit selectors
    (each one given replaces the preset's)."""

    preset: Literal["globalmon", "prometheus-http", "opentelemetry", "micrometer"] = Field(
        "globalmon",
        description="Metric names: globalmon (globalmon_service_*), prometheus-http "
        "(http_requests_total{code}, http_request_duration_seconds), opentelemetry "
        "(http_server_request_duration_seconds{http_response_status_code}), micrometer "
        "(http_server_requests_seconds{status}).",
        examples=["prometheus-http"],
    )

    requests: PromQL | None = Field(
        None,
        description="Counter selector of all requests (default: the preset's, with the "
        "service's `service` and `region` labels).",
        examples=['http_requests_total{job="api"}'],
    )
    errors: PromQL | None = Field(
        None,
        description="Counter selector of failed requests.",
        examples=['http_requests_total{job="api",code=~"5.."}'],
    )
    duration_buckets: PromQL | None = Field(
        None,
        description="Histogram bucket selector of request durations in seconds.",
        examples=['http_request_duration_seconds_bucket{job="api"}'],
    )


class Service(StrictModel):
    """A service running in one or more regions, with what it depends on."""

    name: Id = Field(description="Service name, the `service` label.", examples=["api"])
    regions: list[str] | None = Field(
        None,
        description="Region ids the service runs in; all regions when omitted (an empty list, "
        "a service that runs nowhere, is refused).",
        examples=[["us-east-1", "eu-west-1"]],
        min_length=1,
    )
    depends_on: list[str] = Field(
        default_factory=list,
        description="Services this one calls; their alerts inhibit this one's symptom alerts.",
        examples=[["db", "cache"]],
    )
    scrape: ServiceScrape | None = Field(
        None,
        description="Where Prometheus scrapes the service in each region; without it, the "
        "service's series must reach Prometheus some other way.",
        examples=[{"static": ["api-1:8080"], "metrics_path": "/metrics"}],
    )
    profile: Literal["standard", "fast"] = Field(
        "standard",
        description="fast: the service's own scrape job every second, its request, error and "
        "latency rules evaluated every second over windows and `for` sixty times shorter (5m "
        "becomes 5s), and its alerts sent by Alertmanager without a group wait: a breach reaches "
        "the webhook in seconds, not minutes, with the spec's production settings. Needs `scrape` "
        "(the rules read the service's own job). SLO burn-rate rules keep their windows.",
        examples=["fast"],
    )
    metrics: ServiceMetrics = Field(
        default_factory=ServiceMetrics,
        description="Where the service's request metrics are.",
        examples=[{"requests": 'http_requests_total{job="api"}'}],
    )
    thresholds: ServiceThresholds = Field(
        default_factory=ServiceThresholds,
        description="Threshold overrides for this service.",
        examples=[{"response_time": "300ms"}],
    )
    alerts: AlertOverrides = Field(
        default_factory=dict,
        description="Per-alert overrides for this service.",
        examples=[{AlertName.SERVICE_RESPONSE_TIME_HIGH: {"for": "10m"}}],
    )
    slos: list[Slo] = Field(
        default_factory=list,
        description="Service level objectives.",
        examples=[[{"name": "availability", "objective": 99.9, "sli": {"kind": "availability"}}]],
    )
    escalation_policy: str | None = Field(
        None, description="Escalation policy for this service's alerts.", examples=["standard"]
    )


class Plugin(StrictModel):
    """A plugin reporting to the plugin exporter."""

    id: PluginId = Field(
        description="Plugin id, the `plugin` label: letters, digits, _ and -.",
        examples=["payment-gateway"],
    )
    owner: str = Field(
        description="Team or person responsible.", examples=["team-payments"], min_length=1
    )
    description: str = Field("", description="What the plugin does.", examples=["Card payments"])
    regions: list[str] | None = Field(
        None,
        description="Regions the plugin reports from; all regions when omitted (an empty list "
        "is refused).",
        examples=[["us-east-1"]],
        min_length=1,
    )
    thresholds: PluginThresholds = Field(
        default_factory=PluginThresholds,
        description="Threshold overrides for this plugin.",
        examples=[{"error_rate_percent": 2}],
    )
    alerts: AlertOverrides = Field(
        default_factory=dict,
        description="Per-alert overrides for this plugin.",
        examples=[{AlertName.PLUGIN_MEMORY_LEAK: {"enabled": False}}],
    )
    escalation_policy: str | None = Field(
        None, description="Escalation policy for this plugin's alerts.", examples=["payments"]
    )
