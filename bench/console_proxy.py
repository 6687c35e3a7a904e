"""What the console adds to a read: the incidents list and a plugin's logs fetched through the
console against the same call made to the webhook and the plugin exporter directly, in the same
run, each a real app on a loopback port (medians of per-request latency; the ratio is what to
compare across machines). A person's page load makes a handful of these calls.

    python -m bench.console_proxy [--requests 300] [--incidents 200] [--logs 2000]
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

import aiohttp
from aiohttp.test_utils import TestClient, TestServer

from alert_webhook.app import create_app as webhook_app
from alert_webhook.rules import Rules
from alert_webhook.runtime import WebhookConfig
from alert_webhook.store import WebhookStore
from console.app import create_app as console_app
from console.config import ConsoleConfig, RegionBackends
from exporters.plugin.app import create_app as exporter_app
from exporters.plugin.state import PluginExporterConfig
from exporters.plugin.store import PluginStore
from globalmon.spec import load_spec_text
from globalmon.spec.services import Plugin

TOKEN = "bench"
AUTH = {"Authorization": f"Bearer {TOKEN}"}
SPEC = """
version: v1
global: {alertmanager_urls: [http://127.0.0.1:9093], webhook_url: http://127.0.0.1:9466}
regions: [{id: eu, name: EU, prometheus_urls: ["http://127.0.0.1:9090"], agents: []}]
"""


async def _serve(app: Any) -> TestClient[Any, Any]:
    client: TestClient[Any, Any] = TestClient(TestServer(app))
    await client.start_server()
    return client


async def _latency(session: aiohttp.ClientSession, url: str, n: int) -> float:
    times = []
    for _ in range(n):
        start = time.perf_counter()
        async with session.get(url, headers=AUTH) as r:
            await r.read()
            assert r.status == 200, r.status
        times.append(time.perf_counter() - start)
    return statistics.median(times)


async def main(requests: int, incidents: int, logs: int, work: Path) -> None:
    spec = load_spec_text(SPEC)
    hook_store = WebhookStore(work / "webhook.db", Rules(spec))
    hook = await _serve(
        webhook_app(
            WebhookConfig(rules=Rules(spec), token=TOKEN), clock=time.time, store=hook_store
        )
    )
    plugins = {"payments": Plugin.model_validate({"id": "payments", "owner": "x"})}
    plugin_store = PluginStore(work / "plugins.db")
    exporter = await _serve(
        exporter_app(
            PluginExporterConfig(plugins=plugins, token=TOKEN, maintenance_interval=3600),
            clock=time.time,
            store=plugin_store,
        )
    )

    def url(client: TestClient[Any, Any]) -> str:
        return str(client.make_url("")).rstrip("/")

    base = {"hook": url(hook), "exporter": url(exporter)}
    console = await _serve(
        console_app(
            ConsoleConfig(
                webhook=base["hook"],
                regions={"eu": RegionBackends(prometheus=None, plugin_exporter=base["exporter"])},
                global_prometheus=None,
            ),
            clock=time.time,
        )
    )
    base["console"] = url(console)
    now = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    async with aiohttp.ClientSession() as s:
        for i in range(incidents):
            alert = {"status": "firing", "labels": {"alertname": f"A{i}", "region": "eu"},
                     "startsAt": now, "fingerprint": f"f{i}"}  # fmt: skip
            body = {"version": "4", "status": "firing", "alerts": [alert]}
            async with s.post(f"{base['hook']}/webhook", json=body, headers=AUTH) as r:
                assert r.status == 200
        batch = [{"level": "error" if i % 10 == 0 else "info", "message": f"line {i}"}
                 for i in range(logs)]  # fmt: skip
        for i in range(0, logs, 500):
            async with s.post(
                f"{base['exporter']}/api/advanced-monitoring/plugins/payments/batch",
                json={"logs": batch[i : i + 500]},
                headers=AUTH,
            ) as r:
                assert r.status == 200, await r.text()
        cases = [
            (
                "incidents list (100)",
                f"{base['hook']}/api/v1/incidents",
                f"{base['console']}/api/incidents",
            ),
            (
                "plugin logs (200)",
                f"{base['exporter']}/api/advanced-monitoring/plugins/payments/logs?limit=200",
                f"{base['console']}/api/regions/eu/plugins/payments/logs?limit=200",
            ),
        ]
        print(f"{'read':<24} {'direct ms':>10} {'console ms':>11} {'ratio':>6}")
        for name, direct, through in cases:
            await _latency(s, direct, 20)  # warm both paths
            await _latency(s, through, 20)
            d = await _latency(s, direct, requests)
            c = await _latency(s, through, requests)
            print(f"{name:<24} {d * 1000:>10.2f} {c * 1000:>11.2f} {c / d:>6.2f}")
    for client in (console, exporter, hook):
        await client.close()
    hook_store.close()
    plugin_store.close()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--requests", type=int, default=300)
    parser.add_argument("--incidents", type=int, default=200)
    parser.add_argument("--logs", type=int, default=2000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        asyncio.run(main(args.requests, args.incidents, args.logs, Path(tmp)))
