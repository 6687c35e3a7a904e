"""The action runners' edges: timeouts kill the process group, dry runs run nothing, a silence
exists in a real Alertmanager while an action runs, systemd_restart through the real systemctl."""

from __future__ import annotations

import asyncio
import json
import os
import sys
import textwrap
from pathlib import Path
from typing import Any

import pytest

from local_stack import servers
from tests.alert_webhook.fixtures import (
    T0,
    Clock,
    Mailbox,
    Sink,
    alert,
    open_harness,
    payload,
    spec_text,
)
from tests.conftest import StartServer
from tests.exporters.waiting import until

pytestmark = pytest.mark.usefixtures("env_secrets")


async def harness_with(
    aiohttp_client: Any, tmp_path: Path, sink: Sink, mailbox: tuple[Mailbox, int], extra: str,
    **kw: Any,
) -> Any:  # fmt: skip
    text = spec_text(sink.url, mailbox[1], tmp_path, **kw) + as_actions(extra)
    return await open_harness(aiohttp_client, tmp_path, text, Clock())


def as_actions(items: str) -> str:
    """YAML list items appended to the test spec's recovery_actions (indented two spaces)."""
    return textwrap.indent(textwrap.dedent(items), "  ")


SLEEPER = """
import subprocess, sys, time
child = subprocess.Popen(["sleep", "60"])
open(sys.argv[1], "w").write(str(child.pid))
time.sleep(60)
"""


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # a killed child not yet reaped by its (also killed) parent is a zombie: not running
    status = Path(f"/proc/{pid}/status").read_text()
    return "\nState:\tZ" not in status


async def test_a_run_past_its_timeout_is_killed_with_its_children(
    aiohttp_client: Any, tmp_path: Path, sink: Sink, mailbox: tuple[Mailbox, int]
) -> None:
    script = tmp_path / "sleeper.py"
    script.write_text(SLEEPER)
    pid_file = tmp_path / "child.pid"
    h, store = await harness_with(
        aiohttp_client, tmp_path, sink, mailbox,
        f"""
          - name: slow
            type: command
            matchers: ['alertname="Slow"']
            argv: ["{sys.executable}", "{script}", "{pid_file}"]
            guardrails: {{timeout: 1s}}
        """,
    )  # fmt: skip
    await h.post(payload(alert("Slow", starts=T0, service="api")))
    await h.tick()
    actions = (await h.get("/api/v1/incidents/1"))["actions"]
    # the failed run is retried after the cooldown (max_attempts 3), not at once
    assert [(a["state"], a["reason"]) for a in actions] == [("timeout", ""), ("pending", "retry")]
    child = int(pid_file.read_text())
    for _ in range(50):  # the kernel tears the group down asynchronously
        if not await asyncio.to_thread(alive, child):
            break
        await asyncio.sleep(0.1)
    assert not await asyncio.to_thread(alive, child), "the action's child outlived the kill"
    store.close()


async def test_a_dry_run_runs_nothing_and_says_what_it_would_run(
    aiohttp_client: Any, tmp_path: Path, sink: Sink, mailbox: tuple[Mailbox, int]
) -> None:
    h, store = await harness_with(
        aiohttp_client, tmp_path, sink, mailbox,
        f"""
          - name: careful
            type: command
            matchers: ['alertname="Careful"']
            argv: ["{sys.executable}", "{tmp_path / "recorder.py"}", "{tmp_path / "runs.txt"}"]
            guardrails: {{dry_run: true}}
        """,
    )  # fmt: skip
    await h.post(payload(alert("Careful", starts=T0, service="api")))
    await h.tick()
    (action,) = (await h.get("/api/v1/incidents/1"))["actions"]
    assert action["state"] == "dry_run"
    assert action["detail"].startswith("would run command: ")
    assert h.run_lines() == []
    store.close()


async def test_systemd_restart_goes_through_systemctl_and_its_failure_escalates(
    aiohttp_client: Any, tmp_path: Path, sink: Sink, mailbox: tuple[Mailbox, int]
) -> None:
    """No systemd runs as PID 1 here, and on a systemd host the unit does not exist: either way
    systemctl itself answers, and its failure is recorded and escalates."""
    h, store = await harness_with(
        aiohttp_client, tmp_path, sink, mailbox,
        """
          - name: restart-unit
            type: systemd_restart
            matchers: ['alertname="UnitSick"']
            unit: "globalmon-{{ labels.service }}.service"
        """,
    )  # fmt: skip
    await h.post(payload(alert("UnitSick", starts=T0, service="api")))
    await h.post(payload(alert("UnitSick", starts=T0, service="x.service; reboot")))
    await h.tick()
    sick = await h.get("/api/v1/incidents/1")
    action, retry = sick["actions"]
    assert (retry["state"], retry["reason"]) == ("pending", "retry")
    assert action["target"] == "globalmon-api.service"
    assert action["state"] == "failed"
    assert action["detail"].startswith("exit "), action["detail"]  # systemctl's own answer
    assert "escalate_now" in [e["kind"] for e in sick["timeline"]]
    hostile = await h.get("/api/v1/incidents/2")
    assert hostile["actions"][0]["state"] == "refused"
    store.close()


CHECK_SILENCE = """
import json, sys, urllib.request
with urllib.request.urlopen(sys.argv[1] + "/api/v2/silences") as r:
    silences = json.load(r)
active = [s for s in silences if s["status"]["state"] == "active"]
open(sys.argv[2], "w").write(json.dumps(active))
"""


@pytest.mark.integration
async def test_an_action_runs_under_a_silence_that_ends_with_it(
    aiohttp_client: Any,
    tmp_path: Path,
    sink: Sink,
    mailbox: tuple[Mailbox, int],
    start_alertmanager: StartServer,
) -> None:
    am = start_alertmanager("route: {receiver: none}\nreceivers: [{name: none}]\n")
    script = tmp_path / "check_silence.py"
    script.write_text(CHECK_SILENCE)
    seen = tmp_path / "seen.json"
    text = spec_text(sink.url, mailbox[1], tmp_path).replace(
        "alertmanager_urls: [http://127.0.0.1:1]", f"alertmanager_urls: [{am.url}]"
    )
    text += as_actions(
        f"""
          - name: quiet-fix
            type: command
            matchers: ['alertname="Noisy"']
            argv: ["{sys.executable}", "{script}", "{am.url}", "{seen}"]
            guardrails: {{silence: true}}
        """
    )
    h, store = await open_harness(aiohttp_client, tmp_path, text, Clock())
    await h.post(payload(alert("Noisy", starts=T0, service="api", instance="i-1")))
    await h.tick()
    (action,) = (await h.get("/api/v1/incidents/1"))["actions"]
    assert action["state"] == "succeeded", action
    (silence,) = json.loads(seen.read_text())
    matchers = {m["name"]: m["value"] for m in silence["matchers"]}
    assert matchers["alertname"] == "Noisy"
    assert matchers["instance"] == "i-1"
    assert silence["createdBy"] == "globalmon-webhook"

    def expired() -> bool:
        found = servers.get_json(f"{am.url}/api/v2/silences")
        return all(s["status"]["state"] == "expired" for s in found)

    await until("the silence expired", expired, limit=10)
    store.close()
