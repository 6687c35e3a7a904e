"""`globalmon stack scenario NAME`: inject a fault into a running stack and time what follows.

Each milestone is polled every 100 ms from the parts' own APIs (Prometheus, the webhook, the
demo world's receivers), so a latency is measured as a user would see it, to within the poll.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
import urllib.parse
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from globalmon import servers
from globalmon.stack import runner

POLL = 0.1


class ScenarioError(RuntimeError):
    pass


@dataclass
class Timeline:
    scenario: str
    t0: float
    steps: list[tuple[str, float, str]] = field(default_factory=list)  # (name, seconds, note)

    def mark(self, name: str, note: str = "") -> float:
        at = time.time() - self.t0
        self.steps.append((name, at, note))
        return at

    def at(self, name: str) -> float:
        return next(t for n, t, _ in self.steps if n == name)

    def render(self, targets: dict[str, float]) -> str:
        lines = [f"{self.scenario}: timeline (t0 = the breach)"]
        for name, at, note in self.steps:
            target = targets.get(name)
            verdict = ""
            if target is not None:
                verdict = f"target < {target:g} s  {'ok' if at <= target else 'MISSED'}"
            lines.append(f"  {at:>+7.2f} s  {name:<22} {verdict:<20} {note}")
        return "\n".join(lines)


def _until(what: str, check: Callable[[], Any], limit: float) -> Any:
    deadline = time.monotonic() + limit
    while True:
        result = check()
        if result:
            return result
        if time.monotonic() > deadline:
            raise ScenarioError(f"{what}: not seen within {limit:.0f} s")
        time.sleep(POLL)


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


def _incident(root: Path, hook: str, name: str, **labels: str) -> dict[str, Any] | None:
    import urllib.request

    token = runner.token(root, "GLOBALMON_WEBHOOK_TOKEN")
    request = urllib.request.Request(
        f"{hook}/api/v1/incidents?alertname={name}", headers={"Authorization": f"Bearer {token}"}
    )
    try:
        with urllib.request.urlopen(request, timeout=2) as r:
            found = json.loads(r.read())["incidents"]
    except (OSError, ValueError):
        return None
    for i in found:
        if all(i["labels"].get(k) == v for k, v in labels.items()):
            return dict(i)
    return None


def _notified(root: Path, since: float, needle: str) -> list[str]:
    path = root / "world" / "notifications.jsonl"
    if not path.exists():
        return []
    out = []
    for line in path.read_text().splitlines():
        n = json.loads(line)
        if n["kind"] == "notification" and n["at"] >= since and needle in n["body"]:
            out.append(str(n["receiver"]))
    return out


def _by_kind(root: Path, kind: str) -> list[dict[str, Any]]:
    return [p for p in runner.procs(root) if p["kind"] == kind]


def _env(root: Path) -> dict[str, str]:
    return {**os.environ, **{f.name: f.read_text() for f in (root / "secrets").iterdir()}}


TARGETS = {"detected": 5.0, "alert firing": 10.0, "webhook received": 12.0}


def agent_offline(root: Path, say: Callable[[str], None], limit: float = 90) -> Timeline:
    """Kill one agent (SIGKILL): detection, alert, webhook, notification; then restart it and
    wait for the incident to resolve."""
    agents = _by_kind(root, "agent")
    if not agents:
        raise ScenarioError("the stack runs no agent")
    agent = agents[0]
    agent_id = agent["name"].removeprefix("agent-")
    region = agent["region"]
    prom = next(p["url"] for p in _by_kind(root, "prometheus") if p["region"] == region)
    hook = _by_kind(root, "webhook")[0]["url"]
    say(f"agent-offline: killing agent {agent_id} in {region} (pid {agent['pid']})")
    timeline = Timeline("agent-offline", time.time())
    os.kill(agent["pid"], signal.SIGKILL)
    timeline.mark("breach", f"agent {agent_id} killed (SIGKILL)")
    _until(
        "up == 0",
        lambda: _query(prom, f'up{{job="globalmon-agent",agent="{agent_id}"}} == 0'),
        limit,
    )
    timeline.mark("detected", f"up == 0 in Prometheus {region}")
    state = _until("AgentDown", lambda: _alert_state(prom, "AgentDown", agent=agent_id), limit)
    if state == "pending":
        timeline.mark("alert pending", "AgentDown")
        _until(
            "AgentDown firing",
            lambda: _alert_state(prom, "AgentDown", agent=agent_id) == "firing",
            limit,
        )
    timeline.mark("alert firing", "AgentDown (Prometheus sends it to both Alertmanagers)")
    incident = _until(
        "the incident", lambda: _incident(root, hook, "AgentDown", agent=agent_id), limit
    )
    timeline.mark("webhook received", f"incident #{incident['id']}, policy {incident['policy']}")
    receivers = _until("a notification", lambda: _notified(root, timeline.t0, agent_id), limit)
    timeline.mark("notified", ", ".join(sorted(set(receivers))))

    with (root / "logs" / f"{agent['name']}.log").open("ab") as log:
        proc = subprocess.Popen(
            agent["argv"],
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            env=_env(root),
            start_new_session=True,
        )
    runner._CHILDREN[proc.pid] = proc
    _replace_pid(root, agent["name"], proc.pid)
    timeline.mark("agent restarted", f"pid {proc.pid}")
    _until(
        "the incident resolved",
        lambda: (
            (i := _incident(root, hook, "AgentDown", agent=agent_id)) and i["state"] == "resolved"
        ),
        limit,
    )
    timeline.mark("resolved", "the webhook closed the incident")
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
    "agent-offline": agent_offline,
}
