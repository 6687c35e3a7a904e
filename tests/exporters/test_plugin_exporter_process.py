"""The plugin exporter as a process: a real Prometheus scrapes it and the generated plugin rules
find its series; kill -9 in the middle of 10k acknowledged writes loses none of them."""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import os
import signal
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest
import yaml

from globalmon import conventions as c
from local_stack import servers
from tests.conftest import StartServer
from tests.exporters.waiting import query, until

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]
SPEC = ROOT / "examples" / "regions.yaml"
RULES = ROOT / "examples" / "_gen" / "regions" / "rules" / "us-east-1.rules.yml"
TOKEN = "plugin-ingest-token"
PLUGIN = "payment-gateway"
API = f"/api/advanced-monitoring/plugins/{PLUGIN}"


@pytest.fixture
def exporter_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GLOBALMON_INGEST_TOKEN", TOKEN)


def _exporter(db: Path, workdir: Path, port: int) -> servers.Server:
    argv = [
        sys.executable, "-m", "globalmon", "plugin-exporter", "--spec", str(SPEC),
        "--region", "us-east-1", "--db", str(db), "--web.listen-address", f"127.0.0.1:{port}",
        "--rate-limit", "1000000",
    ]  # fmt: skip
    return servers.Server("plugin-exporter", argv, port, workdir)


@pytest.fixture
def start_exporter(exporter_env: None, tmp_path: Path) -> Iterator[Any]:
    started: list[servers.Server] = []

    def start(db: Path, port: int | None = None) -> servers.Server:
        server = _exporter(db, tmp_path / f"exporter-{len(started)}", port or servers.free_port())
        started.append(server.start())
        return server.wait_ready(path="/-/healthy")

    yield start
    for server in started:
        server.stop()


_DIAGNOSE = (
    f"{c.RECORD_PLUGIN_ERROR_RATIO}",
    f"rate({c.PLUGIN_ERRORS.name}[5m])",
    f"rate({c.PLUGIN_REQUESTS.name}[5m])",
    "up",
)


def _plugin_rules() -> list[dict[str, Any]]:
    groups = yaml.safe_load(RULES.read_text())["groups"]
    [group] = [g for g in groups if g["name"] == f"{c.GROUP_PLUGINS}.{PLUGIN}"]
    rules: list[dict[str, Any]] = group["rules"]
    return rules


async def test_prometheus_scrapes_the_exporter_and_the_generated_rules_see_its_series(
    start_exporter: Any, start_prometheus: StartServer, tmp_path: Path
) -> None:
    exporter = start_exporter(tmp_path / "p.db")
    headers = {"Authorization": f"Bearer {TOKEN}"}
    # The generated rules with the exporter's real series: each plugin rule must return data.
    rules_file = tmp_path / "plugin.rules.yml"
    rules = [r for r in _plugin_rules() if "record" in r]
    rules_file.write_text(yaml.safe_dump({"groups": [{"name": "plugin", "rules": rules}]}))
    prom = await asyncio.to_thread(
        start_prometheus,
        f"""
global: {{scrape_interval: 1s, scrape_timeout: 900ms, evaluation_interval: 1s}}
rule_files: ["{rules_file}"]
scrape_configs:
  - job_name: {c.JOB_PLUGIN_EXPORTER}
    static_configs:
      - targets: ["127.0.0.1:{exporter.port}"]
        labels: {{region: us-east-1}}
""",
    )

    # Traffic runs for as long as the checks do, and only once Prometheus scrapes the exporter:
    # rate() needs changes that it saw (on a loaded machine its first scrape can come late).
    await until("the exporter scraped", lambda: servers.targets_up(prom.url))
    async with aiohttp.ClientSession(f"http://127.0.0.1:{exporter.port}") as http:
        traffic = asyncio.create_task(_traffic(http, headers))
        try:
            await _check_plugin_rules(prom.url)
        finally:
            traffic.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await traffic


async def _traffic(http: aiohttp.ClientSession, headers: dict[str, str]) -> None:
    """A report every 0.2 s (5 errors in 20 requests, slow, CPU and memory high), one critical
    event and one high one, in the seed's shape."""
    for i in itertools.count():
        report = {
            "cpu_usage_ratio": 0.95, "memory_bytes": 1e8 + i * 1e6, "memory_usage_ratio": 0.97,
            "requests": 20, "errors": 5, "response_times_seconds": [0.2, 3.0],
        }  # fmt: skip
        async with http.post(f"{API}/metrics", json=report, headers=headers) as resp:
            assert resp.status == 200
        if i == 5:
            event = {"type": "oom", "severity": "critical", "description": "killed"}
            async with http.post(f"{API}/events", json=event, headers=headers) as resp:
                assert resp.status == 200
            event = {"event_type": "slow_start", "severity": "high", "description": "late"}
            async with http.post(f"{API}/events", json=event, headers=headers) as resp:
                assert resp.status == 200
        await asyncio.sleep(0.2)


async def _check_plugin_rules(prom_url: str) -> None:
    own = f'job="{c.JOB_PLUGIN_EXPORTER}",region="us-east-1",plugin="{PLUGIN}"'
    [sample] = await until(
        "plugin requests", lambda: query(prom_url, f"globalmon_plugin_requests_total{{{own}}}")
    )
    assert float(sample["value"][1]) > 0
    for rule in _plugin_rules():
        expr = rule["expr"]
        if "deriv(" in expr or "min_over_time" in expr:
            continue  # the leak rule needs 30 minutes of history; promtool tests cover it
        # a recording rule is checked through the series it records (its labels come from the
        # rule), an alert through its expression: every one must return this plugin's data
        what = rule.get("alert") or rule["record"]
        promql = expr if "alert" in rule else f'{what}{{plugin="{PLUGIN}"}}'
        try:
            result = await until(f"{what}: {promql}", lambda q=promql: query(prom_url, q))
        except AssertionError as exc:  # say what Prometheus had instead
            seen = {q: query(prom_url, q) for q in _DIAGNOSE}
            raise AssertionError(f"{exc}; Prometheus had {seen}") from None
        assert all(r["metric"].get("plugin") == PLUGIN for r in result), what


async def _write(
    http: aiohttp.ClientSession, i: int, acked: set[int], sem: asyncio.Semaphore
) -> None:
    body = {"level": "info", "message": f"burst-{i}"}
    async with sem:
        try:
            async with http.post(
                f"{API}/logs", json=body, headers={"Authorization": f"Bearer {TOKEN}"}
            ) as resp:
                if resp.status == 200:
                    acked.add(i)
        except (TimeoutError, aiohttp.ClientError):
            pass  # the exporter died under this request: it was never acknowledged


async def _all_messages(base: str) -> list[str]:
    messages: list[str] = []
    cursor = None
    async with aiohttp.ClientSession(base, headers={"Authorization": f"Bearer {TOKEN}"}) as http:
        while True:
            q = "?limit=1000" + (f"&cursor={cursor}" if cursor else "")
            async with http.get(f"{API}/logs{q}") as resp:
                page = await resp.json()
            messages += [item["message"] for item in page["items"]]
            cursor = page["next_cursor"]
            if cursor is None:
                return messages


async def test_kill_9_during_a_burst_loses_no_acknowledged_write(
    start_exporter: Any, tmp_path: Path
) -> None:
    total = 10_000
    db = tmp_path / "burst.db"
    first = start_exporter(db)
    acked: set[int] = set()
    sem = asyncio.Semaphore(64)
    async with aiohttp.ClientSession(f"http://127.0.0.1:{first.port}") as http:
        tasks = [asyncio.create_task(_write(http, i, acked, sem)) for i in range(total)]
        await until("a third acknowledged", lambda: len(acked) >= total // 3, limit=120)
        assert first.process is not None
        os.kill(first.process.pid, signal.SIGKILL)
        await asyncio.gather(*tasks)
    assert 0 < len(acked) < total, "the kill must land in the middle of the burst"
    before_restart = set(acked)

    second = start_exporter(db, first.port)
    async with aiohttp.ClientSession(f"http://127.0.0.1:{second.port}") as http:
        await asyncio.gather(*(_write(http, i, acked, sem) for i in range(total) if i not in acked))
    assert len(acked) == total
    stored = await _all_messages(f"http://127.0.0.1:{second.port}")
    unique = set(stored)
    assert {f"burst-{i}" for i in before_restart} <= unique  # nothing acknowledged was lost
    assert unique == {f"burst-{i}" for i in range(total)}
    # a write committed but not answered before the kill may be stored twice (the client
    # retried it); nothing else is duplicated
    assert len(stored) - len(unique) <= 64
