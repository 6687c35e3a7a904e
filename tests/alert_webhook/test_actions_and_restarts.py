"""Recovery actions and their guardrails, restarts in the middle of things, the audit trail."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from alert_webhook.audit import canonical
from tests.alert_webhook.fixtures import (
    T0,
    Clock,
    Harness,
    Mailbox,
    Sink,
    alert,
    open_harness,
    payload,
    spec_text,
)
from tests.conftest import StartServer
from tests.exporters.promtool import check_metrics

pytestmark = pytest.mark.usefixtures("env_secrets")


def action_states(incident: dict[str, Any]) -> list[tuple[str, str]]:
    return [(a["action"], a["state"]) for a in incident["actions"]]


async def test_an_action_runs_once_for_duplicates_and_honours_its_cooldown(hook: Harness) -> None:
    first = alert(starts=T0, service="api", instance="api-1")
    for _ in range(3):  # a retry and the HA peer's copy
        await hook.post(payload(first))
    await hook.tick()
    await hook.tick()
    assert hook.run_lines() == ["api-1|api"]  # argv from the template, env from the labels
    one = await hook.get("/api/v1/incidents/1")
    assert action_states(one) == [("restart-api", "succeeded")]
    assert one["state"] == "firing"  # no post-check: recovery is not claimed

    # a new episode within the 10m cooldown of the same target: skipped, with the reason
    await hook.post(payload(alert(starts=T0, service="api", instance="api-1", status="resolved")))
    hook.clock.advance(120)
    await hook.post(payload(alert(starts=T0 + 120, service="api", instance="api-1")))
    await hook.tick()
    two = await hook.get("/api/v1/incidents/2")
    assert two["actions"][0]["state"] == "skipped"
    assert two["actions"][0]["reason"].startswith("cooldown")
    # another target is not held by that cooldown
    await hook.post(payload(alert(starts=T0 + 120, service="api", instance="api-2")))
    await hook.tick()
    assert hook.run_lines() == ["api-1|api", "api-2|api"]
    # resolved alerts trigger nothing unless the action asks for them
    assert [a["trigger"] for a in await actions(hook)] == ["firing"] * 3


async def actions(hook: Harness) -> list[dict[str, Any]]:
    rows = await hook.hook.store.rows("SELECT trigger FROM actions ORDER BY id")
    return [dict(r) for r in rows]


async def test_blast_radius_holds_a_second_run_in_the_region(hook: Harness) -> None:
    store = hook.hook.store
    await hook.post(payload(alert(starts=T0, service="api", instance="a")))
    await hook.post(payload(alert(starts=T0, service="api", instance="b")))
    claimed = await store.claim_actions(hook.clock())
    assert claimed == [1]  # max_per_region 1: the second waits for a slot
    assert await store.claim_actions(hook.clock()) == []
    await store.finish_action(1, "succeeded", "", hook.clock())
    assert await store.claim_actions(hook.clock()) == [2]


async def test_approval_holds_an_action_until_approved(hook: Harness, sink: Sink) -> None:
    await hook.post(payload(alert("WebSlow", starts=T0, service="web")))
    await hook.tick()
    assert "/scale" not in sink.received
    held = (await hook.get("/api/v1/actions?state=awaiting_approval"))["actions"]
    assert [(a["id"], a["action"]) for a in held] == [(1, "scale-web")]
    await hook.act("/api/v1/actions/1/approve", {"by": "carol"})
    await hook.act("/api/v1/actions/1/approve", {"by": "carol"}, status=409)
    await hook.tick()
    assert sink.bodies("/scale") == [{"service": "web"}]
    incident = await hook.get("/api/v1/incidents/1")
    kinds = [e["kind"] for e in incident["timeline"]]
    assert kinds.index("action_approved") < kinds.index("action_started")


async def test_a_rejected_action_never_runs(hook: Harness, sink: Sink) -> None:
    await hook.post(payload(alert("WebSlow", starts=T0, service="web")))
    await hook.act("/api/v1/actions/1/reject", {"by": "carol"})
    await hook.tick()
    assert "/scale" not in sink.received
    assert (await hook.get("/api/v1/incidents/1"))["actions"][0]["state"] == "rejected"


async def test_a_restart_mid_escalation_runs_the_next_step_once_on_time(
    aiohttp_client: Any, tmp_path: Path, sink: Sink, mailbox: tuple[Mailbox, int]
) -> None:
    text = spec_text(sink.url, mailbox[1], tmp_path)
    clock = Clock()
    first, store = await open_harness(aiohttp_client, tmp_path, text, clock)
    await first.post(payload(alert(starts=T0, service="api")))
    await first.tick()
    clock.now = T0 + 240
    await first.tick()
    await first.client.close()
    store.close()  # the process goes away at 4m

    clock.now = T0 + 299
    second, store = await open_harness(aiohttp_client, tmp_path, text, clock)
    await second.tick()
    assert mailbox[0].messages == []
    clock.now = T0 + 300
    await second.tick()
    await second.tick()
    assert len(mailbox[0].messages) == 1
    assert len(sink.received["/hook"]) == 1
    store.close()


async def test_an_action_running_at_a_crash_is_never_run_again(
    aiohttp_client: Any, tmp_path: Path, sink: Sink, mailbox: tuple[Mailbox, int]
) -> None:
    text = spec_text(sink.url, mailbox[1], tmp_path)
    clock = Clock()
    first, store = await open_harness(aiohttp_client, tmp_path, text, clock)
    await first.post(payload(alert(starts=T0, service="api", instance="a")))
    assert await store.claim_actions(clock()) == [1]  # marked running; then the process dies
    await first.client.close()
    store.close()

    clock.advance(5)
    second, store = await open_harness(aiohttp_client, tmp_path, text, clock)
    await second.tick()
    assert second.run_lines() == []
    incident = await second.get("/api/v1/incidents/1")
    assert action_states(incident) == [("restart-api", "interrupted")]
    assert "escalate_now" in [e["kind"] for e in incident["timeline"]]
    store.close()


VERIFY_SPEC_EXTRA = """
  - name: fix-cache
    type: command
    matchers: ['alertname="CacheDown"']
    argv: ["{python}", "-c", "pass"]
    guardrails: {{precondition: 'vector(1)', max_attempts: 1}}
    verify: {{expr: '{verify}', within: 30s, interval: 10s}}
  - name: guarded
    type: command
    matchers: ['alertname="Guarded"']
    argv: ["{python}", "-c", "pass"]
    guardrails: {{precondition: 'vector(1) == 2'}}
"""


@pytest.mark.integration
@pytest.mark.parametrize(
    ("verify_expr", "recovered"), [("vector(1) == 1", True), ("vector(0) == 1", False)]
)
async def test_post_check_on_a_real_prometheus(
    aiohttp_client: Any,
    tmp_path: Path,
    sink: Sink,
    mailbox: tuple[Mailbox, int],
    start_prometheus: StartServer,
    verify_expr: str,
    recovered: bool,
) -> None:
    prom = start_prometheus("global:\n  scrape_interval: 1m\n")
    text = spec_text(sink.url, mailbox[1], tmp_path, prometheus=prom.url)
    text += VERIFY_SPEC_EXTRA.format(python=sys.executable, verify=verify_expr)
    clock = Clock()
    h, store = await open_harness(aiohttp_client, tmp_path, text, clock)
    await h.post(payload(alert("CacheDown", starts=T0, service="cache")))
    await h.post(payload(alert("Guarded", starts=T0, service="cache")))
    await h.tick()
    clock.advance(1)
    await h.tick()
    cache = await h.get("/api/v1/incidents/1")
    assert cache["auto_recovered"] is recovered
    assert action_states(cache) == [("fix-cache", "verified" if recovered else "verify_failed")]
    escalated = [e for e in cache["timeline"] if e["kind"] == "escalated"]
    if recovered:
        assert [e["step"] for e in escalated] == ["1"]
    else:  # escalated at once: step 2 did not wait for its 5 minutes
        assert [e["step"] for e in escalated] == ["1", "2"]
    guarded = await h.get("/api/v1/incidents/2")
    assert action_states(guarded) == [("guarded", "precondition_failed")]
    text = await (await h.client.get("/metrics")).text()
    # a run that did not pass its check is no success; a precondition that held it back is no run
    ratio = "1.0" if recovered else "0.0"
    assert f'globalmon_webhook_recovery_success_ratio{{action="fix-cache"}} {ratio}' in text
    assert 'recovery_success_ratio{action="guarded"}' not in text
    store.close()


async def test_a_template_naming_a_missing_label_refuses_the_action(hook: Harness) -> None:
    await hook.post(payload(alert(starts=T0, service="api")))  # no `instance` label
    await hook.tick()
    assert hook.run_lines() == []
    (action,) = (await hook.get("/api/v1/incidents/1"))["actions"]
    assert action["state"] == "refused"
    assert "instance" in action["reason"]


async def test_metrics_are_promtool_clean(hook: Harness, promtool_bin: str) -> None:
    await hook.post(payload(alert(starts=T0, service="api", instance="a")))
    await hook.tick()
    text = await (await hook.client.get("/metrics")).text()
    await check_metrics(promtool_bin, text)
    assert 'globalmon_webhook_actions_total{action="restart-api",result="succeeded"} 1.0' in text
    assert "globalmon_webhook_processing_duration_seconds_bucket" in text


async def test_audit_verify_finds_edited_deleted_and_inserted_records(
    hook: Harness, tmp_path: Path
) -> None:
    await hook.post(payload(alert(starts=T0, service="api")))
    await hook.tick()
    await hook.act("/api/v1/incidents/1/acknowledge", {"by": "alice"})
    db_path = hook.db
    cli = [sys.executable, "-m", "globalmon", "audit", "verify", "--db", str(db_path)]
    ok = await run(cli)
    assert ok.returncode == 0, ok.stderr
    assert ok.stdout.startswith("audit trail intact:")
    head = ok.stdout.split("head ")[1].strip()
    export = await run([*cli[:4], "export", "--db", str(db_path)])
    kinds = [line.split('"kind": "')[1].split('"')[0] for line in export.stdout.splitlines()]
    assert {"receipt", "opened", "action_decided", "notification", "acknowledged"} <= set(kinds)
    tampered = hook.tampered

    assert tampered(
        "UPDATE audit SET data = replace(data, 'alice', 'mallory') WHERE kind='acknowledged'"
    )
    assert tampered("DELETE FROM audit WHERE seq = 3")
    assert tampered(
        "INSERT INTO audit SELECT seq + 1000, at, kind, data, prev_hash, hash "
        "FROM audit WHERE seq = 2"
    )
    assert tampered("SELECT 1") == []  # the control: an untouched copy verifies

    assert (await run([*cli, "--expect-head", "0" * 64])).returncode == 1
    assert (await run([*cli, "--expect-head", head])).returncode == 0


async def run(argv: list[str]) -> subprocess.CompletedProcess[str]:
    return await asyncio.to_thread(
        subprocess.run, argv, capture_output=True, text=True, check=False
    )


@pytest.mark.parametrize(
    "data",
    [
        {"alertname": "A", "severity": "warning", "region": "eu", "instance": "h:9100"},
        {"incident": 3, "policy": None, "startsAt": "2026-01-01T00:00:00+00:00"},
        {"z": {"y": [1, 2.5, 1e300, True, None]}, "ü": 'line\n"q"\u2028', "a": {}},
        {"when": Path("/x")},  # not JSON: its str(), as json.dumps(default=str) gives
        '$(rm -rf /); {{ 7*7 }}\n\t"',
        [],
        7,
    ],
)
def test_the_audit_text_is_json_dumps_sorted_and_compact(data: Any) -> None:
    """The chain's hashes cover this text, so the fast encoder must give json.dumps's bytes."""
    expected = json.dumps(data, sort_keys=True, separators=(",", ":"), default=str)
    assert canonical(data) == expected
