"""The alert catalogue: every alert's name, severity, scope and default `for`.

Names are re-exported by globalmon/conventions.py, where every name globalmon uses is found.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Final


# --- alerts ------------------------------------------------------------------------------------
class Severity(StrEnum):
    """Alert severities, from most to least urgent."""

    CRITICAL = "critical"
    WARNING = "warning"
    INFO = "info"
    NONE = "none"  # the Watchdog: routed to the dead man's switch, never to people


class Scope(StrEnum):
    """Where in the spec an alert can be overridden besides the global defaults and regions."""

    HOST = "host"
    REGION = "region"
    SERVICE = "service"
    PLUGIN = "plugin"
    META = "meta"


class AlertName:
    """The name of every built-in alert: code names alerts through these, never in a string.

    Plain strings (not an Enum) because they land as they are in YAML, JSON and PromQL."""

    AGENT_HEARTBEAT_STALE: Final = "AgentHeartbeatStale"
    AGENT_DOWN: Final = "AgentDown"
    HOST_CPU_HIGH: Final = "HostCpuHigh"
    HOST_MEMORY_HIGH: Final = "HostMemoryHigh"
    HOST_DISK_HIGH: Final = "HostDiskHigh"
    PROCESS_GROUP_DOWN: Final = "ProcessGroupDown"
    PROBE_FAILED: Final = "ProbeFailed"
    REGION_DEGRADED: Final = "RegionDegraded"
    REGION_FAILED: Final = "RegionFailed"
    REGION_NO_DATA: Final = "RegionNoData"
    REGIONS_FAILED_TOGETHER: Final = "RegionsFailedTogether"
    SERVICE_RESPONSE_TIME_HIGH: Final = "ServiceResponseTimeHigh"
    SERVICE_ERROR_RATE_HIGH: Final = "ServiceErrorRateHigh"
    SLO_ERROR_BUDGET_BURN_FAST: Final = "SLOErrorBudgetBurnFast"
    SLO_ERROR_BUDGET_BURN_SLOW: Final = "SLOErrorBudgetBurnSlow"
    CAPACITY_EXHAUSTION_SOON: Final = "CapacityExhaustionSoon"
    CAPACITY_EXHAUSTION_IMMINENT: Final = "CapacityExhaustionImminent"
    METRIC_ANOMALOUS: Final = "MetricAnomalous"
    PLUGIN_CPU_HIGH: Final = "PluginCpuHigh"
    PLUGIN_MEMORY_HIGH: Final = "PluginMemoryHigh"
    PLUGIN_ERROR_RATE_HIGH: Final = "PluginErrorRateHigh"
    PLUGIN_RESPONSE_TIME_HIGH: Final = "PluginResponseTimeHigh"
    PLUGIN_MEMORY_LEAK: Final = "PluginMemoryLeak"
    PLUGIN_CRITICAL_EVENT: Final = "PluginCriticalEvent"
    PLUGIN_HIGH_SEVERITY_EVENT: Final = "PluginHighSeverityEvent"
    SECURITY_AUTH_FAILURES: Final = "SecurityAuthFailures"
    SECURITY_RATE_LIMITED: Final = "SecurityRateLimited"
    SECURITY_INGEST_REJECTED: Final = "SecurityIngestRejected"
    WATCHDOG: Final = "Watchdog"
    WATCHDOG_MISSING: Final = "WatchdogMissing"
    EXPORTER_DOWN: Final = "ExporterDown"
    FORECASTER_DOWN: Final = "ForecasterDown"
    FORECASTS_STALE: Final = "ForecastsStale"
    WEBHOOK_DOWN: Final = "WebhookDown"
    RULE_EVALUATION_FAILURES: Final = "RuleEvaluationFailures"
    ALERTMANAGER_NOTIFICATIONS_FAILING: Final = "AlertmanagerNotificationsFailing"


# Alerts about the alert path itself: Alertmanager also sends these straight to the spec's meta
# receivers, so they arrive when the webhook is what is broken.
META_PATH_ALERTS = (
    AlertName.WEBHOOK_DOWN,
    AlertName.ALERTMANAGER_NOTIFICATIONS_FAILING,
    AlertName.WATCHDOG_MISSING,
)
# The Watchdog reaches the webhook every minute (its route's repeat interval): this many seconds
# without one means the path from Prometheus through Alertmanager to the webhook is broken.
WATCHDOG_MISSING_AFTER_SECONDS = 300


def alert_names() -> tuple[str, ...]:
    return tuple(v for k, v in vars(AlertName).items() if k.isupper())


@dataclass(frozen=True)
class AlertDef:
    """One alert of the built-in catalogue: its name, default severity, scope and `for`."""

    name: str
    severity: Severity
    scope: Scope
    summary: str
    for_: str = "5m"
    keep_firing_intervals: int = 0  # x (scrape + evaluation interval): its keep_firing_for


_N = AlertName
# `for` delays other than the 5m default: liveness reacts fast, slow trends wait longer.
_FOR = {
    _N.AGENT_HEARTBEAT_STALE: "0s",  # the rule itself waits heartbeat_stale_after
    _N.AGENT_DOWN: "1m",
    _N.PROCESS_GROUP_DOWN: "1m",
    _N.PROBE_FAILED: "2m",
    _N.REGION_DEGRADED: "1m",
    _N.REGION_FAILED: "1m",
    _N.REGION_NO_DATA: "2m",
    _N.REGIONS_FAILED_TOGETHER: "0s",  # each RegionFailed has held its own `for` already
    _N.SLO_ERROR_BUDGET_BURN_FAST: "2m",
    _N.SLO_ERROR_BUDGET_BURN_SLOW: "15m",
    _N.CAPACITY_EXHAUSTION_SOON: "30m",
    _N.CAPACITY_EXHAUSTION_IMMINENT: "10m",
    _N.PLUGIN_MEMORY_LEAK: "30m",
    _N.PLUGIN_CRITICAL_EVENT: "0s",
    _N.PLUGIN_HIGH_SEVERITY_EVENT: "0s",
    _N.WATCHDOG: "0s",
    _N.WATCHDOG_MISSING: "2m",
    _N.EXPORTER_DOWN: "2m",
    _N.FORECASTER_DOWN: "5m",
    _N.FORECASTS_STALE: "0s",
    _N.WEBHOOK_DOWN: "2m",
    _N.RULE_EVALUATION_FAILURES: "0s",
    _N.ALERTMANAGER_NOTIFICATIONS_FAILING: "0s",
}


# How many scrape-plus-evaluation intervals an alert keeps firing after its condition clears
# (Prometheus' keep_firing_for). A failed region mutes everything else about it (the
# Alertmanager inhibition), and a mute ends the moment its source resolves: what is still firing
# then pages. When a region comes back, the ratio crosses its level as soon as enough agents are
# scraped up again, and the others are scraped and evaluated up to one interval of each later:
# their AgentDown would page as the region comes back. Two of each cover that; an agent still
# down after them pages as a fresh failure would. No longer: an incident that fires on is
# escalated on (a 5-minute wait kept every short outage's incident open past its first step).
_KEEP_FIRING_INTERVALS = {
    _N.REGION_FAILED: 2,
}


_S = Severity
ALERTS: tuple[AlertDef, ...] = (
    AlertDef(_N.AGENT_HEARTBEAT_STALE, _S.WARNING, Scope.HOST, "Agent heartbeat is stale"),
    AlertDef(_N.AGENT_DOWN, _S.CRITICAL, Scope.HOST, "Agent exporter is down"),
    AlertDef(_N.HOST_CPU_HIGH, _S.WARNING, Scope.HOST, "CPU usage above threshold"),
    AlertDef(_N.HOST_MEMORY_HIGH, _S.WARNING, Scope.HOST, "Memory usage above threshold"),
    AlertDef(_N.HOST_DISK_HIGH, _S.WARNING, Scope.HOST, "Disk usage above threshold"),
    AlertDef(_N.PROCESS_GROUP_DOWN, _S.CRITICAL, Scope.HOST, "A watched process group is gone"),
    AlertDef(_N.PROBE_FAILED, _S.CRITICAL, Scope.HOST, "An HTTP or TCP probe is failing"),
    AlertDef(_N.REGION_DEGRADED, _S.WARNING, Scope.REGION, "Agents-up ratio below degraded level"),
    AlertDef(_N.REGION_FAILED, _S.CRITICAL, Scope.REGION, "Agents-up ratio below failed level"),
    AlertDef(_N.REGION_NO_DATA, _S.CRITICAL, Scope.REGION, "A region sends no data"),
    AlertDef(
        _N.REGIONS_FAILED_TOGETHER, _S.CRITICAL, Scope.REGION, "Two or more regions failed at once"
    ),
    AlertDef(
        _N.SERVICE_RESPONSE_TIME_HIGH, _S.WARNING, Scope.SERVICE, "Response time above threshold"
    ),
    AlertDef(_N.SERVICE_ERROR_RATE_HIGH, _S.CRITICAL, Scope.SERVICE, "Error rate above threshold"),
    AlertDef(_N.SLO_ERROR_BUDGET_BURN_FAST, _S.CRITICAL, Scope.SERVICE, "SLO budget burning fast"),
    AlertDef(_N.SLO_ERROR_BUDGET_BURN_SLOW, _S.WARNING, Scope.SERVICE, "SLO budget burning"),
    AlertDef(
        _N.CAPACITY_EXHAUSTION_SOON, _S.WARNING, Scope.HOST, "Capacity runs out within 7 days"
    ),
    AlertDef(
        _N.CAPACITY_EXHAUSTION_IMMINENT, _S.CRITICAL, Scope.HOST, "Capacity runs out within 1d"
    ),
    AlertDef(_N.METRIC_ANOMALOUS, _S.WARNING, Scope.HOST, "Anomaly score above threshold"),
    AlertDef(_N.PLUGIN_CPU_HIGH, _S.WARNING, Scope.PLUGIN, "Plugin CPU usage above threshold"),
    AlertDef(_N.PLUGIN_MEMORY_HIGH, _S.WARNING, Scope.PLUGIN, "Plugin memory above threshold"),
    AlertDef(
        _N.PLUGIN_ERROR_RATE_HIGH, _S.WARNING, Scope.PLUGIN, "Plugin error rate above threshold"
    ),
    AlertDef(_N.PLUGIN_RESPONSE_TIME_HIGH, _S.WARNING, Scope.PLUGIN, "Plugin response time high"),
    AlertDef(_N.PLUGIN_MEMORY_LEAK, _S.WARNING, Scope.PLUGIN, "Plugin memory grows steadily"),
    AlertDef(
        _N.PLUGIN_CRITICAL_EVENT, _S.CRITICAL, Scope.PLUGIN, "A plugin reported a critical event"
    ),
    AlertDef(
        _N.PLUGIN_HIGH_SEVERITY_EVENT, _S.WARNING, Scope.PLUGIN, "A plugin reported a high event"
    ),
    AlertDef(_N.SECURITY_AUTH_FAILURES, _S.WARNING, Scope.META, "Authentication failures"),
    AlertDef(_N.SECURITY_RATE_LIMITED, _S.WARNING, Scope.META, "Clients are being rate-limited"),
    AlertDef(_N.SECURITY_INGEST_REJECTED, _S.WARNING, Scope.META, "Ingest rejections"),
    AlertDef(_N.WATCHDOG, _S.NONE, Scope.META, "Always firing: proves the alert pipeline works"),
    AlertDef(
        _N.WATCHDOG_MISSING, _S.CRITICAL, Scope.META, "The Watchdog stopped reaching the webhook"
    ),
    AlertDef(_N.EXPORTER_DOWN, _S.CRITICAL, Scope.META, "A globalmon exporter is down"),
    AlertDef(_N.FORECASTER_DOWN, _S.WARNING, Scope.META, "The forecaster sidecar is down"),
    AlertDef(_N.FORECASTS_STALE, _S.WARNING, Scope.META, "Forecasts are not being refreshed"),
    AlertDef(_N.WEBHOOK_DOWN, _S.CRITICAL, Scope.META, "The alert webhook is down"),
    AlertDef(_N.RULE_EVALUATION_FAILURES, _S.CRITICAL, Scope.META, "Rule evaluations are failing"),
    AlertDef(
        _N.ALERTMANAGER_NOTIFICATIONS_FAILING, _S.CRITICAL, Scope.META, "Notifications are failing"
    ),
)
ALERTS = tuple(
    AlertDef(
        a.name,
        a.severity,
        a.scope,
        a.summary,
        _FOR.get(a.name, "5m"),
        _KEEP_FIRING_INTERVALS.get(a.name, 0),
    )
    for a in ALERTS
)
ALERTS_BY_NAME: dict[str, AlertDef] = {a.name: a for a in ALERTS}


def alerts_in_scope(*scopes: Scope) -> tuple[str, ...]:
    """Names of the catalogue's alerts whose scope is one of ``scopes``, in catalogue order."""
    return tuple(a.name for a in ALERTS if a.scope in scopes)
