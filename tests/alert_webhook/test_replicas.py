"""Two `globalmon webhook` replicas on one real PostgreSQL, fed by a real Alertmanager pair:
every alert, escalation step and recovery action happens once across them, and a replica
killed with SIGKILL (mid-escalation, mid-action, mid-burst) is taken over by the other."""

from __future__ import annotations

import asyncio
import signal
import sys
import textwrap
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from alert_webhook.replicas import STALE_AFTER
from alert_webhook.schema import SCHEMA
from globalmon import pg
from local_stack import servers
from tests.alert_webhook.fixtures import RECORDER, TOKEN, Sink
from tests.alert_webhook.test_actions_and_restarts import run
from tests.alert_webhook.test_webhook_process import (
    AUTH,
    am_config,
    burst_payloads,
    post_json,
    runs,
    webhook,
)
from tests.exporters.waiting import until

pytestmark = pytest.mark.integration

STEPS = 5
STEP_EVERY = 10  # seconds between escalation steps


def write_spec(tmp: Path, sink_url: str, *, action_seconds: float) -> Path:
    """Escalation every 10 s to the sink; a recovery action that records its run, then takes
    ``action_seconds`` (long enough to be killed in the middle of it)."""
    recorder = tmp / "recorder.py"
    recorder.write_text(RECORDER + f"import time; time.sleep({action_seconds})\n")
    runs_file = tmp / "runs.txt"
    steps = ", ".join(f"{{after: {i * STEP_EVERY}s, notify: [ops-hook]}}" for i in range(STEPS))
    spec = tmp / "spec.yaml"
    spec.write_text(
        textwrap.dedent(
            f"""
            version: v1
            global:
              webhook_url: http://127.0.0.1:9
              credentials: {{webhook_token: {{env: T_WEBHOOK_TOKEN}}}}
            regions:
              - {{id: eu-west-1, name: EU, prometheus_urls: ["http://127.0.0.1:1"]}}
            services:
              - {{name: api, escalation_policy: paging}}
              - {{name: noise, escalation_policy: quiet}}
            receivers:
              - {{type: webhook, name: ops-hook, url: "{sink_url}/hook"}}
            escalation_policies:
              - name: paging
                steps: [{steps}]
              - name: quiet
                steps: [{{after: 24h, notify: [ops-hook]}}]
            recovery_actions:
              - name: restart
                type: command
                matchers: ['alertname=~"ApiDown|Burst"']
                argv: ["{sys.executable}", "{recorder}", "{runs_file}", "{{{{ labels.instance }}}}"]
                guardrails: {{cooldown: 1h, max_concurrent: 50, max_per_region: 50, timeout: 5m}}
            """
        )
    )
    return spec


def replica(tmp: Path, spec: Path, url: str, name: str) -> servers.Server:
    return webhook(tmp, spec, servers.free_port(), db=url, name=name)


def query(url: str, sql: str, args: tuple[Any, ...] = ()) -> list[Any]:
    db = pg.PgConnection(url, id_tables=pg.id_tables(SCHEMA))
    try:
        return [tuple(r) for r in db.execute(sql, args).fetchall()]
    finally:
        db.close()


def by_pid(hooks: list[servers.Server], owner: str) -> servers.Server:
    """The replica whose id (host:pid:random) is ``owner``."""
    pid = int(owner.split(":")[1])
    [found] = [h for h in hooks if h.process is not None and h.process.pid == pid]
    return found


async def test_an_alertmanager_pair_and_two_replicas_one_incident_each_step_once_through_a_kill(
    tmp_path: Path,
    sink: Sink,
    alertmanager_bin: str,
    pg_url: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Each Alertmanager of a clustered pair sends to both replicas. The replica running the
    recovery action is killed with SIGKILL in the middle of it and of the escalation: the other
    takes the remaining steps, each once, and marks the action interrupted (never rerun)."""
    monkeypatch.setenv("T_WEBHOOK_TOKEN", TOKEN)
    spec = write_spec(tmp_path, sink.url, action_seconds=600)
    hooks = [replica(tmp_path, spec, pg_url, f"replica{i}").start() for i in range(2)]
    ams: list[servers.Server] = []
    try:
        for hook in hooks:
            hook.wait_ready()
        config = tmp_path / "am.yml"
        config.write_text(am_config(*hooks))
        gossip = [servers.free_port(), servers.free_port()]
        for i in range(2):
            peers = [f"127.0.0.1:{gossip[0]}"] if i == 1 else []
            am = servers.alertmanager(
                alertmanager_bin, config, tmp_path / f"am{i}", cluster_port=gossip[i], peers=peers
            )
            ams.append(am.start())
        for am in ams:
            am.wait_ready()

        starts = datetime.now(UTC).replace(microsecond=0)
        labels = {"alertname": "ApiDown", "severity": "critical", "region": "eu-west-1"}
        labels |= {"service": "api", "instance": "api-1"}
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

        def owner() -> str | None:
            found = query(pg_url, "SELECT replica FROM action_owners")
            return str(found[0][0]) if found and runs(tmp_path) else None

        running = await until("the action running on one replica", owner, limit=60)
        await until("the first step's notification", lambda: steps_seen(sink), limit=30)
        victim = by_pid(hooks, running)
        assert victim.process is not None
        victim.process.send_signal(signal.SIGKILL)
        victim.process.wait(10)
        [survivor] = [h for h in hooks if h is not victim]

        def interrupted() -> bool:
            rows = query(pg_url, "SELECT state FROM actions")
            return rows == [("interrupted",)]

        await until("the survivor taking the action over", interrupted, limit=STALE_AFTER + 30)
        await until(
            f"all {STEPS} steps", lambda: len(steps_seen(sink)) >= STEPS, limit=STEPS * 15 + 30
        )
        resolve = [{**fire[0], "endsAt": datetime.now(UTC).isoformat()}]
        for am in ams:
            await post_json(f"{am.url}/api/v2/alerts", resolve)

        def resolved() -> bool:
            return query(pg_url, "SELECT state FROM incidents") == [("resolved",)]

        await until("the resolution", resolved, limit=60)
        await until("the resolve notification", lambda: events(sink)["resolve"] >= 1, limit=30)

        assert Counter(steps_seen(sink)) == {str(i + 1): 1 for i in range(STEPS)}
        assert events(sink)["resolve"] == 1
        assert len(runs(tmp_path)) == 1  # the action ran once, and was not started again
        (receipts,) = query(pg_url, "SELECT count(*) FROM receipts")[0]
        assert receipts == 2  # firing and resolved, however many copies arrived
        timeline = [k for (k,) in query(pg_url, "SELECT kind FROM timeline ORDER BY id")]
        assert timeline.count("action_interrupted") == 1
        assert timeline.count("escalated") == STEPS
        verified = await run([sys.executable, "-m", "globalmon", "audit", "verify", "--db", pg_url])
        assert verified.returncode == 0, verified.stdout + verified.stderr
        assert survivor.process is not None
        assert survivor.process.poll() is None  # it served on
    finally:
        for am in ams:
            am.stop()
        for hook in hooks:
            hook.stop()
            print(hook.log())


def events(sink: Sink) -> Counter[str]:
    return Counter(b["event"] for b in sink.bodies("/hook"))


def steps_seen(sink: Sink) -> list[str]:
    return [str(b["step"]) for b in sink.bodies("/hook") if b["event"] == "trigger"]


async def test_kill_9_of_one_replica_mid_burst_loses_nothing_and_runs_nothing_twice(
    tmp_path: Path, sink: Sink, pg_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Every payload goes to both replicas (two Alertmanagers, each sending to its own
    replica); one replica is killed after 1,000 acknowledged alerts, the other goes on."""
    monkeypatch.setenv("T_WEBHOOK_TOKEN", TOKEN)
    spec = write_spec(tmp_path, sink.url, action_seconds=1)
    hooks = [replica(tmp_path, spec, pg_url, f"replica{i}").start() for i in range(2)]
    n_alerts, every = 3000, 100
    payloads = burst_payloads(n_alerts, 50, actions_every=every)
    for body in payloads:  # the burst's alerts notify nobody soon (the quiet policy)
        for a in body["alerts"]:
            a["labels"]["service"] = "noise"
    acked: set[str] = set()
    try:
        for hook in hooks:
            hook.wait_ready()

        async def sender(
            hook: servers.Server, queue: list[dict[str, Any]], s: aiohttp.ClientSession
        ) -> None:
            for body in queue:
                try:
                    async with s.post(f"{hook.url}/webhook", json=body, headers=AUTH) as r:
                        if r.status == 200:
                            acked.update(a["fingerprint"] for a in body["alerts"])
                except aiohttp.ClientError:
                    return  # this replica is gone

        async def killer() -> None:
            await until("1,000 acknowledged alerts", lambda: len(acked) >= 1000, poll=0.01)
            assert hooks[0].process is not None
            hooks[0].process.send_signal(signal.SIGKILL)

        async with aiohttp.ClientSession() as s:
            kill = asyncio.create_task(killer())
            await asyncio.gather(*(sender(h, payloads, s) for h in hooks))
            await asyncio.wait_for(kill, 60)
        assert hooks[0].process is not None
        hooks[0].process.wait(10)
        assert len(acked) == n_alerts  # the survivor acknowledged all of them

        stored = {f for (f,) in query(pg_url, "SELECT fingerprint FROM receipts")}
        assert acked <= stored, f"{len(acked - stored)} acknowledged alerts lost"
        assert len(stored) == n_alerts

        def all_actions_done() -> bool:
            (left,) = query(
                pg_url,
                "SELECT count(*) FROM actions WHERE state IN ('pending', 'running', 'verifying')",
            )[0]
            return bool(left == 0)

        await until("every action finished", all_actions_done, limit=STALE_AFTER + 90)
        counts = Counter(line.split("|")[0] for line in runs(tmp_path))
        assert counts
        assert max(counts.values()) == 1, counts.most_common(3)
        states = Counter(s for (s,) in query(pg_url, "SELECT state FROM actions"))
        assert sum(states.values()) == n_alerts // every, states  # each Burst alert decided once
        assert set(states) <= {"succeeded", "interrupted"}, states
        # a run cut short by the kill may or may not have reached the recorder
        assert states["succeeded"] <= len(counts) <= sum(states.values()), (states, counts)
        (incidents,) = query(pg_url, "SELECT count(*) FROM incidents")[0]
        assert incidents == n_alerts
        verified = await run([sys.executable, "-m", "globalmon", "audit", "verify", "--db", pg_url])
        assert verified.returncode == 0, verified.stdout + verified.stderr
    finally:
        for hook in hooks:
            hook.stop()


async def test_two_replicas_claiming_at_once_share_out_every_delivery_and_step_once(
    tmp_path: Path, sink: Sink, pg_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Two stores (two replicas' writers) on one database, hammering the same due work from
    parallel tasks: each escalation step is taken once and each notification leased to one."""
    import json

    from alert_webhook.rules import Rules
    from alert_webhook.store import WebhookStore
    from globalmon.spec import load_spec

    monkeypatch.setenv("T_WEBHOOK_TOKEN", TOKEN)
    rules = Rules(load_spec(write_spec(tmp_path, sink.url, action_seconds=0)))
    stores = [WebhookStore(pg_url, rules) for _ in range(2)]
    try:
        now = datetime.now(UTC).timestamp()
        body = burst_payloads(400, 400, actions_every=10**9)[0]
        for a in body["alerts"]:
            a["labels"]["service"] = "api"  # the paging policy: step 1 is due at once
            a["startsAt"] = datetime.fromtimestamp(now, UTC).isoformat()
        await stores[0].ingest(json.dumps(body).encode(), now)
        for store in stores:
            await store.beat(now)  # alive: neither takes the other's leases over

        async def escalate(store: WebhookStore) -> list[str]:
            steps: list[str] = []
            for _ in range(20):
                steps += (await store.escalate(now)).escalations
            return steps

        taken = await asyncio.gather(*(escalate(s) for s in stores for _ in range(3)))
        assert sum(len(t) for t in taken) == 400, Counter(
            x for t in taken for x in t
        )  # step 1 of each incident, once in all

        async def claim(store: WebhookStore) -> list[int]:
            got: list[int] = []
            for _ in range(400):  # a bound: a claim that kept returning rows would loop
                batch = await store.claim_deliveries(now, limit=7)
                if not batch:
                    break
                got += [int(d["id"]) for d in batch]
            return got

        claimed = await asyncio.gather(*(claim(s) for s in stores for _ in range(4)))
        ids = [i for c in claimed for i in c]
        assert len(ids) == 400
        assert len(set(ids)) == 400, Counter(ids).most_common(3)
        assert any(claimed[:4])  # both replicas took a share
        assert any(claimed[4:])
    finally:
        for store in stores:
            store.close()


async def test_a_lost_database_connection_fails_one_batch_and_is_opened_again(
    tmp_path: Path, sink: Sink, pg_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """PostgreSQL restarted, a failover, a proxy that dropped the connection: the writes in
    hand fail (the app answers 503 and Alertmanager retries), the next ones go through."""
    import json
    import sqlite3

    from alert_webhook.rules import Rules
    from alert_webhook.store import WebhookStore
    from globalmon.spec import load_spec

    monkeypatch.setenv("T_WEBHOOK_TOKEN", TOKEN)
    rules = Rules(load_spec(write_spec(tmp_path, sink.url, action_seconds=0)))
    store = WebhookStore(pg_url, rules)
    bodies = [json.dumps(b).encode() for b in burst_payloads(30, 10, actions_every=10**9)]
    try:
        now = datetime.now(UTC).timestamp()
        assert (await store.ingest(bodies[0], now)).received["firing"] == 10
        assert await store.incidents({}, 100, None)  # a reader connection, opened
        killed = query(
            pg_url,
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
            "WHERE datname = current_database() AND pid <> pg_backend_pid()",
        )
        assert len(killed) >= 2  # the writer's and the reader's
        outcomes: list[str] = []
        for body in bodies[1:]:
            for _ in range(3):  # as Alertmanager retries a 503
                try:
                    await store.ingest(body, now)
                    outcomes.append("stored")
                    break
                except sqlite3.Error:
                    outcomes.append("failed")
        assert outcomes.count("stored") == 2, outcomes
        assert outcomes.count("failed") <= 1, outcomes
        assert len(await store.incidents({}, 100, None)) == 30
    finally:
        store.close()


async def test_replicas_gone_for_a_day_leave_the_table(
    tmp_path: Path, sink: Sink, pg_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Every start is a new replica id: the table keeps the live ones and the recently gone."""
    from alert_webhook.replicas import FORGET_AFTER
    from alert_webhook.rules import Rules
    from alert_webhook.store import WebhookStore
    from globalmon.spec import load_spec

    monkeypatch.setenv("T_WEBHOOK_TOKEN", TOKEN)
    rules = Rules(load_spec(write_spec(tmp_path, sink.url, action_seconds=0)))
    old, recent, live = (WebhookStore(pg_url, rules) for _ in range(3))
    try:
        now = datetime.now(UTC).timestamp()
        await old.beat(now - FORGET_AFTER - 60)
        await recent.beat(now - 3600)
        await live.beat(now)
        ids = {r for (r,) in query(pg_url, "SELECT id FROM replicas")}
        assert ids == {recent.replica, live.replica}
    finally:
        for store in (old, recent, live):
            store.close()
