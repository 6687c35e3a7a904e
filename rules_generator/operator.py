"""prometheus-operator manifests: PrometheusRule per region, and an AlertmanagerConfig.

The operator builds Prometheus' own configuration from its custom resources, so this format
emits rules and routing only.
"""

from __future__ import annotations

import re
from typing import Any

from globalmon.spec import Spec

PART_OF = {"app.kubernetes.io/part-of": "globalmon"}
WEBHOOK_SECRET = {"name": "globalmon-webhook-token", "key": "token"}
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
    }
    out: dict[str, Any] = {keys[k]: v for k, v in route.items() if k in keys}
    if "matchers" in route:
        out["matchers"] = [matcher(m) for m in route["matchers"]]
    if "routes" in route:
        out["routes"] = [_route(r) for r in route["routes"]]
    return out


def alertmanager_config(spec: Spec, config: dict[str, Any]) -> dict[str, Any]:
    """The plain Alertmanager config as an AlertmanagerConfig (v1alpha1) resource."""
    receivers = []
    for r in config["receivers"]:
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
