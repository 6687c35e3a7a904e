"""Services with their dependencies and SLOs, and plugins."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field, model_validator

from globalmon.conventions import AlertName
from globalmon.spec.alerting import AlertOverrides, PluginThresholds, ServiceThresholds
from globalmon.spec.types import Duration, Id, PluginId, PromQL, StrictModel

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


class ServiceMetrics(StrictModel):
    """Selectors of a service's own request metrics; the defaults are globalmon's conventions."""

    requests: PromQL | None = Field(
        None,
        description="Counter selector of all requests (default: globalmon_service_requests_total"
        '{service="NAME"}).',
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
        description="Region ids the service runs in; all regions when omitted.",
        examples=[["us-east-1", "eu-west-1"]],
    )
    depends_on: list[str] = Field(
        default_factory=list,
        description="Services this one calls; their alerts inhibit this one's symptom alerts.",
        examples=[["db", "cache"]],
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
        description="Regions the plugin reports from; all regions when omitted.",
        examples=[["us-east-1"]],
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
