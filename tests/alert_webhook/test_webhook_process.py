"""`globalmon webhook` as a process: fed by real Alertmanagers (an HA pair and two independent
ones), killed with SIGKILL in the middle of a 10k-alert burst, stopped with Ctrl-C, and with
its writer process killed under load."""

from __future__ import annotations

import asyncio
import json
import signal
import sqlite3
import sys
import textwrap
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from local_stack import servers
from tests.alert_webhook.fixtures import RECORDER, TOKEN, Sink
from tests.exporters.waiting import until

pytestmark = pytest.mark.integration
AUTH = {"Authorization": f"Bearer {TOKEN}"}


def write_spec(tmp: Path, sink_url: str, port: int) -> Path:
    recorder = tmp / "recorder.py"
    recorder.write_text(RECORDER)
    runs_file = tmp / "runs.txt"
    spec = tmp / "spec.yaml"
    spec.write_text(
        textwrap.dedent(
            f"""
            version: v1
            global:
              webhook_url: http://127.0.0.1:{port}
              credentials: {{webhook_token: {{env: T_WEBHOOK_TOKEN}}}}
            regions:
              - {{id: eu-west-1, name: EU, prometheus_urls: ["http://127.0.0.1:1"]}}
            services:
              - {{name: api, escalation_policy: standard}}  # the burst's alerts notify nobody
            receivers:
              - {{type: webhook, name: ops-hook, url: "{sink_url}/hook"}}
            escalation_policies:
              - name: standard
                steps: [{{after: 0s, notify: [ops-hook]}}]
            recovery_actions:
              - name: restart
                type: command
                matchers: ['alertname=~"ApiDown|Burst"']
                argv: ["{sys.executable}", "{recorder}", "{runs_file}", "{{{{ labels.instance }}}}"]
                guardrails: {{cooldown: 1h, max_concurrent: 4, max_per_region: 4}}
            """
        )
    )
    return spec


def webhook(
    tmp: Path, spec: Path, port: int, *, db: str | None = None, name: str = "webhook"
) -> servers.Server:
    """`globalmon webhook` on ``port``; its database ``db`` (a file or a URL; default a file
    in ``tmp``)."""
    argv = [sys.executable, "-m", "globalmon", "webhook", "--spec", str(spec)]
    argv += ["--db", db or str(tmp / "webhook.db"), "--web.listen-address", f"127.0.0.1:{port}"]
    return servers.Server(name, argv, port, tmp / name)


def runs(tmp: Path) -> list[str]:
    path = tmp / "runs.txt"
    return path.read_text().splitlines() if path.exists() else []


async def incidents(url: str) -> list[dict[str, Any]]:
    async with aiohttp.ClientSession() as s, s.get(f"{url}/api/v1/incidents", headers=AUTH) as r:
        assert r.status == 200
        found: list[dict[str, Any]] = (await r.json())["incidents"]
        return found


AM_CONFIG = """
route:
  receiver: globalmon
  group_by: [alertname]
  group_wait: 1s
  group_interval: 1s
  repeat_interval: 1h
receivers:
  - name: globalmon
    webhook_configs:
{targets}"""
TARGET = """      - url: {url}/webhook
        send_resolved: true
        max_alerts: 0
        http_config: {{authorization: {{credentials: {token}}}}}
"""


def am_config(*hooks: servers.Server) -> str:
    """An Alertmanager config sending every alert to each of ``hooks``."""
    return AM_CONFIG.format(targets="".join(TARGET.format(url=h.url, token=TOKEN) for h in hooks))


@pytest.mark.parametrize("clustered", [True, False], ids=["ha-pair", "independent-pair"])
async def test_two_alertmanagers_one_incident_one_action(
    tmp_path: Path,
    sink: Sink,
    alertmanager_bin: str,
    monkeypatch: pytest.MonkeyPatch,
    clustered: bool,
) -> None:
    monkeypatch.setenv("T_WEBHOOK_TOKEN", TOKEN)
    port = servers.free_port()
    hook = webhook(tmp_path, write_spec(tmp_path, sink.url, port), port).start()
    ams: list[servers.Server] = []
    try:
        hook.wait_ready()
        config = tmp_path / "am.yml"
        config.write_text(am_config(hook))
        gossip = [servers.free_port(), servers.free_port()] if clustered else [None, None]
        for i in range(2):
            peers = [f"127.0.0.1:{gossip[0]}"] if clustered and i == 1 else []
            am = servers.alertmanager(
                alertmanager_bin, config, tmp_path / f"am{i}", cluster_port=gossip[i], peers=peers
            )
            ams.append(am.start())
        for am in ams:
            am.wait_ready()

        starts = datetime.now(UTC).replace(microsecond=0)
        labels = {
            "alertname": "ApiDown",
            "severity": "critical",
            "region": "eu-west-1",
            "service": "api",
            "instance": "api-1",
        }
        fire = [
            {
                "labels": labels,
                "annotations": {"summary": "api down"},
                "startsAt": starts.isoformat(),
                "endsAt": (starts + timedelta(hours=1)).isoformat(),
            }
        ]
        for am in ams:  # as Prometheus does: every alert to every Alertmanager
            await post_json(f"{am.url}/api/v2/alerts", fire)

        await until("the incident", lambda: firing(hook.url), limit=60)
        await until("the action's run", lambda: runs(tmp_path), limit=60)
        if not clustered:  # both notify: the second copy must be seen as a duplicate
            await until("the second copy", lambda: duplicates(hook.url) >= 1, limit=60)
        resolved_at = datetime.now(UTC).replace(microsecond=0)
        resolve = [{**fire[0], "endsAt": resolved_at.isoformat()}]
        for am in ams:
            await post_json(f"{am.url}/api/v2/alerts", resolve)
        await until("the resolution", lambda: resolved(hook.url), limit=60)

        found = await incidents(hook.url)
        assert len(found) == 1
        assert runs(tmp_path) == ["api-1|api"]
        await until("the notification", lambda: sink.received.get("/hook"), limit=30)
        triggers = [b for b in sink.bodies("/hook") if b["event"] == "trigger"]
        assert len(triggers) == 1
    finally:
        for am in ams:
            am.stop()
        hook.stop()
        print(hook.log())


def _get(url: str) -> Any:
    import urllib.request

    request = urllib.request.Request(url, headers=AUTH)
    with urllib.request.urlopen(request, timeout=5) as resp:
        return json.loads(resp.read())


def firing(url: str) -> bool:
    return any(i["state"] == "firing" for i in _get(f"{url}/api/v1/incidents")["incidents"])


def resolved(url: str) -> bool:
    found = _get(f"{url}/api/v1/incidents")["incidents"]
    return bool(found) and all(i["state"] == "resolved" for i in found)


def duplicates(url: str) -> float:
    _, text = servers.http_get(f"{url}/metrics")
    for line in text.decode().splitlines():
        if line.startswith("globalmon_webhook_alerts_duplicate_total "):
            return float(line.split()[1])
    return 0.0


async def post_json(url: str, body: Any) -> None:
    async with aiohttp.ClientSession() as s, s.post(url, json=body) as r:
        assert r.status == 200, await r.text()


def burst_payloads(n_alerts: int, per_payload: int, actions_every: int) -> list[dict[str, Any]]:
    out = []
    starts = "2026-01-01T00:00:00Z"
    for first in range(0, n_alerts, per_payload):
        alerts = []
        for i in range(first, first + per_payload):
            name = "Burst" if i % actions_every == 0 else "Noise"
            labels = {
                "alertname": name,
                "region": "eu-west-1",
                "severity": "warning",
                "instance": f"host-{i}",
            }
            alerts.append(
                {
                    "status": "firing",
                    "labels": labels,
                    "annotations": {},
                    "startsAt": starts,
                    "endsAt": "0001-01-01T00:00:00Z",
                    "generatorURL": "",
                    "fingerprint": f"{i:016x}",
                }
            )
        out.append({"version": "4", "status": "firing", "receiver": "globalmon", "alerts": alerts})
    return out


async def test_kill_9_during_a_10k_burst_loses_no_acknowledged_alert_and_runs_no_action_twice(
    tmp_path: Path, sink: Sink, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("T_WEBHOOK_TOKEN", TOKEN)
    port = servers.free_port()
    spec = write_spec(tmp_path, sink.url, port)
    payloads = burst_payloads(10_000, 50, actions_every=100)
    acked: set[str] = set()
    hook = webhook(tmp_path, spec, port).start()
    try:
        hook.wait_ready()

        async def sender(queue: asyncio.Queue[dict[str, Any]], s: aiohttp.ClientSession) -> None:
            while not queue.empty():
                body = queue.get_nowait()
                try:
                    async with s.post(f"{hook.url}/webhook", json=body, headers=AUTH) as r:
                        if r.status == 200:
                            acked.update(a["fingerprint"] for a in body["alerts"])
                except aiohttp.ClientError:
                    return  # the process is gone

        async def killer() -> None:
            await until("3,000 acknowledged alerts", lambda: len(acked) >= 3000, poll=0.01)
            assert hook.process is not None
            hook.process.send_signal(signal.SIGKILL)

        queue: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
        for p in payloads:
            queue.put_nowait(p)
        async with aiohttp.ClientSession() as s:
            kill = asyncio.create_task(killer())
            await asyncio.gather(*(sender(queue, s) for _ in range(8)))
            await asyncio.wait_for(kill, 30)
        assert hook.process is not None
        hook.process.wait(10)
        assert 3000 <= len(acked) < 10_000, len(acked)

        db = sqlite3.connect(tmp_path / "webhook.db")
        stored = {f for (f,) in db.execute("SELECT fingerprint FROM receipts")}
        db.close()
        assert acked <= stored, f"{len(acked - stored)} acknowledged alerts lost"

        # Alertmanager retries what was not acknowledged (and may resend the rest)
        hook = webhook(tmp_path, spec, port).start()
        hook.wait_ready()
        async with aiohttp.ClientSession() as s:
            for body in payloads:
                async with s.post(f"{hook.url}/webhook", json=body, headers=AUTH) as r:
                    assert r.status == 200
        expected = 10_000 // 100

        def all_actions_done() -> bool:
            db = sqlite3.connect(tmp_path / "webhook.db")
            (left,) = db.execute(
                "SELECT count(*) FROM actions WHERE state IN ('pending', 'running')"
            ).fetchone()
            db.close()
            return bool(left == 0)

        await until("every action finished", all_actions_done, limit=120)
        counts = Counter(line.split("|")[0] for line in runs(tmp_path))
        assert max(counts.values()) == 1, counts.most_common(3)
        db = sqlite3.connect(tmp_path / "webhook.db")
        (stored_alerts,) = db.execute("SELECT count(*) FROM receipts").fetchone()
        states = Counter(s for (s,) in db.execute("SELECT state FROM actions"))
        db.close()
        assert stored_alerts == 10_000
        # every Burst alert decided once: run once, or interrupted by the kill (never rerun)
        assert sum(states.values()) == expected, states
        # a run cut short by the kill may or may not have reached the recorder
        ran = len(counts)
        assert states["succeeded"] <= ran <= states["succeeded"] + states["interrupted"], states
        assert set(states) <= {"succeeded", "interrupted"}, states
    finally:
        hook.stop()


def _alert(fingerprint: str) -> dict[str, Any]:
    labels = {"alertname": "Noise", "region": "eu-west-1", "instance": fingerprint}
    alert = {"status": "firing", "labels": labels, "startsAt": "2026-01-01T00:00:00Z"}
    return {"version": "4", "status": "firing", "alerts": [alert | {"fingerprint": fingerprint}]}


def _ready(url: str) -> bool:
    try:
        return servers.http_get(url)[0] == 200
    except OSError:
        return False


def _writer_pids(parent: int) -> list[int]:
    import subprocess

    found = subprocess.run(
        ["pgrep", "-P", str(parent)], capture_output=True, text=True, check=False
    )
    return [int(p) for p in found.stdout.split()]


def test_ctrl_c_stops_the_webhook_and_its_writer_cleanly(
    tmp_path: Path, sink: Sink, monkeypatch: pytest.MonkeyPatch
) -> None:
    import os
    import subprocess
    import urllib.request

    monkeypatch.setenv("T_WEBHOOK_TOKEN", TOKEN)
    port = servers.free_port()
    spec = write_spec(tmp_path, sink.url, port)
    argv = webhook(tmp_path, spec, port).argv
    proc = subprocess.Popen(argv, stderr=subprocess.PIPE, text=True, start_new_session=True)
    url = f"http://127.0.0.1:{port}"
    try:
        servers.wait_for(lambda: _ready(f"{url}/-/ready") or None, timeout=30, what="the webhook")
        writers = _writer_pids(proc.pid)
        assert len(writers) == 1, writers
        post = urllib.request.Request(
            f"{url}/webhook",
            data=json.dumps(_alert("c0ffee")).encode(),
            headers={**AUTH, "Content-Type": "application/json"},
        )
        with urllib.request.urlopen(post, timeout=10) as r:
            assert r.status == 200
        os.killpg(proc.pid, signal.SIGINT)  # what Ctrl-C in a terminal does: the whole group
        _, stderr = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 0, stderr
    assert "Traceback" not in stderr, stderr
    assert all(not Path(f"/proc/{w}").exists() for w in writers), "the writer outlived it"
    db = sqlite3.connect(tmp_path / "webhook.db")
    assert db.execute("SELECT count(*) FROM receipts").fetchone()[0] == 1
    db.close()


async def test_a_killed_writer_process_is_replaced_and_nothing_acknowledged_is_lost(
    tmp_path: Path, sink: Sink, monkeypatch: pytest.MonkeyPatch
) -> None:
    import os

    monkeypatch.setenv("T_WEBHOOK_TOKEN", TOKEN)
    port = servers.free_port()
    hook = webhook(tmp_path, write_spec(tmp_path, sink.url, port), port).start()
    try:
        hook.wait_ready()
        assert hook.process is not None
        (first,) = _writer_pids(hook.process.pid)
        statuses: dict[str, int] = {}
        async with aiohttp.ClientSession() as s:

            async def send(fingerprint: str) -> None:
                async with s.post(
                    f"{hook.url}/webhook", json=_alert(fingerprint), headers=AUTH
                ) as r:
                    statuses[fingerprint] = r.status

            burst = [asyncio.create_task(send(f"a{i}")) for i in range(300)]
            await until("some answered", lambda: len(statuses) >= 20, poll=0.005)
            os.kill(first, signal.SIGKILL)
            await asyncio.gather(*burst)
            assert set(statuses.values()) <= {200, 503}, Counter(statuses.values())
            await send("after")  # a new writer takes it
            assert statuses["after"] == 200
        (second,) = _writer_pids(hook.process.pid)
        assert second != first
        db = sqlite3.connect(tmp_path / "webhook.db")
        stored = {f for (f,) in db.execute("SELECT fingerprint FROM receipts")}
        db.close()
        acked = {f for f, status in statuses.items() if status == 200}
        assert acked <= stored, f"{len(acked - stored)} acknowledged alerts lost"
    finally:
        hook.stop()
