"""The console's API in front of a real webhook and a real plugin exporter (each an app on a
loopback port): the caller's credentials pass through to the webhook and the plugin exporter
(the stream's as a WebSocket subprotocol), writes act with the caller's
credential, only the listed paths reach a backend, a backend that is down is a 502 naming it."""

from __future__ import annotations

import asyncio
import base64
import json
import socket
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from console.app import CSP, create_app
from console.config import ConsoleConfig, RegionBackends
from exporters.plugin.store import PluginStore
from tests.alert_webhook.fixtures import AUTH, Clock, alert, open_harness, payload
from tests.exporters import plugin_fixtures
from tests.exporters.plugin_fixtures import READ, VIEWER, Exporter

SPEC = """
version: v1
global:
  alertmanager_urls: [http://127.0.0.1:9093]
  webhook_url: http://127.0.0.1:9466
regions:
  - {id: eu-west-1, name: EU, prometheus_urls: ["http://127.0.0.1:9090"], agents: []}
"""
OVERVIEW = {"plugins": [{"id": "payments"}], "forecasts": [], "regions": [], "services": []}


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
    return port  # nothing listens once the socket is closed


@dataclass
class Setup:
    console: Any
    hook: Any
    exporter: Exporter


def base(client: Any) -> str:
    return str(client.make_url("")).rstrip("/")


@pytest.fixture
async def setup(aiohttp_client: Any, tmp_path: Path) -> AsyncIterator[Setup]:
    harness, hook_store = await open_harness(aiohttp_client, tmp_path, SPEC, Clock())
    plugin_store = PluginStore(tmp_path / "plugins.db")
    exporter = await plugin_fixtures.start(aiohttp_client, plugin_fixtures.Clock(), plugin_store)
    config = ConsoleConfig(
        webhook=base(harness.client),
        regions={
            "eu-west-1": RegionBackends(
                prometheus=f"http://127.0.0.1:{closed_port()}",
                plugin_exporter=base(exporter.client),
            ),
            "us-east-1": RegionBackends(prometheus=None, plugin_exporter=None),
        },
        global_prometheus=None,
        overview=OVERVIEW,
        timeout_seconds=5,
    )
    console = await aiohttp_client(create_app(config, clock=lambda: 1_790_000_000.0))
    yield Setup(console, harness, exporter)
    plugin_store.close()
    hook_store.close()


async def test_incident_reads_need_the_callers_credential(setup: Setup) -> None:
    await setup.hook.post(payload(alert("ApiDown", service="api")))
    refused = await setup.console.get("/api/incidents")
    assert refused.status == 401
    assert (await refused.json())["field"] == "Authorization"
    wrong = await setup.console.get("/api/incidents", headers={"Authorization": "Bearer nope"})
    assert wrong.status == 401
    ok = await setup.console.get("/api/incidents?state=firing&service=api", headers=AUTH)
    assert ok.status == 200
    [incident] = (await ok.json())["incidents"]
    assert incident["alertname"] == "ApiDown"
    detail = await setup.console.get(f"/api/incidents/{incident['id']}", headers=AUTH)
    assert (await detail.json())["timeline"][0]["kind"] == "opened"
    bad = await setup.console.get("/api/incidents?colour=red", headers=AUTH)
    assert bad.status == 400
    assert (await bad.json())["field"] == "colour"


async def test_acknowledge_acts_with_the_callers_credential(setup: Setup) -> None:
    await setup.hook.post(payload(alert("ApiDown")))
    path = "/api/incidents/1/acknowledge"
    refused = await setup.console.post(path, json={"by": "mallory"})
    assert refused.status == 401
    assert (await setup.hook.get("/api/v1/incidents/1"))["state"] == "firing"
    invalid = await setup.console.post(path, json={"by": ""}, headers=AUTH)
    assert invalid.status == 422
    assert (await invalid.json())["field"] == "by"
    done = await setup.console.post(path, json={"by": "ada", "note": "on it"}, headers=AUTH)
    assert done.status == 200, await done.text()
    incident = await setup.hook.get("/api/v1/incidents/1")
    assert (incident["state"], incident["acknowledged_by"]) == (
        "acknowledged",
        "ada (claimed, shared-token)",
    )
    again = await setup.console.post(path, json={"by": "ada"}, headers=AUTH)
    assert again.status == 409
    missing = await setup.console.post("/api/actions/99/approve", json={"by": "ada"}, headers=AUTH)
    assert missing.status == 404
    assert (await missing.json())["field"] == "id"


async def test_plugin_reads_and_filters(setup: Setup) -> None:
    await setup.exporter.post("payments", "logs", {"level": "info", "message": "fine"})
    await setup.exporter.post(
        "payments",
        "logs",
        {"level": "error", "message": "settle failed", "traceback": "ZeroDivisionError"},
    )
    path = "/api/regions/eu-west-1/plugins/payments/logs?level=error"
    # the caller's credential goes through: without one the exporter refuses the read
    refused = await setup.console.get(path)
    assert (refused.status, (await refused.json())["field"]) == (401, "Authorization")
    r = await setup.console.get(path, headers=READ)
    assert r.status == 200
    [log] = (await r.json())["data"]
    assert (log["message"], log["traceback"]) == ("settle failed", "ZeroDivisionError")
    listing = await setup.console.get("/api/regions/eu-west-1/plugins", headers=READ)
    assert {p["id"] for p in (await listing.json())["plugins"]} == {"payments", "search", "idle"}
    bad = await setup.console.get(
        "/api/regions/eu-west-1/plugins/payments/logs?level=loud", headers=READ
    )
    assert bad.status == 400
    assert (await bad.json())["field"] == "level"


@pytest.mark.parametrize(
    ("path", "status", "field"),
    [
        ("/api/regions/nowhere/plugins", 404, "region"),
        ("/api/regions/us-east-1/plugins", 404, "region"),  # no plugin exporter there
        ("/api/regions/eu-west-1/charts/plugins/unknown", 404, "plugin"),
        ("/api/regions/eu-west-1/charts/plugins/payments?hours=0", 400, "hours"),
        ("/api/regions/eu-west-1/charts/plugins/payments?hours=nan", 400, "hours"),
        ("/api/regions/eu-west-1/charts/plugins/payments?hours=1e9", 400, "hours"),
        ("/static/../app.py", 404, None),
        ("/static/secrets.txt", 404, "path"),
    ],
)
async def test_bad_requests_name_the_field(
    setup: Setup, path: str, status: int, field: str | None
) -> None:
    r = await setup.console.get(path)
    assert r.status == status, await r.text()
    if field is not None:
        assert (await r.json())["field"] == field


@pytest.mark.parametrize(
    "path",
    [
        "/api/regions/eu-west-1/plugins/payments/secret",  # not a read the console offers
        "/api/regions/eu-west-1/plugins/payments/logs/../../../metrics",
        "/api/v1/incidents",
        "/api/incidents/1/delete",
        "/api/prometheus/api/v1/admin/tsdb/delete_series",
    ],
)
async def test_no_open_proxy(setup: Setup, path: str) -> None:
    r = await setup.console.get(path, headers=AUTH)
    assert r.status in (404, 405)
    r = await setup.console.post(path, headers=AUTH, json={})
    assert r.status in (404, 405)


async def test_a_backend_that_is_down_is_named(aiohttp_client: Any) -> None:
    dead = f"http://127.0.0.1:{closed_port()}"
    config = ConsoleConfig(
        webhook=dead,
        regions={"eu-west-1": RegionBackends(prometheus=dead, plugin_exporter=dead)},
        global_prometheus=None,
        overview=OVERVIEW,
        timeout_seconds=5,
    )
    console = await aiohttp_client(create_app(config, clock=lambda: 1_790_000_000.0))
    for path, backend in [
        ("/api/incidents", "webhook"),
        ("/api/regions/eu-west-1/plugins", "plugin_exporter"),
    ]:
        r = await console.get(path, headers=AUTH)
        assert r.status == 502
        assert (await r.json())["field"] == backend
    charts = await console.get("/api/regions/eu-west-1/charts/plugins/payments?hours=1")
    assert charts.status == 200
    answer = await charts.json()
    assert len(answer["errors"]) == len(answer["charts"]) > 0
    capacity = await console.get("/api/capacity")
    assert (await capacity.json())["errors"][0].startswith("eu-west-1: ")
    refused = await console.get(
        "/api/regions/eu-west-1/stream",
        headers={"Connection": "Upgrade", "Upgrade": "websocket", "Sec-WebSocket-Version": "13",
                 "Sec-WebSocket-Key": "dGhlIHNhbXBsZSBub25jZQ=="},
    )  # fmt: skip
    assert refused.status == 502
    assert (await refused.json())["field"] == "plugin_exporter"


async def test_live_stream_passes_through(setup: Setup) -> None:
    path = "/api/regions/eu-west-1/stream?plugin=payments&kind=logs&level=error"
    with pytest.raises(aiohttp.WSServerHandshakeError) as refused:
        await setup.console.ws_connect(path)  # no credential: the exporter says no
    assert refused.value.status == 401
    # as a browser does it: the token as a subprotocol, answered with the same subprotocol
    offer = "globalmon.bearer." + base64.urlsafe_b64encode(VIEWER.encode()).decode().rstrip("=")
    async with setup.console.ws_connect(path, protocols=(offer,)) as ws:
        assert ws.protocol == offer
        # the exporter says so once the subscription exists
        hello = json.loads((await asyncio.wait_for(ws.receive(), timeout=10)).data)
        assert hello["kind"] == "subscribed"
        await setup.exporter.post("payments", "logs", {"level": "info", "message": "quiet"})
        await setup.exporter.post("payments", "logs", {"level": "error", "message": "loud"})
        msg = await asyncio.wait_for(ws.receive(), timeout=10)
        item = json.loads(msg.data)
        assert (item["kind"], item["item"]["message"]) == ("logs", "loud")


async def test_every_answer_carries_the_policy(setup: Setup) -> None:
    for path in ("/", "/static/app.js", "/api/config", "/api/regions/nowhere/plugins"):
        r = await setup.console.get(path)
        assert r.headers["Content-Security-Policy"] == CSP, path
        assert r.headers["X-Content-Type-Options"] == "nosniff"
    page = await (await setup.console.get("/")).text()
    assert "/static/app.js" in page
