"""A rule in a real Prometheus fires, a real Alertmanager routes it, our receiver gets it."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web
from pytest_aiohttp import AiohttpServer

from local_stack import servers
from tests.conftest import StartServer

pytestmark = pytest.mark.integration

RULES = """
groups:
  - name: smoke
    rules:
      - alert: GlobalmonSmokeTest
        expr: vector(1) > 0
        labels: {severity: warning}
        annotations: {summary: "smoke test fired"}
"""

PROMETHEUS = """
global:
  scrape_interval: 1s
  evaluation_interval: 1s
  external_labels: {{region: test-region}}
rule_files: ["{rules}"]
alerting:
  alertmanagers:
    - static_configs: [{{targets: ["127.0.0.1:{am_port}"]}}]
scrape_configs:
  - job_name: alertmanager
    static_configs: [{{targets: ["127.0.0.1:{am_port}"]}}]
"""

ALERTMANAGER = """
route:
  receiver: receiver
  group_by: [alertname]
  group_wait: 0s
  group_interval: 1s
receivers:
  - name: receiver
    webhook_configs:
      - url: http://127.0.0.1:{port}/webhook
        send_resolved: false
        http_config:
          authorization: {{credentials_file: "{token_file}"}}
"""


async def test_rule_fires_through_alertmanager_to_receiver(
    aiohttp_server: AiohttpServer,
    start_prometheus: StartServer,
    start_alertmanager: StartServer,
    tmp_path: Path,
) -> None:
    received: asyncio.Queue[tuple[str | None, dict[str, Any]]] = asyncio.Queue()

    async def webhook(request: web.Request) -> web.Response:
        await received.put((request.headers.get("Authorization"), await request.json()))
        return web.json_response({"status": "ok"})

    app = web.Application()
    app.router.add_post("/webhook", webhook)
    receiver = await aiohttp_server(app, host="127.0.0.1")

    token_file = tmp_path / "token"
    token_file.write_text("s3cret\n")
    am = await asyncio.to_thread(
        start_alertmanager, ALERTMANAGER.format(port=receiver.port, token_file=token_file)
    )
    rules = tmp_path / "smoke.rules.yml"
    rules.write_text(RULES)
    # Alerts evaluated before the Alertmanager is discovered (about 5 s) are dropped; Prometheus
    # resends firing alerts after --rules.alert.resend-delay (1m by default, 1s here).
    prom = await asyncio.to_thread(
        start_prometheus,
        PROMETHEUS.format(rules=rules, am_port=am.port),
        extra=["--rules.alert.resend-delay=1s"],
    )
    await asyncio.to_thread(
        servers.wait_for,
        lambda: servers.prometheus_sees_alertmanager(prom.url, am.url),
        timeout=30,
        what="Prometheus discovering the Alertmanager",
    )
    await asyncio.to_thread(
        servers.wait_for,
        lambda: servers.targets_up(prom.url, job="alertmanager"),
        timeout=30,
        what="the alertmanager scrape target up",
    )

    auth, payload = await asyncio.wait_for(received.get(), timeout=60)

    assert auth == "Bearer s3cret"
    assert payload["version"] == "4"
    assert payload["status"] == "firing"
    [alert] = payload["alerts"]
    assert alert["labels"] == {
        "alertname": "GlobalmonSmokeTest",
        "severity": "warning",
        "region": "test-region",
    }
    assert alert["annotations"] == {"summary": "smoke test fired"}
    # The same alert is visible in Alertmanager's own API.
    alerts = await asyncio.to_thread(servers.get_json, am.url + "/api/v2/alerts")
    assert [a["labels"]["alertname"] for a in alerts] == ["GlobalmonSmokeTest"], json.dumps(alerts)
