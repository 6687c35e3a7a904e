"""Alert thresholds and per-alert overrides, with their defaults.

Thresholds are set once under ``defaults`` and overridden per region, service or plugin; the most
specific layer wins (plugin or service, then region, then defaults).
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from globalmon.spec.types import AlertName, Duration, Percent, Ratio, StrictModel

# The values of conventions.Severity; a test keeps the two in step.
SeverityName = Literal["critical", "warning", "info", "none"]

_CPU = "CPU busy percentage (0-100) above which HostCpuHigh fires."
_MEM = "Memory used percentage (0-100) above which HostMemoryHigh fires."
_DISK = "Disk used percentage (0-100) per mount above which HostDiskHigh fires."
_RT = "Response time (p95) above which the response-time alerts fire."
_ERR = "Error percentage of requests (0-100) above which the error-rate alerts fire."
_STALE = "How long an agent may miss heartbeats before it counts as stale."
_DEGRADED = "Agents-up ratio (0-1) of a region below which RegionDegraded fires."
_FAILED = "Agents-up ratio (0-1) of a region below which RegionFailed fires."
_ESCALATE = "How long an unacknowledged alert waits before each escalation step it did not name."


class Thresholds(StrictModel):
    """The global alert thresholds; every field has a default."""

    cpu_percent: Percent = Field(80, description=_CPU, examples=[80])
    memory_percent: Percent = Field(85, description=_MEM, examples=[85])
    disk_percent: Percent = Field(90, description=_DISK, examples=[90])
    response_time: Duration = Field("1s", description=_RT, examples=["1s", "300ms"])
    error_rate_percent: Percent = Field(5, description=_ERR, examples=[5])
    heartbeat_stale_after: Duration = Field("60s", description=_STALE, examples=["60s"])
    region_degraded_below: Ratio = Field(0.8, description=_DEGRADED, examples=[0.8])
    region_failed_below: Ratio = Field(0.5, description=_FAILED, examples=[0.5])
    escalate_after: Duration = Field("5m", description=_ESCALATE, examples=["5m"])


class RegionThresholds(StrictModel):
    """Overrides of any threshold for one region; unset fields inherit the defaults."""

    cpu_percent: Percent | None = Field(None, description=_CPU, examples=[75])
    memory_percent: Percent | None = Field(None, description=_MEM, examples=[90])
    disk_percent: Percent | None = Field(None, description=_DISK, examples=[85])
    response_time: Duration | None = Field(None, description=_RT, examples=["1500ms"])
    error_rate_percent: Percent | None = Field(None, description=_ERR, examples=[2])
    heartbeat_stale_after: Duration | None = Field(None, description=_STALE, examples=["2m"])
    region_degraded_below: Ratio | None = Field(None, description=_DEGRADED, examples=[0.75])
    region_failed_below: Ratio | None = Field(None, description=_FAILED, examples=[0.4])
    escalate_after: Duration | None = Field(None, description=_ESCALATE, examples=["10m"])


class ServiceThresholds(StrictModel):
    """Overrides for one service's request alerts."""

    response_time: Duration | None = Field(None, description=_RT, examples=["250ms"])
    error_rate_percent: Percent | None = Field(None, description=_ERR, examples=[1])
    escalate_after: Duration | None = Field(None, description=_ESCALATE, examples=["2m"])


class PluginThresholds(StrictModel):
    """Overrides for one plugin's alerts (plugins report CPU, memory, latency and errors)."""

    cpu_percent: Percent | None = Field(None, description=_CPU, examples=[70])
    memory_percent: Percent | None = Field(None, description=_MEM, examples=[80])
    response_time: Duration | None = Field(None, description=_RT, examples=["2s"])
    error_rate_percent: Percent | None = Field(None, description=_ERR, examples=[10])
    escalate_after: Duration | None = Field(None, description=_ESCALATE, examples=["15m"])


class AlertOverride(StrictModel):
    """Changes to one built-in alert: turn it off, change its severity, its `for` delay or how
    long it keeps firing once its condition clears."""

    enabled: bool = Field(True, description="false removes the alert.", examples=[False])
    severity: SeverityName | None = Field(
        None, description="Severity label instead of the catalogue's.", examples=["critical"]
    )
    for_: Duration | None = Field(
        None,
        alias="for",
        description="How long the condition must hold before the alert fires.",
        examples=["10m"],
    )
    keep_firing_for: Duration | None = Field(
        None,
        description="How long the alert keeps firing after its condition clears (Prometheus' "
        "keep_firing_for; 0s: it resolves at once). RegionFailed's default is two scrape and two "
        "evaluation intervals, so the region's last agents are scraped up again under its mute.",
        examples=["2m", "0s"],
    )


AlertOverrides = dict[AlertName, AlertOverride]
