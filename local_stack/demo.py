"""The demo's fast settings, applied to a copy of the user's spec.

Production defaults stay in the spec and in what `globalmon generate` writes (15 s scrape and
evaluation, alerts after minutes, Alertmanager waits of 10 s to 1 min). The local stack trades
them for speed so a fault shows end to end in seconds:

- scrape and rule evaluation every 1 s; heartbeats stale after 10 s;
- time compressed 15 times in the rules, as in the scrape interval (15 s to 1 s): every range
  window and offset in a rule expression is divided by ``TIME_SCALE`` (``rate(x[5m])`` looks at
  20 s, still 20 samples), so a fault shows and clears in seconds, not in 5 minutes;
- the `for` of the alerts the scenarios trip shortened (``FAST_FOR``);
- Alertmanager: group_wait 1 s, group_interval 2 s on every route;
- forecasts read 10 minutes of history at a 1 s step (a fresh stack has no days to read);
- receivers point at the demo world (its receivers and SMTP server), secrets come from files the
  stack writes, and recovery actions call the world's ``/recover`` (they never touch the host).
"""

from __future__ import annotations

import re
from typing import Any

from globalmon.conventions import AlertName
from globalmon.spec.types import duration_seconds

FAST = {"scrape_interval": "1s", "evaluation_interval": "1s"}
FAST_FOR = {
    AlertName.AGENT_DOWN: "3s",
    AlertName.PROCESS_GROUP_DOWN: "5s",
    AlertName.PROBE_FAILED: "10s",
    AlertName.REGION_DEGRADED: "5s",
    # before any AgentDown of the region fires: the inhibition holds those back from the start
    AlertName.REGION_FAILED: "0s",
    AlertName.PLUGIN_MEMORY_LEAK: "5s",
    AlertName.SERVICE_ERROR_RATE_HIGH: "5s",
    AlertName.SERVICE_RESPONSE_TIME_HIGH: "5s",
    AlertName.SLO_ERROR_BUDGET_BURN_FAST: "10s",
    AlertName.EXPORTER_DOWN: "10s",
    AlertName.WEBHOOK_DOWN: "10s",
}
TIME_SCALE = 15
ACTION_COOLDOWN = "30s"
VERIFY_INTERVAL = "1s"
FORECAST_HISTORY = "10m"
AM_FAST = {"group_wait": "1s", "group_interval": "2s"}
TOKENS = ("GLOBALMON_WEBHOOK_TOKEN", "GLOBALMON_INGEST_TOKEN", "GLOBALMON_REGISTRY_TOKEN")


def demo_spec(data: dict[str, Any], world_url: str, smtp_port: int) -> dict[str, Any]:
    """A copy of the spec's YAML data with the demo's settings (the input is not changed)."""
    out = dict(data)
    g = out["global"] = {**data.get("global", {}), **FAST}
    g["credentials"] = {
        "webhook_token": {"env": TOKENS[0]},
        "ingest_token": {"env": TOKENS[1]},
        "registry_token": {"env": TOKENS[2]},
    }
    defaults = out["defaults"] = dict(data.get("defaults", {}))
    defaults["thresholds"] = {**defaults.get("thresholds", {}), "heartbeat_stale_after": "10s"}
    alerts = dict(defaults.get("alerts", {}))
    for name, for_ in FAST_FOR.items():
        alerts[name] = {**alerts.get(name, {}), "for": for_}
    defaults["alerts"] = alerts
    out["receivers"] = [_receiver(r, world_url, smtp_port) for r in data.get("receivers", [])]
    # a fresh stack has minutes of history, not days: forecasts read the last 10 minutes
    out["forecasts"] = [{**f, "history": FORECAST_HISTORY} for f in data.get("forecasts", [])]
    out["recovery_actions"] = [_action(a, world_url) for a in data.get("recovery_actions", [])]
    return out


def receiver_env(data: dict[str, Any], world_url: str) -> dict[str, str]:
    """Values of the secrets the demo receivers name (all point at the world)."""
    env = {}
    for r in data.get("receivers", []):
        if r["type"] == "slack":
            env[_secret_env(r["name"])] = f"{world_url}/receivers/{r['name']}"
        elif r["type"] in ("pagerduty", "webhook"):
            env[_secret_env(r["name"])] = f"demo-{r['name']}-key"
    return env


def _secret_env(name: str) -> str:
    return "GLOBALMON_DEMO_" + name.upper().replace("-", "_")


def _receiver(r: dict[str, Any], world_url: str, smtp_port: int) -> dict[str, Any]:
    out = dict(r)
    kind, name = r["type"], r["name"]
    if kind == "webhook":
        out["url"] = f"{world_url}/receivers/{name}"
        out["bearer_token"] = {"env": _secret_env(name)}
    elif kind == "slack":
        out["webhook_url"] = {"env": _secret_env(name)}
    elif kind == "pagerduty":
        out["url"] = f"{world_url}/receivers/{name}"
        out["routing_key"] = {"env": _secret_env(name)}
    elif kind == "email":
        out["smarthost"] = f"127.0.0.1:{smtp_port}"
        out["starttls"] = False
        out.pop("username", None)
        out.pop("password", None)
    return out


def _action(a: dict[str, Any], world_url: str) -> dict[str, Any]:
    """Every action becomes an HTTP call to the world's /recover, keeping its matchers and
    guardrails (the demo never restarts a container or a unit on the host)."""
    keep = ("name", "matchers", "run_on", "guardrails", "verify")
    out = {k: v for k, v in a.items() if k in keep}
    out["type"] = "http"
    out["method"] = "POST"
    out["url"] = f"{world_url}/recover"
    # alertname and region: the labels every generated alert has (the template is strict)
    out["body"] = (
        '{"action": "' + a["name"] + '", "alert": "{{ labels.alertname }}", '
        '"region": "{{ labels.region }}"}'
    )
    if "verify" in a:
        # on the demo's time scale, polled every second as the stack scrapes
        out["verify"] = {
            **a["verify"],
            "expr": scale_windows(a["verify"]["expr"]),
            "interval": VERIFY_INTERVAL,
        }
    guardrails = dict(out.get("guardrails", {}))
    guardrails.pop("require_approval", None)  # nobody approves in a demo
    guardrails.pop("precondition", None)
    guardrails["cooldown"] = ACTION_COOLDOWN
    out["guardrails"] = guardrails
    return out


def fast_alertmanager(config: dict[str, Any]) -> dict[str, Any]:
    """Every route of a generated alertmanager.yml with the demo's short waits."""

    def walk(route: dict[str, Any]) -> dict[str, Any]:
        out = {**route}
        for key in AM_FAST:
            if key in out or route is config["route"]:
                out[key] = AM_FAST[key]
        if "routes" in out:
            out["routes"] = [walk(r) for r in out["routes"]]
        return out

    return {**config, "route": walk(config["route"])}


_D = r"((?:\d+(?:ms|[smhdwy]))+)"
_WINDOW = re.compile(rf"\[{_D}(?::{_D})?\]|\boffset\s+{_D}")


def _scaled(duration: str) -> str:
    return f"{max(2, round(duration_seconds(duration) / TIME_SCALE))}s"


def scale_windows(expr: str) -> str:
    """``expr`` with every range window, subquery step and offset divided by ``TIME_SCALE``
    (at least 2 s, two samples at the demo's 1 s scrape)."""

    def one(m: re.Match[str]) -> str:
        if m.group(3):
            return f"offset {_scaled(m.group(3))}"
        step = f":{_scaled(m.group(2))}" if m.group(2) else ""
        return f"[{_scaled(m.group(1))}{step}]"

    return _WINDOW.sub(one, expr)


def fast_rules(rules: dict[str, Any]) -> dict[str, Any]:
    """A generated rule file with every expression on the demo's time scale."""
    return {
        **rules,
        "groups": [
            {**g, "rules": [{**r, "expr": scale_windows(str(r["expr"]))} for r in g["rules"]]}
            for g in rules["groups"]
        ],
    }
