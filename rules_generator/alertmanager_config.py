"""The Alertmanager configuration: routes, the webhook receiver, inhibitions from the spec."""

from __future__ import annotations

from typing import Any

from globalmon import conventions as c
from globalmon.conventions import ALERTS, META_PATH_ALERTS, AlertName, Scope
from globalmon.spec import Spec
from globalmon.spec.notify import EmailReceiver, PagerDutyReceiver, SlackReceiver
from rules_generator.prometheus_config import credentials_file

RECEIVER = "globalmon-webhook"
META_RECEIVER = "globalmon-meta"
GROUP_BY = ["alertname", "region", "service"]
# the alerts of a service's request, error and latency rules: what services[].profile: fast speeds
FAST_ALERTS = (AlertName.SERVICE_ERROR_RATE_HIGH, AlertName.SERVICE_RESPONSE_TIME_HIGH)
# group_wait, group_interval, repeat_interval per severity: urgent alerts leave faster.
TIMING = {
    "critical": ("10s", "1m", "1h"),
    "warning": ("30s", "5m", "4h"),
    "info": ("1m", "10m", "12h"),
}
_A = AlertName
SYMPTOMS = "|".join(
    (
        _A.SERVICE_ERROR_RATE_HIGH,
        _A.SERVICE_RESPONSE_TIME_HIGH,
        _A.SLO_ERROR_BUDGET_BURN_FAST,
        _A.SLO_ERROR_BUDGET_BURN_SLOW,
    )
)
_WEEKDAYS = ["sunday", "monday", "tuesday", "wednesday", "thursday", "friday", "saturday"]
_SHORT = {d[:3]: d for d in _WEEKDAYS}


def _names(*scopes: Scope) -> str:
    return "|".join(a.name for a in ALERTS if a.scope in scopes)


def _inhibitions(spec: Spec) -> list[dict[str, Any]]:
    region_mutes = f"{_A.REGION_DEGRADED}|{_names(Scope.HOST, Scope.SERVICE, Scope.PLUGIN)}"
    rules: list[dict[str, Any]] = [
        {  # a failed region mutes everything else about it
            "source_matchers": [f'alertname="{_A.REGION_FAILED}"'],
            "target_matchers": [f'alertname=~"{region_mutes}"'],
            "equal": ["region"],
        },
        {  # an agent that is down explains its stale heartbeat and missing host data
            "source_matchers": [f'alertname="{_A.AGENT_DOWN}"'],
            "target_matchers": [
                f'alertname=~"{_names(Scope.HOST)}"',
                f'alertname!="{_A.AGENT_DOWN}"',
            ],
            "equal": ["region", "agent"],
        },
        {  # critical mutes warning of the same alert on the same thing
            "source_matchers": ['severity="critical"'],
            "target_matchers": ['severity="warning"'],
            "equal": ["alertname", "region", "service", "plugin", "agent", "target", "slo"],
        },
        {
            "source_matchers": [f'alertname="{_A.CAPACITY_EXHAUSTION_IMMINENT}"'],
            "target_matchers": [f'alertname="{_A.CAPACITY_EXHAUSTION_SOON}"'],
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


def meta_receiver_names(spec: Spec) -> list[str]:
    """The spec's meta_receivers, or the first step of the default escalation policy (the
    global one, else the first one)."""
    if spec.global_.meta_receivers is not None:
        return list(spec.global_.meta_receivers)
    policies = {p.name: p for p in spec.escalation_policies}
    policy = policies.get(spec.global_.escalation_policy or "") or next(
        iter(spec.escalation_policies), None
    )
    return list(policy.steps[0].notify) if policy and policy.steps else []


def _meta_receiver(spec: Spec, secrets_dir: str) -> dict[str, Any] | None:
    """Alertmanager's own delivery to the meta receivers (secrets read from files, as
    Alertmanager does), so alerts about the webhook never depend on it."""
    wanted = set(meta_receiver_names(spec))
    out: dict[str, Any] = {"name": META_RECEIVER}
    for r in spec.receivers:
        if r.name not in wanted:
            continue
        if isinstance(r, EmailReceiver):
            email: dict[str, Any] = {
                "to": ", ".join(r.to),
                "from": r.sender,
                "smarthost": r.smarthost,
                "require_tls": r.starttls,
                "send_resolved": True,
            }
            if r.username:
                email["auth_username"] = r.username
            if r.password:
                email["auth_password_file"] = credentials_file(r.password, secrets_dir)
            out.setdefault("email_configs", []).append(email)
        elif isinstance(r, SlackReceiver):
            slack = {"api_url_file": credentials_file(r.webhook_url, secrets_dir)}
            if r.channel:
                slack["channel"] = r.channel
            out.setdefault("slack_configs", []).append({**slack, "send_resolved": True})
        elif isinstance(r, PagerDutyReceiver):
            out.setdefault("pagerduty_configs", []).append(
                {"routing_key_file": credentials_file(r.routing_key, secrets_dir), "url": r.url}
            )
        else:
            hook: dict[str, Any] = {"url": r.url, "send_resolved": True}
            if r.bearer_token:
                auth = {"credentials_file": credentials_file(r.bearer_token, secrets_dir)}
                hook["http_config"] = {"authorization": auth}
            out.setdefault("webhook_configs", []).append(hook)
    return out if len(out) > 1 else None


def _waits(spec: Spec, wait: str, interval: str) -> dict[str, str]:
    """group_wait and group_interval of a route: the spec's for every route, or these."""
    w = spec.global_.notification_waits
    if w is not None:
        wait, interval = w.group_wait, w.group_interval
    return {"group_wait": wait, "group_interval": interval}


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
                **_waits(spec, wait, interval),
                "repeat_interval": repeat,
                "routes": region_routes,
            }
        )
    webhook: dict[str, Any] = {"url": f"{g.webhook_url.rstrip('/')}/webhook", "send_resolved": True}
    sender = g.credentials.alertmanager_secret()
    if sender:
        webhook["http_config"] = {
            "authorization": {"credentials_file": credentials_file(sender, secrets_dir)}
        }
    meta = [m] if (m := _meta_receiver(spec, secrets_dir)) is not None else []
    meta_routes = [
        {  # the alert path's own alerts, straight from Alertmanager; then on to the webhook too
            "receiver": META_RECEIVER,
            "matchers": [f'alertname=~"{"|".join(META_PATH_ALERTS)}"'],
            **_waits(spec, "10s", "1m"),
            "repeat_interval": "1h",
            "continue": True,
        }
    ][: len(meta)]
    fast = sorted({s.name for s in spec.services if s.profile == "fast"})
    fast_routes = [
        {  # fast services' own alerts: no group wait, then the same receiver
            "matchers": [f'service=~"{"|".join(fast)}"', f'alertname=~"{"|".join(FAST_ALERTS)}"'],
            **_waits(spec, c.FAST_GROUP_WAIT, c.FAST_GROUP_INTERVAL),
            "repeat_interval": "1h",
        }
    ][: 1 if fast else 0]
    config: dict[str, Any] = {
        "route": {
            "receiver": RECEIVER,
            "group_by": GROUP_BY,
            **_waits(spec, "30s", "5m"),
            "repeat_interval": "4h",
            "routes": [
                # the dead man's switch: delivered often, never grouped with real alerts
                {
                    "matchers": [f'alertname="{_A.WATCHDOG}"'],
                    **_waits(spec, "0s", "1m"),
                    "repeat_interval": "1m",
                },
                *meta_routes,
                *fast_routes,
                *severity_routes,
            ],
        },
        "receivers": [{"name": RECEIVER, "webhook_configs": [webhook]}, *meta],
        "inhibit_rules": _inhibitions(spec),
    }
    if intervals:
        config["time_intervals"] = _time_intervals(spec)
    return config
