"""Regions and the agents that run in them, with their watched processes and probes."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field

from globalmon.conventions import AlertName
from globalmon.spec.alerting import AlertOverrides, RegionThresholds
from globalmon.spec.types import Duration, HostPort, Id, Labels, StrictModel, Url

AgentType = Literal["system", "application", "database", "network"]


class ProcessGroup(StrictModel):
    """Processes an agent watches as one group (like process-exporter's groups)."""

    name: Id = Field(description="Group name, the `group` label.", examples=["nginx"])
    match: str = Field(
        description="Regular expression matched against the process' command line.",
        examples=["^/usr/sbin/nginx"],
        min_length=1,
    )
    min_count: int = Field(
        1, ge=0, description="Fewer processes than this counts as down.", examples=[2]
    )


class HttpProbe(StrictModel):
    """An HTTP check the agent runs (like blackbox_exporter's http module)."""

    type: Literal["http"] = Field(description="Probe kind.", examples=["http"])
    name: Id = Field(description="Probe name, the `probe` label.", examples=["web-health"])
    url: Url = Field(description="URL to request.", examples=["http://127.0.0.1:8080/healthz"])
    method: Literal["GET", "HEAD", "POST"] = Field(
        "GET", description="HTTP method.", examples=["HEAD"]
    )
    expect_status: list[Annotated[int, Field(ge=100, le=599)]] = Field(
        default_factory=lambda: [200],
        min_length=1,
        description="Status codes that count as success.",
        examples=[[200, 204]],
    )
    interval: Duration = Field("15s", description="Time between probes.", examples=["15s"])
    timeout: Duration = Field("5s", description="Give up after this long.", examples=["5s"])


class TcpProbe(StrictModel):
    """A TCP connect check the agent runs."""

    type: Literal["tcp"] = Field(description="Probe kind.", examples=["tcp"])
    name: Id = Field(description="Probe name, the `probe` label.", examples=["db-port"])
    address: HostPort = Field(
        description="host:port to connect to.",
        examples=["127.0.0.1:5432"],
    )
    interval: Duration = Field("15s", description="Time between probes.", examples=["30s"])
    timeout: Duration = Field("5s", description="Give up after this long.", examples=["3s"])


Probe = Annotated[HttpProbe | TcpProbe, Field(discriminator="type")]


class Agent(StrictModel):
    """One agent exporter, deployed next to what it watches."""

    id: Id = Field(description="Unique agent id, the `agent` label.", examples=["use1-web-01"])
    type: AgentType = Field(description="What the agent watches.", examples=["system"])
    address: HostPort = Field(
        description="host:port where Prometheus scrapes the agent's exporter.",
        examples=["10.0.1.10:9464"],
    )
    node_exporter: HostPort | None = Field(
        None,
        description="host:port of a node_exporter on the agent's host. Prometheus scrapes it "
        "(job `node`, with the agent's region, agent and agent_type labels) and the host rules "
        "and boards read its series for this agent instead of the agent's own host metrics.",
        examples=["10.0.1.10:9100"],
    )
    labels: Labels = Field(
        default_factory=dict,
        description="Extra target labels for this agent.",
        examples=[{"rack": "a1"}],
    )
    processes: list[ProcessGroup] = Field(
        default_factory=list,
        description="Process groups to watch.",
        examples=[[{"name": "nginx", "match": "^nginx"}]],
    )
    probes: list[Probe] = Field(
        default_factory=list,
        description="HTTP and TCP probes to run.",
        examples=[[{"type": "tcp", "name": "db-port", "address": "127.0.0.1:5432"}]],
    )


class RegionEndpoints(StrictModel):
    """Where the region's globalmon components listen, for its Prometheus to scrape."""

    plugin_exporter: HostPort | None = Field(
        None, description="The plugin exporter's host:port.", examples=["127.0.0.1:19500"]
    )
    sidecar: HostPort | None = Field(
        None, description="The forecaster sidecar's host:port.", examples=["127.0.0.1:19600"]
    )
    registry_url: Url | None = Field(
        None,
        description="The agent registry's http_sd endpoint; registered agents are scraped too.",
        examples=["http://127.0.0.1:19500/api/v1/registry/targets"],
    )


class Region(StrictModel):
    """A region: its Prometheus, its agents, and threshold or alert overrides."""

    id: Id = Field(description="Region id, the `region` label.", examples=["us-east-1"])
    name: str = Field(
        description="Display name for dashboards.", examples=["US East (N. Virginia)"], min_length=1
    )
    prometheus_urls: list[Url] = Field(
        min_length=1,
        description="The region's Prometheus server(s); more than one means an HA pair.",
        examples=[["http://prometheus-us-east-1:9090"]],
    )
    external_labels: Labels = Field(
        default_factory=dict,
        description="Extra external labels of the region's Prometheus (`region` is always set).",
        examples=[{"cloud": "aws"}],
    )
    agents: list[Agent] = Field(
        default_factory=list,
        description="Agent exporters in this region.",
        examples=[[{"id": "use1-web-01", "type": "system", "address": "10.0.1.10:9464"}]],
    )
    endpoints: RegionEndpoints = Field(
        default_factory=RegionEndpoints,
        description="The region's plugin exporter, sidecar and agent registry.",
        examples=[{"plugin_exporter": "127.0.0.1:19500", "sidecar": "127.0.0.1:19600"}],
    )
    thresholds: RegionThresholds = Field(
        default_factory=RegionThresholds,
        description="Threshold overrides for everything in this region.",
        examples=[{"cpu_percent": 75}],
    )
    alerts: AlertOverrides = Field(
        default_factory=dict,
        description="Per-alert overrides for this region.",
        examples=[{AlertName.HOST_CPU_HIGH: {"severity": "critical"}}],
    )
    escalation_policy: str | None = Field(
        None,
        description="Escalation policy for this region's alerts, instead of the default.",
        examples=["follow-the-sun"],
    )
