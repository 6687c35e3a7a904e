"""The region spec, version 1: the root model every part of globalmon reads."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Annotated, Literal

from pydantic import Field, StringConstraints, model_validator

from globalmon.conventions import ALERTS, AlertName
from globalmon.spec.alerting import AlertOverrides, Thresholds
from globalmon.spec.forecast import Forecast
from globalmon.spec.notify import EscalationPolicy, Receiver
from globalmon.spec.recovery import RecoveryAction
from globalmon.spec.services import Plugin, Service
from globalmon.spec.timescale import scale_windows
from globalmon.spec.topology import Agent, Region
from globalmon.spec.types import (
    Duration,
    Id,
    Labels,
    Secret,
    StrictModel,
    Url,
    duration_seconds,
    format_duration,
)

DEFAULT_RETENTION = "15d"


class WebhookToken(StrictModel):
    """A named credential of the alert webhook: the identity its actions are recorded under,
    and what its role may do."""

    name: Id = Field(
        description="Who holds it (a person or a system): the identity in the audit trail.",
        examples=["alice"],
    )
    role: Literal["sender", "viewer", "operator", "approver", "admin"] = Field(
        description="sender: POST /webhook only (Alertmanager); viewer: read incidents and "
        "actions; operator: also acknowledge, unacknowledge, resolve, annotate; approver: read "
        "and approve or reject actions; admin: everything.",
        examples=["operator"],
    )
    secret: Secret | None = Field(
        None,
        description="Where the token is read at start (env or file); one of secret and sha256.",
        examples=[{"env": "ALICE_TOKEN"}],
    )
    sha256: Annotated[str, StringConstraints(pattern=r"^[0-9a-fA-F]{64}$")] | None = Field(
        None,
        description="The token's SHA-256 in hex, so the spec holds no token at all "
        "(`printf %s TOKEN | sha256sum`); one of secret and sha256.",
        examples=["9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08"],
    )

    @model_validator(mode="after")
    def _one_source(self) -> WebhookToken:
        if (self.secret is None) == (self.sha256 is None):
            raise ValueError("exactly one of secret and sha256")
        return self


class Credentials(StrictModel):
    """Where globalmon's own tokens come from; generated configs reference, never inline them."""

    webhook_token: Secret | None = Field(
        None,
        description="Bearer token Alertmanager sends to the alert webhook.",
        examples=[{"file": "/etc/globalmon/webhook.token"}],
    )
    ingest_token: Secret | None = Field(
        None,
        description="Bearer token plugins send to the plugin exporter.",
        examples=[{"env": "GLOBALMON_INGEST_TOKEN"}],
    )
    registry_token: Secret | None = Field(
        None,
        description="Bearer token agents send to the agent registry.",
        examples=[{"env": "GLOBALMON_REGISTRY_TOKEN"}],
    )
    webhook_tokens: list[WebhookToken] = Field(
        default_factory=list,
        description="Named credentials of the alert webhook, each with a role; webhook_token "
        "stays the shared admin token (Alertmanager's, when it is the only one).",
        examples=[[{"name": "alice", "role": "operator", "secret": {"env": "ALICE_TOKEN"}}]],
    )
    open_reads: bool = Field(
        False,
        description="Let anyone read the plugin exporter's API and the registry's agent lists. "
        "By default a read needs a named credential whose role may read (viewer, operator, "
        "approver, admin) or the component's own token (ingest_token, registry_token); "
        "/metrics and /-/healthy stay open either way.",
        examples=[True],
    )

    def alertmanager_secret(self) -> Secret | None:
        """The token Alertmanager sends to the webhook: the shared one, else the first named
        sender's (or admin's) with a readable secret."""
        if self.webhook_token:
            return self.webhook_token
        senders = (t for t in self.webhook_tokens if t.role in ("sender", "admin") and t.secret)
        return next((t.secret for t in senders), None)


class GlobalView(StrictModel):
    """How the regions' series reach the global Prometheus."""

    mode: Literal["federation", "remote_write"] = Field(
        "federation",
        description="The global Prometheus federates the regions, or receives their remote write.",
        examples=["remote_write"],
    )
    url: Url = Field(
        description=(
            "The global Prometheus base URL; for remote_write, a URL ending in /api/v1/write,"
            " /api/v1/receive (Thanos Receive) or /api/v1/push (Mimir) is used as it is."
        ),
        examples=["http://prometheus-global:9090", "http://mimir:8080/api/v1/push"],
    )


class NotificationWaits(StrictModel):
    """How long Alertmanager waits on every route, instead of the per-severity defaults."""

    group_wait: Duration = Field(
        description="Wait before the first notification of a new group.", examples=["1s"]
    )
    group_interval: Duration = Field(
        description="Wait before notifying of alerts added to a group already notified.",
        examples=["2s"],
    )


class GlobalSettings(StrictModel):
    """Settings shared by every region."""

    scrape_interval: Duration = Field("15s", description="Scrape interval.", examples=["15s"])
    evaluation_interval: Duration = Field(
        "15s", description="Rule evaluation interval.", examples=["15s"]
    )
    time_scale: int = Field(
        1,
        ge=1,
        le=3600,
        description="Divide every time window and offset in the generated rules and in the "
        "recovery actions' verify expressions by this, so that a stack scraping every second "
        "shows a fault and its recovery in seconds (a demo, a test of the alerting itself). "
        "Windows keep at least two scrape intervals. With a scale above 1 no promtool tests are "
        "generated: they are written for production time. Production: 1.",
        examples=[15],
    )
    retention: Duration | None = Field(
        None,
        description="How long each Prometheus keeps samples (--storage.tsdb.retention.time). "
        "At least the longest SLO window and the longest forecast history, or their rules and "
        "the sidecar read gaps. Default: the longest of those and 15d (Prometheus' own default).",
        examples=["35d"],
    )
    notification_waits: NotificationWaits | None = Field(
        None,
        description="Alertmanager's group_wait and group_interval on every route; default: "
        "per severity (critical 10s and 1m, warning 30s and 5m, info 1m and 10m).",
        examples=[{"group_wait": "1s", "group_interval": "2s"}],
    )
    external_labels: Labels = Field(
        default_factory=dict,
        description="External labels added in every region.",
        examples=[{"env": "prod"}],
    )
    alertmanager_urls: list[Url] = Field(
        default_factory=lambda: ["http://localhost:9093"],
        min_length=1,
        description="Alertmanager(s) every region sends to; more than one is an HA cluster.",
        examples=[["http://alertmanager-0:9093", "http://alertmanager-1:9093"]],
    )
    grafana_url: Url = Field(
        "http://localhost:3000",
        description="Base URL of Grafana, for dashboard links in alerts.",
        examples=["https://grafana.example.com"],
    )
    runbook_base_url: Url = Field(
        "https://runbooks.example.com/globalmon",
        description="Base URL of runbooks; an alert links to BASE/ALERTNAME.",
        examples=["https://github.com/acme/runbooks/blob/main/globalmon"],
    )
    webhook_url: Url = Field(
        "http://localhost:9466",
        description="Base URL of the globalmon alert webhook.",
        examples=["http://globalmon-webhook:9466"],
    )
    global_view: GlobalView | None = Field(
        None,
        description="A global Prometheus over all regions.",
        examples=[{"mode": "federation", "url": "http://prometheus-global:9090"}],
    )
    credentials: Credentials = Field(
        default_factory=Credentials,
        description="Where globalmon's own tokens come from.",
        examples=[{"webhook_token": {"file": "/etc/globalmon/webhook.token"}}],
    )
    escalation_policy: str | None = Field(
        None,
        description="Default escalation policy for alerts that name none.",
        examples=["standard"],
    )
    meta_receivers: list[str] | None = Field(
        None,
        description="Receivers Alertmanager notifies itself, not through the webhook, of the "
        "alerts about the alert path (WebhookDown, AlertmanagerNotificationsFailing, "
        "WatchdogMissing), so they arrive when the webhook is what is broken. Default: the "
        "receivers of the first step of the default escalation policy; [] sends them through "
        "the webhook only.",
        examples=[["oncall-email", "pagerduty-primary"]],
    )


class Defaults(StrictModel):
    """Alert defaults for the whole spec."""

    thresholds: Thresholds = Field(
        default_factory=Thresholds,
        description="Global thresholds (the defaults below when omitted).",
        examples=[{"cpu_percent": 80, "memory_percent": 85}],
    )
    alerts: AlertOverrides = Field(
        default_factory=dict,
        description="Per-alert overrides everywhere.",
        examples=[{AlertName.WATCHDOG: {"enabled": False}}],
    )


class Spec(StrictModel):
    """A globalmon region spec: regions, agents, services, plugins and how to alert on them."""

    version: Literal["v1"] = Field(description="Spec format version.", examples=["v1"])
    global_: GlobalSettings = Field(
        default_factory=GlobalSettings,
        alias="global",
        description="Intervals, URLs and credentials shared by every region.",
        examples=[{"scrape_interval": "15s"}],
    )
    defaults: Defaults = Field(
        default_factory=Defaults,
        description="Alert thresholds and overrides for everything.",
        examples=[{"thresholds": {"cpu_percent": 80}}],
    )
    regions: list[Region] = Field(
        min_length=1,
        description="The regions; at least one.",
        examples=[[{"id": "us-east-1", "name": "US East", "prometheus_urls": ["http://p:9090"]}]],
    )
    services: list[Service] = Field(
        default_factory=list,
        description="Services and their dependencies.",
        examples=[[{"name": "api", "depends_on": ["db"]}, {"name": "db"}]],
    )
    plugins: list[Plugin] = Field(
        default_factory=list,
        description="Plugins reporting to the plugin exporter.",
        examples=[[{"id": "payment-gateway", "owner": "team-payments"}]],
    )
    forecasts: list[Forecast] = Field(
        default_factory=list,
        description="Forecast targets for the sidecar.",
        examples=[[{"name": "disk", "expr": "globalmon_host_disk_used_bytes", "limit": 1e12}]],
    )
    receivers: list[Receiver] = Field(
        default_factory=list,
        description="Where notifications go.",
        examples=[[{"type": "webhook", "name": "ops", "url": "http://ops:8080/hook"}]],
    )
    escalation_policies: list[EscalationPolicy] = Field(
        default_factory=list,
        description="Escalation policies.",
        examples=[[{"name": "standard", "steps": [{"notify": ["ops"]}]}]],
    )
    recovery_actions: list[RecoveryAction] = Field(
        default_factory=list,
        description="Automatic recovery actions.",
        examples=[
            [
                {
                    "name": "restart-api",
                    "type": "docker_restart",
                    "matchers": ['alertname="ServiceErrorRateHigh"', 'service="api"'],
                    "container": "api",
                }
            ]
        ],
    )

    def agents(self) -> Iterator[tuple[Region, Agent]]:
        """Every agent with its region, in spec order."""
        for region in self.regions:
            for agent in region.agents:
                yield region, agent

    def scaled(self, expr: str) -> str:
        """``expr`` on the spec's time scale (``global.time_scale``), windows at least two
        scrape intervals."""
        g = self.global_
        floor = 2 * duration_seconds(g.scrape_interval)
        return scale_windows(expr, g.time_scale, floor)

    def retention_needed(self) -> tuple[float, str] | None:
        """How far back the rules and forecasts read: (seconds, what reads it), longest first;
        None without SLOs or forecasts."""
        reads = [
            (duration_seconds(o.window), f"the SLO window of {s.name}/{o.name}")
            for s in self.services
            for o in s.slos
        ]
        reads += [
            (duration_seconds(f.history), f"the history of forecast {f.name}")
            for f in self.forecasts
        ]
        return max(reads, key=lambda r: r[0], default=None)

    def retention(self) -> str:
        """Prometheus' --storage.tsdb.retention.time for this spec: ``global.retention``, else
        what the rules and forecasts read, at least Prometheus' default."""
        if self.global_.retention:
            return self.global_.retention
        needed = self.retention_needed()
        days = max(needed[0] if needed else 0, duration_seconds(DEFAULT_RETENTION)) / 86400
        return f"{days:.0f}d" if days == int(days) else format_duration(days * 86400)

    def enabled_alerts(self) -> list[str]:
        """Catalogue alerts not disabled in `defaults.alerts`, in catalogue order."""
        return [
            a.name for a in ALERTS if (o := self.defaults.alerts.get(a.name)) is None or o.enabled
        ]

    def summary(self) -> str:
        """One line: how many regions, agents, services, plugins, SLOs and alerts the spec holds."""
        slos = sum(len(s.slos) for s in self.services)
        counts = [
            (len(self.regions), "region"),
            (sum(1 for _ in self.agents()), "agent"),
            (len(self.services), "service"),
            (len(self.plugins), "plugin"),
            (slos, "SLO"),
            (len(self.enabled_alerts()), "alert"),
        ]
        return ", ".join(f"{n} {word}{'' if n == 1 else 's'}" for n, word in counts)
