"""The Alertmanager configuration: routes, the webhook receiver, inhibitions from the spec."""

from __future__ import annotations

from typing import Any

from globalmon.conventions import ALERTS, Scope
from globalmon.spec import Spec
from rules_generator.prometheus_config import credentials_file

RECEIVER = "globalmon-webhook"
GROUP_BY = ["alertname", "region", "service"]
# group_wait, group_interval, repeat_interval per severity: urgent alerts leave faster.
TIMING = {
    "critical": ("10s", "1m", "1h"),
    "warning": ("30s", "5m", "4h"),
    "info": ("1m", "10m", "12h"),
}
SYMPTOMS = (
    "ServiceErrorRateHigh|ServiceResponseTimeHigh|SLOErrorBudgetBurnFast|SLOErrorBudgetBurnSlow"
)
_WEEKDAYS = ["sunday", "monday", "tuesday", "wednesday", "thursday", "friday", "saturday"]
_SHORT = {d[:3]: d for d in _WEEKDAYS}


def _names(*scopes: Scope) -> str:
    return "|".join(a.name for a in ALERTS if a.scope in scopes)


def _inhibitions(spec: Spec) -> list[dict[str, Any]]:
    rules: list[dict[str, Any]] = [
        {  # a failed region mutes everything else about it
            "source_matchers": ['alertname="RegionFailed"'],
            "target_matchers": [
                f'alertname=~"RegionDegraded|{_names(Scope.HOST, Scope.SERVICE, Scope.PLUGIN)}"'
            ],
            "equal": ["region"],
        },
        {  # an agent that is down explains its stale heartbeat and missing host data
            "source_matchers": ['alertname="AgentDown"'],
            "target_matchers": [f'alertname=~"{_names(Scope.HOST)}"', 'alertname!="AgentDown"'],
            "equal": ["region", "agent"],
        },
        {  # critical mutes warning of the same alert on the same thing
            "source_matchers": ['severity="critical"'],
            "target_matchers": ['severity="warning"'],
            "equal": ["alertname", "region", "service", "plugin", "agent", "target", "slo"],
        },
        {
            "source_matchers": ['alertname="CapacityExhaustionImminent"'],
            "target_matchers": ['alertname="CapacityExhaustionSoon"'],
            "equal": ["region", "target", "instance"],
        },
    ]
    for s in spec.services:  # an upstream dependency's alert mutes its dependants' symptoms
        for dep in s.depends_on:
            rules.append(
                {
                    "source_matchers": [f'service="{dep}"', f'alertname=~"{SYMPTOMS}"'],
                    "target_matchers": [f'service="{s.name}"', f'alertname=~"{SYMPTOMS}"'],
                    "equal": ["region"],
                }
            )
    return rules


def _time_intervals(spec: Spec) -> list[dict[str, Any]]:
    out = []
    for p in spec.escalation_policies:
        h = p.business_hours
        if h is None:
            continue
        out.append(
            {
                "name": f"business-hours-{p.name}",
                "time_intervals": [
                    {
                        "times": [{"start_time": h.start, "end_time": h.end}],
                        "weekdays": [_SHORT[d] for d in h.days],
                        "location": h.timezone,
                    }
                ],
            }
        )
    return out


def _policy_of(spec: Spec, region_policy: str | None) -> str | None:
    return region_policy or spec.global_.escalation_policy


def alertmanager_config(spec: Spec, secrets_dir: str) -> dict[str, Any]:
    g = spec.global_
    intervals = {i["name"] for i in _time_intervals(spec)}
    severity_routes = []
    for severity, (wait, interval, repeat) in TIMING.items():
        region_routes = []
        for r in spec.regions:
            route: dict[str, Any] = {"matchers": [f'region="{r.id}"']}
            policy = _policy_of(spec, r.escalation_policy)
            hours = f"business-hours-{policy}"
            if severity == "info" and hours in intervals:
                route["active_time_intervals"] = [hours]  # info only in working hours
            region_routes.append(route)
        severity_routes.append(
            {
                "matchers": [f'severity="{severity}"'],
                "group_wait": wait,
                "group_interval": interval,
                "repeat_interval": repeat,
                "routes": region_routes,
            }
        )
    webhook: dict[str, Any] = {"url": f"{g.webhook_url.rstrip('/')}/webhook", "send_resolved": True}
    if g.credentials.webhook_token:
        webhook["http_config"] = {
            "authorization": {
                "credentials_file": credentials_file(g.credentials.webhook_token, secrets_dir)
            }
        }
    config: dict[str, Any] = {
        "route": {
            "receiver": RECEIVER,
            "group_by": GROUP_BY,
            "group_wait": "30s",
            "group_interval": "5m",
            "repeat_interval": "4h",
            "routes": [
                # the dead man's switch: delivered often, never grouped with real alerts
                {
                    "matchers": ['alertname="Watchdog"'],
                    "group_wait": "0s",
                    "group_interval": "1m",
                    "repeat_interval": "1m",
                },
                *severity_routes,
            ],
        },
        "receivers": [{"name": RECEIVER, "webhook_configs": [webhook]}],
        "inhibit_rules": _inhibitions(spec),
    }
    if intervals:
        config["time_intervals"] = _time_intervals(spec)
    return config
