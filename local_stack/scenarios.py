"""`globalmon stack scenario NAME`: inject a fault into a running stack and time what follows.

Milestones come from the parts' own APIs (Prometheus, the webhook, the demo world's records):
polled every 100 ms where only a state can be seen (an alert's condition and state), placed at
the time the webhook or the world recorded otherwise (incident opened, action started and
verified, recovery call, incident resolved).
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import time
import urllib.parse
from collections.abc import Callable
from pathlib import Path
from typing import Any

from globalmon.conventions import AlertName
from local_stack import runner, servers
from local_stack.timeline import ScenarioError, Timeline, until


def _query(prom: str, expr: str) -> list[dict[str, Any]]:
    try:
        data = servers.get_json(f"{prom}/api/v1/query?query={urllib.parse.quote(expr)}")
    except (OSError, ValueError):
        return []
    result: list[dict[str, Any]] = data["data"]["result"]
    return result


def _alert_state(prom: str, name: str, **labels: str) -> str | None:
    try:
        alerts = servers.get_json(f"{prom}/api/v1/alerts")["data"]["alerts"]
    except (OSError, ValueError):
        return None
    for a in alerts:
        if a["labels"].get("alertname") == name and all(
            a["labels"].get(k) == v for k, v in labels.items()
        ):
            return str(a["state"])
    return None


def _hook_get(root: Path, path: str) -> Any:
    import urllib.request

    hook = _by_kind(root, "webhook")[0]["url"]
    token = runner.token(root, "GLOBALMON_WEBHOOK_TOKEN")
    request = urllib.request.Request(hook + path, headers={"Authorization": f"Bearer {token}"})
    try:
        with urllib.request.urlopen(request, timeout=2) as r:
            return json.loads(r.read())
    except (OSError, ValueError):
        return None


def _incidents(root: Path, name: str, after: int, **labels: str) -> list[dict[str, Any]]:
    """The webhook's incidents for alert ``name`` opened after incident ``after``."""
    found = _hook_get(root, f"/api/v1/incidents?alertname={urllib.parse.quote(name)}")
    if found is None:
        return []
    return [
        dict(i)
        for i in found["incidents"]
        if i["id"] > after and all(i["labels"].get(k) == v for k, v in labels.items())
    ]


def _incident(root: Path, name: str, after: int, **labels: str) -> dict[str, Any] | None:
    found = _incidents(root, name, after, **labels)
    return found[0] if found else None


def _last_incident(root: Path) -> int:
    found = _hook_get(root, "/api/v1/incidents?limit=1")
    return int(found["incidents"][0]["id"]) if found and found["incidents"] else 0


def _actions(root: Path, incident: int) -> list[dict[str, Any]]:
    found = _hook_get(root, "/api/v1/actions")
    return [a for a in (found or {}).get("actions", []) if a["incident_id"] == incident]


def _world_records(root: Path, kind: str, since: float) -> list[dict[str, Any]]:
    path = root / "world" / "notifications.jsonl"
    if not path.exists():
        return []
    records = (json.loads(line) for line in path.read_text().splitlines())
    return [r for r in records if r["kind"] == kind and r["at"] >= since]


def _notified(root: Path, since: float, needle: str) -> list[str]:
    return [
        str(n["receiver"])
        for n in _world_records(root, "notification", since)
        if needle in n["body"]
    ]


def _world(root: Path, method: str, body: dict[str, str] | None = None) -> None:
    import urllib.request

    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(
        runner.world_url(root) + "/faults",
        data=data,
        method=method,
        headers={"Content-Type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=5) as r:
        r.read()


def _by_kind(root: Path, kind: str) -> list[dict[str, Any]]:
    return [p for p in runner.procs(root) if p["kind"] == kind]


def _prometheus(root: Path, region: str) -> str:
    return str(next(p["url"] for p in _by_kind(root, "prometheus") if p["region"] == region))


def _env(root: Path) -> dict[str, str]:
    return {**os.environ, **{f.name: f.read_text() for f in (root / "secrets").iterdir()}}


def _rule_expr(prom: str, name: str, **labels: str) -> tuple[str, dict[str, str]]:
    """The expression and labels of alerting rule ``name`` whose own labels do not contradict
    ``labels`` (a rule per region and service, or one for every agent of a region)."""
    found = servers.get_json(f"{prom}/api/v1/rules?type=alert")["data"]["groups"]
    for group in found:
        for rule in group["rules"]:
            rl: dict[str, str] = rule.get("labels", {})
            if rule["name"] == name and all(rl.get(k, v) == v for k, v in labels.items()):
                return str(rule["query"]), rl
    raise ScenarioError(f"no {name} rule for {labels} in {prom}")


def _holds(prom: str, expr: str, rule_labels: dict[str, str], labels: dict[str, str]) -> bool:
    """Whether ``expr`` returns a series that, with the rule's labels, carries ``labels``."""
    return any(
        all({**r["metric"], **rule_labels}.get(k) == v for k, v in labels.items())
        for r in _query(prom, expr)
    )


def _quiet(prom: str, name: str, limit: float, **labels: str) -> None:
    """Wait until alert ``name`` is not active (an earlier scenario's may still be)."""
    until(f"{name} {labels} inactive", lambda: _alert_state(prom, name, **labels) is None, limit)


def _alert(timeline: Timeline, prom: str, name: str, limit: float, **labels: str) -> None:
    """Mark the condition holding, the alert pending (if seen) and firing."""
    expr, rule_labels = _rule_expr(prom, name, **labels)
    until(f"{name}'s condition", lambda: _holds(prom, expr, rule_labels, labels), limit)
    timeline.mark("detected", f"{name}'s condition holds in Prometheus")
    state = until(name, lambda: _alert_state(prom, name, **labels), limit)
    if state == "pending":
        timeline.mark("alert pending", name)
        until(f"{name} firing", lambda: _alert_state(prom, name, **labels) == "firing", limit)
    timeline.mark("alert firing", f"{name} (sent to every Alertmanager)")


def _received(
    timeline: Timeline, root: Path, name: str, after: int, limit: float, **labels: str
) -> dict[str, Any]:
    incident: dict[str, Any] = until(
        f"the {name} incident", lambda: _incident(root, name, after, **labels), limit
    )
    timeline.mark(
        "webhook received",
        f"incident #{incident['id']}, policy {incident['policy']}",
        at=_epoch(incident["opened_at"]),
    )
    return incident


def _resolved(timeline: Timeline, root: Path, incident: dict[str, Any], limit: float) -> None:
    def done() -> dict[str, Any] | None:
        found = _hook_get(root, f"/api/v1/incidents/{incident['id']}")
        return found if found and found["state"] == "resolved" else None

    closed = until(f"incident #{incident['id']} resolved", done, limit)
    timeline.mark(
        "resolved",
        f"the webhook closed incident #{incident['id']}",
        at=_epoch(closed["resolved_at"]),
    )


def _kill(proc: dict[str, Any]) -> None:
    os.kill(proc["pid"], signal.SIGKILL)
    child = runner._CHILDREN.pop(proc["pid"], None)
    if child is not None:  # started by this process (a test): reap it, leave no zombie
        child.wait(10)


def _restart(root: Path, proc: dict[str, Any]) -> int:
    with (root / "logs" / f"{proc['name']}.log").open("ab") as log:
        child = subprocess.Popen(
            proc["argv"],
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            env=_env(root),
            start_new_session=True,
        )
    runner._CHILDREN[child.pid] = child
    _replace_pid(root, proc["name"], child.pid)
    return child.pid


TARGETS = {
    "detected": 5.0,
    "alert firing": 10.0,
    "webhook received": 12.0,
    "verified": 300.0,
    "resolved": 300.0,
}


def _agents_by_region(root: Path) -> dict[str, list[dict[str, Any]]]:
    out: dict[str, list[dict[str, Any]]] = {}
    for agent in _by_kind(root, "agent"):
        out.setdefault(agent["region"], []).append(agent)
    return out


def agent_offline(root: Path, say: Callable[[str], None], limit: float = 90) -> Timeline:
    """Kill one agent (SIGKILL) in the region with the most agents (the region stays up):
    detection, alert, webhook, notification; then restart it and wait for the incident to
    resolve."""
    by_region = _agents_by_region(root)
    region, agents = max(by_region.items(), key=lambda kv: len(kv[1]), default=(None, []))
    if region is None or len(agents) < 2:
        raise ScenarioError("agent-offline needs a region with two agents or more")
    agent = agents[0]
    agent_id = agent["name"].removeprefix("agent-")
    prom = _prometheus(root, region)
    _quiet(prom, AlertName.AGENT_DOWN, limit, agent=agent_id)
    after = _last_incident(root)
    say(f"agent-offline: killing agent {agent_id} in {region} (pid {agent['pid']})")
    timeline = Timeline("agent-offline", time.time())
    _kill(agent)
    timeline.mark("breach", f"agent {agent_id} killed (SIGKILL)")
    _alert(timeline, prom, AlertName.AGENT_DOWN, limit, agent=agent_id)
    incident = _received(timeline, root, AlertName.AGENT_DOWN, after, limit, agent=agent_id)
    receivers = until("a notification", lambda: _notified(root, timeline.t0, agent_id), limit)
    timeline.mark("notified", ", ".join(sorted(set(receivers))))
    timeline.mark("agent restarted", f"pid {_restart(root, agent)}")
    _resolved(timeline, root, incident, limit)
    return timeline


def region_outage(root: Path, say: Callable[[str], None], limit: float = 90) -> Timeline:
    """Kill every agent of the region with the fewest: RegionFailed reaches the webhook while
    the Alertmanagers hold back (inhibit) the region's AgentDown alerts; then restart them."""
    by_region = _agents_by_region(root)
    if not by_region:
        raise ScenarioError("the stack runs no agent")
    region, agents = min(by_region.items(), key=lambda kv: len(kv[1]))
    ids = [a["name"].removeprefix("agent-") for a in agents]
    prom = _prometheus(root, region)
    _quiet(prom, AlertName.REGION_FAILED, limit, region=region)
    after = _last_incident(root)
    say(f"region-outage: killing every agent of {region} ({', '.join(ids)})")
    timeline = Timeline("region-outage", time.time())
    for agent in agents:
        _kill(agent)
    timeline.mark("breach", f"every agent of {region} killed (SIGKILL): {len(agents)}")
    _alert(timeline, prom, AlertName.REGION_FAILED, limit, region=region)
    incident = _received(timeline, root, AlertName.REGION_FAILED, after, limit, region=region)
    am = _by_kind(root, "alertmanager")[0]["url"]
    inhibited = until(
        f"{AlertName.AGENT_DOWN} inhibited",
        lambda: _inhibited(am, AlertName.AGENT_DOWN, region, len(agents)),
        limit,
    )
    timeline.mark(
        "dependants inhibited", f"{inhibited} {AlertName.AGENT_DOWN} held back by the Alertmanagers"
    )
    leaked = _incidents(root, AlertName.AGENT_DOWN, after, region=region)
    if leaked:
        raise ScenarioError(
            f"{AlertName.AGENT_DOWN} reached the webhook despite RegionFailed: {leaked}"
        )
    for agent in agents:
        _restart(root, agent)
    timeline.mark("agents restarted", ", ".join(ids))
    _resolved(timeline, root, incident, limit)
    leaked = _incidents(root, AlertName.AGENT_DOWN, after, region=region)
    if leaked:
        raise ScenarioError(
            f"{AlertName.AGENT_DOWN} reached the webhook despite RegionFailed: {leaked}"
        )
    return timeline


def _inhibited(am: str, name: str, region: str, count: int) -> int:
    query = urllib.parse.urlencode(
        [("filter", f'alertname="{name}"'), ("filter", f'region="{region}"')]
    )
    try:
        alerts = servers.get_json(f"{am}/api/v2/alerts?{query}")
    except (OSError, ValueError):
        return 0
    held = [
        a for a in alerts if a["status"]["state"] == "suppressed" and a["status"]["inhibitedBy"]
    ]
    return len(held) if len(held) >= count else 0


def _spec(root: Path) -> Any:
    from globalmon.spec import load_spec

    return load_spec(root / "spec.yaml")


def _action_for(root: Path, alertname: str, key: str) -> tuple[str, str] | None:
    """(action name, ``key`` value) of the first recovery action matching ``alertname`` with an
    equality matcher on ``key``."""
    for action in _spec(root).recovery_actions:
        text = " ".join(action.matchers)
        value = re.search(rf'\b{key}="([^"]+)"', text)
        if value and re.search(rf'alertname=~?"[^"]*\b{alertname}\b', text):
            return action.name, value.group(1)
    return None


def _region_of(root: Path, *, service: str | None = None, plugin: str | None = None) -> str:
    spec = _spec(root)
    for region in spec.regions:
        if service is not None:
            s = next(s for s in spec.services if s.name == service)
            if s.regions is None or region.id in s.regions:
                return str(region.id)
        if plugin is not None and region.endpoints.plugin_exporter:
            p = next(p for p in spec.plugins if p.id == plugin)
            if p.regions is None or region.id in p.regions:
                return str(region.id)
    raise ScenarioError(f"no region runs {service or plugin}")


def _recovery(
    timeline: Timeline, root: Path, incident: dict[str, Any], action: str, limit: float
) -> None:
    """Wait for the action to end; mark when it started, when the world was fixed and when it
    ended or was verified, at the times the webhook's timeline and the world recorded."""
    final = until(
        f"action {action} finished",
        lambda: next(
            (
                a
                for a in _actions(root, incident["id"])
                if a["state"] not in ("pending", "running", "verifying")
            ),
            None,
        ),
        limit,
    )
    if final["state"] not in ("verified", "succeeded"):
        raise ScenarioError(f"action {action} ended {final['state']}: {final.get('reason')}")
    calls = _world_records(root, "recovery", timeline.t0)
    if not calls:
        raise ScenarioError(f"action {action} {final['state']} without calling the world")
    events = {
        e["kind"]: e["at"]
        for e in _hook_get(root, f"/api/v1/incidents/{incident['id']}")["timeline"]
    }
    ended = "auto_recovered" if final["state"] == "verified" else "action_finished"
    timeline.mark("action", f"{action} started", at=_epoch(events["action_started"]))
    timeline.mark("recovered", "the world's /recover was called", at=calls[0]["at"])
    timeline.mark(
        "verified" if final["state"] == "verified" else "action done",
        final["state"],
        at=_epoch(events[ended]),
    )


def _epoch(iso: str) -> float:
    from datetime import datetime

    return datetime.fromisoformat(iso.replace("Z", "+00:00")).timestamp()


def latency_spike(root: Path, say: Callable[[str], None], limit: float = 120) -> Timeline:
    """Slow a service down (median 2 s): ServiceResponseTimeHigh fires (a latency SLO, if the
    service has one, burns too); the webhook runs the recovery action matching the alert,
    which fixes the service, and its post-check verifies it."""
    found = _action_for(root, AlertName.SERVICE_RESPONSE_TIME_HIGH, "service")
    if found is None:
        raise ScenarioError(
            f"no recovery action matches {AlertName.SERVICE_RESPONSE_TIME_HIGH} with a service"
        )
    action, service = found
    region = _region_of(root, service=service)
    prom = _prometheus(root, region)
    labels = {"region": region, "service": service}
    _quiet(prom, AlertName.SERVICE_RESPONSE_TIME_HIGH, limit, **labels)
    after = _last_incident(root)
    say(f"latency-spike: {service} in {region} answers in 2 s instead of 40 ms")
    timeline = Timeline("latency-spike", time.time())
    _world(root, "POST", {**labels, "kind": "latency"})
    timeline.mark("breach", f"{service} slow in {region}")
    _alert(timeline, prom, AlertName.SERVICE_RESPONSE_TIME_HIGH, limit, **labels)
    incident = _received(
        timeline, root, AlertName.SERVICE_RESPONSE_TIME_HIGH, after, limit, **labels
    )
    _recovery(timeline, root, incident, action, limit)
    _resolved(timeline, root, incident, limit)
    return timeline


def error_burst(root: Path, say: Callable[[str], None], limit: float = 120) -> Timeline:
    """30 % of a service's requests fail until the webhook has it; then the burst ends."""
    found = _action_for(root, AlertName.SERVICE_ERROR_RATE_HIGH, "service")
    acted = found[1] if found else None
    service = next((s.name for s in _spec(root).services if s.name != acted), None)
    if service is None:
        raise ScenarioError("error-burst needs a service without a recovery action")
    region = _region_of(root, service=service)
    prom = _prometheus(root, region)
    labels = {"region": region, "service": service}
    _quiet(prom, AlertName.SERVICE_ERROR_RATE_HIGH, limit, **labels)
    after = _last_incident(root)
    say(f"error-burst: 30 % of {service}'s requests fail in {region}")
    timeline = Timeline("error-burst", time.time())
    _world(root, "POST", {**labels, "kind": "errors"})
    timeline.mark("breach", f"{service} fails 30 % in {region}")
    _alert(timeline, prom, AlertName.SERVICE_ERROR_RATE_HIGH, limit, **labels)
    incident = _received(timeline, root, AlertName.SERVICE_ERROR_RATE_HIGH, after, limit, **labels)
    receivers = until(
        "a notification",
        lambda: _notified(root, timeline.t0, AlertName.SERVICE_ERROR_RATE_HIGH),
        limit,
    )
    timeline.mark("notified", ", ".join(sorted(set(receivers))))
    _world(root, "DELETE")
    timeline.mark("burst over", "the errors stop")
    _resolved(timeline, root, incident, limit)
    return timeline


def plugin_memory_leak(root: Path, say: Callable[[str], None], limit: float = 120) -> Timeline:
    """A plugin's memory grows 10 % a second: PluginMemoryLeak, then the recovery action that
    matches it (the demo's restart) or, without one, the leak stopped by hand."""
    found = _action_for(root, AlertName.PLUGIN_MEMORY_LEAK, "plugin")
    plugins = _spec(root).plugins
    if not plugins:
        raise ScenarioError("the spec has no plugin")
    action, plugin = found if found else (None, plugins[0].id)
    region = _region_of(root, plugin=plugin)
    prom = _prometheus(root, region)
    labels = {"region": region, "plugin": plugin}
    _quiet(prom, AlertName.PLUGIN_MEMORY_LEAK, limit, **labels)
    after = _last_incident(root)
    say(f"plugin-memory-leak: {plugin} in {region} leaks 10 % of its memory a second")
    timeline = Timeline("plugin-memory-leak", time.time())
    _world(root, "POST", {**labels, "kind": "leak"})
    timeline.mark("breach", f"{plugin} starts leaking in {region}")
    _alert(timeline, prom, AlertName.PLUGIN_MEMORY_LEAK, limit, **labels)
    incident = _received(timeline, root, AlertName.PLUGIN_MEMORY_LEAK, after, limit, **labels)
    if action is not None:
        _recovery(timeline, root, incident, action, limit)
    else:
        _world(root, "DELETE")
        timeline.mark("leak stopped", "by hand: no recovery action matches")
    _resolved(timeline, root, incident, limit)
    return timeline


def _replace_pid(root: Path, name: str, pid: int) -> None:
    state = json.loads((root / runner.STATE).read_text())
    for p in state["procs"]:
        if p["name"] == name:
            p["pid"] = pid
    tmp = root / (runner.STATE + ".tmp")
    tmp.write_text(json.dumps(state, indent=1))
    tmp.replace(root / runner.STATE)


SCENARIOS: dict[str, Callable[[Path, Callable[[str], None]], Timeline]] = {
    "plugin-memory-leak": plugin_memory_leak,
    "agent-offline": agent_offline,
    "region-outage": region_outage,
    "latency-spike": latency_spike,
    "error-burst": error_burst,
}
