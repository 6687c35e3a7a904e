"""Shared pieces of the webhook's tests: a spec, real local receivers, alert payloads, a clock."""

from __future__ import annotations

import asyncio
import hashlib
import sqlite3
import sys
import textwrap
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal

import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer
from aiosmtpd.controller import Controller

from alert_webhook.app import HOOK, create_app
from alert_webhook.channels import resolve_secrets
from alert_webhook.rules import Rules
from alert_webhook.runtime import Webhook, WebhookConfig
from alert_webhook.schema import SCHEMA
from alert_webhook.store import WebhookStore
from globalmon import pg
from globalmon.spec import Spec, load_spec_text
from local_stack import servers

TOKEN = "hook-s3cret"
AUTH = {"Authorization": f"Bearer {TOKEN}"}
T0 = 1_790_000_000.0  # a Monday (2026-09-21), 14:13 UTC

# Writes one line per run into the file named by its first argument: how often an action ran.
RECORDER = textwrap.dedent(
    """
    import os, sys
    with open(sys.argv[1], "a") as f:
        f.write("|".join([*sys.argv[2:], os.environ.get("GLOBALMON_LABEL_SERVICE", "")]) + "\\n")
    """
)


class Clock:
    def __init__(self, now: float = T0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


@dataclass
class Sink:
    """A real HTTP server that records what receivers and actions get."""

    received: dict[str, list[Any]] = field(default_factory=dict)
    status: int = 200
    server: TestServer | None = None

    @property
    def url(self) -> str:
        assert self.server is not None
        return str(self.server.make_url("")).rstrip("/")

    async def handle(self, request: web.Request) -> web.Response:
        body = await request.text()
        self.received.setdefault(request.path, []).append(
            {"body": body, "headers": dict(request.headers), "method": request.method}
        )
        return web.json_response({"ok": True}, status=self.status)

    def bodies(self, path: str) -> list[Any]:
        import json

        return [json.loads(x["body"]) for x in self.received.get(path, [])]


class Mailbox:
    def __init__(self) -> None:
        self.messages: list[Any] = []

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        self.messages.append(envelope)
        return "250 OK"


@pytest.fixture
async def sink() -> AsyncIterator[Sink]:
    s = Sink()
    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", s.handle)
    s.server = TestServer(app, host="127.0.0.1")
    await s.server.start_server()
    yield s
    await s.server.close()


@pytest.fixture
def mailbox() -> Iterator[tuple[Mailbox, int]]:
    box = Mailbox()
    port = servers.free_port()
    controller = Controller(box, hostname="127.0.0.1", port=port)
    controller.start()
    yield box, port
    controller.stop()


def spec_text(
    sink_url: str, smtp_port: int, tmp: Path, prometheus: str = "http://127.0.0.1:1"
) -> str:
    recorder = tmp / "recorder.py"
    recorder.write_text(RECORDER)
    runs = tmp / "runs.txt"
    return textwrap.dedent(
        f"""
        version: v1
        global:
          webhook_url: http://127.0.0.1:9466
          alertmanager_urls: [http://127.0.0.1:1]
          escalation_policy: standard
        regions:
          - {{id: eu-west-1, name: EU, prometheus_urls: ["{prometheus}"]}}
          - {{id: us-east-1, name: US, prometheus_urls: ["{prometheus}"]}}
        services:
          - {{name: web, depends_on: [api]}}
          - {{name: api, depends_on: [db]}}
          - {{name: db, escalation_policy: database}}
        receivers:
          - {{type: webhook, name: ops-hook, url: "{sink_url}/hook", bearer_token: {{env: T_OPS}}}}
          - {{type: slack, name: ops-slack, webhook_url: {{env: T_SLACK}}, channel: "#ops"}}
          - type: email
            name: oncall-email
            to: [oncall@example.com]
            sender: globalmon@example.com
            smarthost: 127.0.0.1:{smtp_port}
            starttls: false
          - {{type: pagerduty, name: pager, routing_key: {{env: T_PD}}, url: "{sink_url}/pd"}}
        escalation_policies:
          - name: standard
            steps:
              - {{after: 0s, notify: [ops-hook, ops-slack]}}
              - {{after: 5m, notify: [oncall-email], repeat: {{every: 10m, times: 2}}}}
              - {{after: 15m, notify: [pager]}}
          - name: database
            business_hours: {{timezone: Europe/Berlin, start: "09:00", end: "17:00"}}
            steps:
              - {{notify: [ops-hook]}}
              - {{after: 1m, notify: [oncall-email], when: business_hours}}
              - {{after: 1m, notify: [pager], when: off_hours}}
        recovery_actions:
          - name: restart-api
            type: command
            matchers: ['alertname="ApiDown"', 'service="api"']
            argv: ["{sys.executable}", "{recorder}", "{runs}", "{{{{ labels.instance }}}}"]
            guardrails: {{cooldown: 10m, max_attempts: 2, max_per_region: 1}}
          - name: scale-web
            type: http
            matchers: ['alertname="WebSlow"']
            url: "{sink_url}/scale"
            body: '{{"service": "{{{{ labels.service }}}}"}}'
            guardrails: {{require_approval: true}}
          - name: hostile
            type: command
            matchers: ['alertname="Hostile"']
            argv: ["{sys.executable}", "{recorder}", "{runs}", "{{{{ labels.cmd }}}}"]
        """
    )


def alert(
    name: str = "ApiDown",
    status: str = "firing",
    starts: float = T0 - 60,
    **labels: str,
) -> dict[str, Any]:
    labels = {"alertname": name, "severity": "critical", "region": "eu-west-1", **labels}
    fingerprint = hashlib.sha256(repr(sorted(labels.items())).encode()).hexdigest()[:16]
    return {
        "status": status,
        "labels": labels,
        "annotations": {"summary": f"{name} summary", "description": "details"},
        "startsAt": datetime.fromtimestamp(starts, UTC).isoformat().replace("+00:00", "Z"),
        "endsAt": "0001-01-01T00:00:00Z",
        "generatorURL": "http://prometheus/graph",
        "fingerprint": fingerprint,
    }


def payload(*alerts: dict[str, Any]) -> dict[str, Any]:
    status = "firing" if any(a["status"] == "firing" for a in alerts) else "resolved"
    return {
        "version": "4",
        "groupKey": "{}:{}",
        "truncatedAlerts": 0,
        "status": status,
        "receiver": "globalmon-webhook",
        "groupLabels": {},
        "commonLabels": {},
        "commonAnnotations": {},
        "externalURL": "http://alertmanager:9093",
        "alerts": list(alerts),
    }


@dataclass
class Harness:
    client: Any
    clock: Clock
    hook: Webhook
    spec: Spec
    runs: Path
    db: Path | str  # the SQLite file or the PostgreSQL URL

    def connect(self) -> sqlite3.Connection:
        """Another connection to the webhook's database, in autocommit mode."""
        if pg.is_url(self.db):
            return pg.dbapi(pg.PgConnection(str(self.db), id_tables=pg.id_tables(SCHEMA)))
        db = sqlite3.connect(self.db, isolation_level=None)
        db.execute("PRAGMA busy_timeout=10000")
        return db

    def tampered(
        self, *changes: str | tuple[str, tuple[Any, ...]], key: bytes | None = None
    ) -> list[str]:
        """What ``audit.verify`` finds after ``changes``, made to a copy of the database (SQLite)
        or in a transaction rolled back after (PostgreSQL): the webhook's own data stays as is."""
        from alert_webhook.audit import verify

        if pg.is_url(self.db):
            db = self.connect()
            db.execute("BEGIN")
        else:
            assert isinstance(self.db, Path)
            copy = self.db.with_name("copy.db")
            src = sqlite3.connect(self.db)
            src.execute("PRAGMA wal_checkpoint(FULL)")
            src.backup(db := sqlite3.connect(copy, isolation_level=None))
            src.close()
        try:
            for change in changes:
                sql, args = (change, ()) if isinstance(change, str) else change
                db.execute(sql, args)
            return verify(db, key).problems
        finally:
            if pg.is_url(self.db):
                db.execute("ROLLBACK")
            db.close()
            if not pg.is_url(self.db):
                copy.unlink()

    async def post(
        self, body: Any, status: int = 200, headers: dict[str, str] | None = None
    ) -> Any:
        resp = await self.client.post(
            "/webhook", json=body, headers=AUTH if headers is None else headers
        )
        assert resp.status == status, await resp.text()
        return await resp.json()

    async def get(self, path: str, status: int = 200) -> Any:
        resp = await self.client.get(path, headers=AUTH)
        assert resp.status == status, await resp.text()
        return await resp.json()

    async def act(self, path: str, body: Any, status: int = 200) -> Any:
        resp = await self.client.post(path, json=body, headers=AUTH)
        assert resp.status == status, await resp.text()
        return await resp.json()

    async def tick(self) -> None:
        await self.hook.tick()
        await self.hook.drain()

    def run_lines(self) -> list[str]:
        return self.runs.read_text().splitlines() if self.runs.exists() else []


def make_config(spec: Spec, **kw: Any) -> WebhookConfig:
    secrets, unavailable = resolve_secrets(list(spec.receivers))
    kw.setdefault("delivery_backoff", 1.0)
    return WebhookConfig(
        rules=Rules(spec), token=TOKEN, secrets=secrets, unavailable=unavailable, **kw
    )


@pytest.fixture
def env_secrets(monkeypatch: pytest.MonkeyPatch, sink: Sink) -> None:
    monkeypatch.setenv("T_OPS", "ops-token")
    monkeypatch.setenv("T_SLACK", f"{sink.url}/slack")
    monkeypatch.setenv("T_PD", "pd-routing-key")


async def open_harness(
    aiohttp_client: Any,
    tmp_path: Path,
    text: str,
    clock: Clock,
    db: Path | str | None = None,
    writer: Literal["thread", "process"] = "thread",
    **kw: Any,
) -> tuple[Harness, WebhookStore]:
    spec = load_spec_text(text)
    config = make_config(spec, **kw)
    target = db or tmp_path / "webhook.db"
    store = WebhookStore(target, config.rules, writer=writer)
    app = create_app(config, clock=clock, store=store, background=False, sleep=_no_sleep(clock))
    client = await aiohttp_client(app)
    return Harness(client, clock, app[HOOK], spec, tmp_path / "runs.txt", target), store


def _no_sleep(clock: Clock) -> Any:
    async def sleep(seconds: float) -> None:  # verification polling moves the fake clock
        clock.advance(seconds)
        await asyncio.sleep(0)

    return sleep


@pytest.fixture(params=["thread", "process", "postgresql"])
async def hook(
    request: pytest.FixtureRequest,
    aiohttp_client: Any,
    tmp_path: Path,
    sink: Sink,
    mailbox: tuple[Mailbox, int],
    env_secrets: None,
) -> AsyncIterator[Harness]:
    """The webhook app on a fake clock, with the test spec's receivers and actions; each test
    runs with the writer in a thread and in a process (what `globalmon webhook` uses) on SQLite,
    and on a real PostgreSQL (what replicas share)."""
    shared = request.param == "postgresql"
    h, store = await open_harness(
        aiohttp_client,
        tmp_path,
        spec_text(sink.url, mailbox[1], tmp_path),
        Clock(),
        db=request.getfixturevalue("pg_url") if shared else None,
        writer="thread" if shared else request.param,
    )
    yield h
    store.close()
