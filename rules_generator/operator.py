"""prometheus-operator manifests: PrometheusRule per region, and an AlertmanagerConfig.

The operator builds Prometheus' own configuration from its custom resources, so this format
emits rules and routing only.
"""

from __future__ import annotations

import re
from typing import Any

from globalmon.spec import Spec
from globalmon.spec.notify import EmailReceiver, PagerDutyReceiver, SlackReceiver
from rules_generator.alertmanager_config import META_RECEIVER, meta_receiver_names

PART_OF = {"app.kubernetes.io/part-of": "globalmon"}
WEBHOOK_SECRET = {"name": "globalmon-webhook-token", "key": "token"}
RECEIVER_SECRETS = "globalmon-receivers"  # one key per receiver that has a secret
_MATCHER = re.compile(r'^\s*([a-zA-Z_][a-zA-Z0-9_]*)\s*(=~|!~|!=|=)\s*"((?:[^"\\]|\\.)*)"\s*$')


def prometheus_rule(name: str, rules: dict[str, Any], region: str | None) -> dict[str, Any]:
    labels = dict(PART_OF)
    if region:
        labels["globalmon.dev/region"] = region
    return {
        "apiVersion": "monitoring.coreos.com/v1",
        "kind": "PrometheusRule",
        "metadata": {"name": name, "labels": labels},
        "spec": rules,
    }


def matcher(text: str) -> dict[str, str]:
    """``region="x"`` -> ``{name: region, value: x, matchType: "="}``."""
    m = _MATCHER.fullmatch(text)
    if not m:
        raise ValueError(f"not a matcher: {text}")
    return {"name": m[1], "value": m[3].replace('\\"', '"'), "matchType": m[2]}


def _route(route: dict[str, Any]) -> dict[str, Any]:
    keys = {
        "receiver": "receiver",
        "group_by": "groupBy",
        "group_wait": "groupWait",
        "group_interval": "groupInterval",
        "repeat_interval": "repeatInterval",
        "active_time_intervals": "activeTimeIntervals",
        "continue": "continue",
    }
    out: dict[str, Any] = {keys[k]: v for k, v in route.items() if k in keys}
    if "matchers" in route:
        out["matchers"] = [matcher(m) for m in route["matchers"]]
    if "routes" in route:
        out["routes"] = [_route(r) for r in route["routes"]]
    return out


def _meta_receiver(spec: Spec) -> dict[str, Any]:
    """The meta receivers for the operator: each secret a key of RECEIVER_SECRETS named after
    its receiver (the operator reads credentials from Secrets, not files)."""

    def secret(name: str) -> dict[str, str]:
        return {"name": RECEIVER_SECRETS, "key": name}

    out: dict[str, Any] = {"name": META_RECEIVER}
    wanted = set(meta_receiver_names(spec))
    for r in (r for r in spec.receivers if r.name in wanted):
        if isinstance(r, EmailReceiver):
            email: dict[str, Any] = {
                "to": ", ".join(r.to),
                "from": r.sender,
                "smarthost": r.smarthost,
                "requireTLS": r.starttls,
                "sendResolved": True,
            }
            if r.username:
                email["authUsername"] = r.username
            if r.password:
                email["authPassword"] = secret(r.name)
            out.setdefault("emailConfigs", []).append(email)
        elif isinstance(r, SlackReceiver):
            slack: dict[str, Any] = {"apiURL": secret(r.name), "sendResolved": True}
            if r.channel:
                slack["channel"] = r.channel
            out.setdefault("slackConfigs", []).append(slack)
        elif isinstance(r, PagerDutyReceiver):
            out.setdefault("pagerdutyConfigs", []).append(
                {"routingKey": secret(r.name), "url": r.url}
            )
        else:
            hook: dict[str, Any] = {"url": r.url, "sendResolved": True}
            if r.bearer_token:
                hook["httpConfig"] = {"authorization": {"credentials": secret(r.name)}}
            out.setdefault("webhookConfigs", []).append(hook)
    return out


def alertmanager_config(spec: Spec, config: dict[str, Any]) -> dict[str, Any]:
    """The plain Alertmanager config as an AlertmanagerConfig (v1alpha1) resource."""
    receivers = []
    for r in config["receivers"]:
        if r["name"] == META_RECEIVER:
            receivers.append(_meta_receiver(spec))
            continue
        hooks = []
        for w in r.get("webhook_configs", []):
            hook: dict[str, Any] = {"url": w["url"], "sendResolved": w.get("send_resolved", True)}
            if "http_config" in w:  # the operator reads credentials from a Secret
                hook["httpConfig"] = {"authorization": {"credentials": dict(WEBHOOK_SECRET)}}
            hooks.append(hook)
        receivers.append({"name": r["name"], "webhookConfigs": hooks})
    body: dict[str, Any] = {
        "route": _route(config["route"]),
        "receivers": receivers,
        "inhibitRules": [
            {
                "sourceMatch": [matcher(m) for m in i["source_matchers"]],
                "targetMatch": [matcher(m) for m in i["target_matchers"]],
                "equal": i["equal"],
            }
            for i in config["inhibit_rules"]
        ],
    }
    if "time_intervals" in config:
        body["muteTimeIntervals"] = [
            {
                "name": t["name"],
                "timeIntervals": [
                    {
                        "times": [
                            {"startTime": x["start_time"], "endTime": x["end_time"]}
                            for x in ti["times"]
                        ],
                        "weekdays": ti["weekdays"],
                    }
                    for ti in t["time_intervals"]
                ],
            }
            for t in config["time_intervals"]
        ]
    return {
        "apiVersion": "monitoring.coreos.com/v1alpha1",
        "kind": "AlertmanagerConfig",
        "metadata": {"name": "globalmon", "labels": dict(PART_OF)},
        "spec": body,
    }
