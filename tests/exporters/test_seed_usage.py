"""The seed design's plugin-monitoring calls, as its clients make them, against the exporter:
plugin ids with underscores, one metric per call by `metric_type`, events by `event_type`,
snapshots in percent and milliseconds, and answers `200 {"success": true, "data": ...}`. A test
per call of the seed's own usage; each checks what its client checks, and what was stored."""

from __future__ import annotations

import random
from datetime import UTC, datetime
from typing import Any

import pytest

from exporters.plugin.app import API, create_app
from exporters.plugin.limits import Limits
from exporters.plugin.state import PluginExporterConfig
from exporters.plugin.store import PluginStore
from globalmon.spec.services import Plugin
from tests.exporters.plugin_fixtures import Clock, clock, store
from tests.exporters.promtool import Client

__all__ = ["clock", "store"]  # fixtures

SEED_PLUGINS = ["restaurant_management", "core_management", "deployed", "marketplace", "my_plugin"]
METRIC_TYPES = ["cpu_usage", "memory_usage", "response_time", "error_rate", "request_count",
                "throughput"]  # fmt: skip
LEVELS = ["debug", "info", "warning", "error", "critical"]
EVENT_TYPES = ["startup", "shutdown", "error", "performance_alert", "custom_event"]


@pytest.fixture
async def client(aiohttp_client: Any, clock: Clock, store: PluginStore) -> Client:
    plugins = {p: Plugin.model_validate({"id": p, "owner": "team-x"}) for p in SEED_PLUGINS}
    config = PluginExporterConfig(
        plugins=plugins, token="t", maintenance_interval=3600, limits=Limits(10**6)
    )
    made: Client = await aiohttp_client(create_app(config, clock=clock, store=store))
    made.session.headers.update({"Authorization": "Bearer t"})  # the seed logged in instead
    return made


async def _ok(resp: Any) -> Any:
    """What the seed's client checks of every answer."""
    assert resp.status == 200, await resp.text()
    body = await resp.json()
    assert body["success"] is True, body
    return body.get("data", body)


async def _record_everything(client: Client, plugin: str) -> None:
    for metric_type in METRIC_TYPES:
        stamp = datetime.now(UTC).isoformat()
        body = {"metric_type": metric_type, "value": random.uniform(0, 100),
                "metadata": {"source": "test_script", "timestamp": stamp}}  # fmt: skip
        await _ok(await client.post(f"{API}/plugins/{plugin}/metrics", json=body))
    for level in LEVELS:
        log: dict[str, Any] = {"level": level, "message": f"a {level} message",
                               "context": {"test_id": "t1", "level": level}}  # fmt: skip
        if level in ("error", "critical"):
            log["traceback"] = "Traceback\n  File 'test.py', line 1\n    raise Exception('x')"
        await _ok(await client.post(f"{API}/plugins/{plugin}/logs", json=log))
    for event_type in EVENT_TYPES:
        event = {"event_type": event_type, "description": f"event {event_type}",
                 "severity": random.choice(["low", "medium", "high", "critical"]),
                 "data": {"test_id": "t1", "event_type": event_type}}  # fmt: skip
        await _ok(await client.post(f"{API}/plugins/{plugin}/events", json=event))
    await _ok(await client.post(f"{API}/plugins/{plugin}/snapshots", json=SNAPSHOT))


SNAPSHOT = {
    "cpu_usage": 42.5,
    "memory_usage": 61.0,
    "response_time": 250.0,
    "error_rate": 0.02,
    "request_count": 1200,
    "throughput": 85.5,
    "disk_io": {"read_bytes": 2_000_000, "write_bytes": 3_000_000},
    "network_io": {"rx_bytes": 5_000_000, "tx_bytes": 7_000_000},
    "custom_metrics": {"custom_metric_1": 12.5, "custom_metric_2": 99.0},
}


async def test_status(client: Client) -> None:
    await _record_everything(client, "restaurant_management")
    data = await _ok(await client.get(f"{API}/status"))
    assert data["monitoring_active"] is True
    assert data["total_plugins"] == len(SEED_PLUGINS)
    assert data["active_plugins"] == 1
    assert data["total_metrics"] == len(METRIC_TYPES)


async def test_plugins_list(client: Client) -> None:
    await _record_everything(client, "core_management")
    plugins = await _ok(await client.get(f"{API}/plugins"))
    status = {p["plugin_id"]: p["status"] for p in plugins}
    assert status["core_management"] == "active"
    assert status["deployed"] == "unknown"  # never reported


async def test_plugin_summary(client: Client) -> None:
    await _record_everything(client, "my_plugin")
    summary = await _ok(await client.get(f"{API}/plugins/my_plugin/summary"))
    assert summary["status"] == "active"
    assert summary["metrics_count"] == len(METRIC_TYPES)
    assert summary["logs_count"] == len(LEVELS)
    assert summary["error_logs_count"] == 2
    assert summary["recent_errors"] == ["a error message", "a critical message"]
    assert set(summary["current_metrics"]) >= set(METRIC_TYPES)


async def test_metrics_recording_lands_in_base_units(client: Client) -> None:
    for metric_type, value in [("cpu_usage", 42.0), ("memory_usage", 50.0),
                               ("response_time", 250.0), ("request_count", 7.0),
                               ("throughput", 12.5), ("error_rate", 3.0)]:  # fmt: skip
        body = {"metric_type": metric_type, "value": value, "metadata": {"source": "x"}}
        await _ok(await client.post(f"{API}/plugins/my_plugin/metrics", json=body))
    text = await (await client.get("/metrics")).text()
    assert 'globalmon_plugin_cpu_usage_ratio{plugin="my_plugin"} 0.42' in text
    assert 'globalmon_plugin_memory_usage_ratio{plugin="my_plugin"} 0.5' in text
    assert 'globalmon_plugin_response_time_seconds_sum{plugin="my_plugin"} 0.25' in text
    assert 'globalmon_plugin_requests_total{plugin="my_plugin"} 7.0' in text
    assert 'globalmon_plugin_custom_throughput_per_second{plugin="my_plugin"} 12.5' in text
    assert 'globalmon_plugin_custom_reported_error_rate{plugin="my_plugin"} 3.0' in text


async def test_logs_recording(client: Client) -> None:
    await _record_everything(client, "restaurant_management")
    logs = await _ok(await client.get(f"{API}/plugins/restaurant_management/logs?hours=1"))
    assert sorted(r["level"] for r in logs) == sorted(LEVELS)
    critical = next(r for r in logs if r["level"] == "critical")
    assert critical["traceback"].startswith("Traceback")
    assert critical["plugin_id"] == "restaurant_management"
    only_errors = await _ok(
        await client.get(f"{API}/plugins/restaurant_management/logs?hours=1&level=error")
    )
    assert [r["level"] for r in only_errors] == ["error"]


async def test_events_recording(client: Client) -> None:
    await _record_everything(client, "restaurant_management")
    events = await _ok(await client.get(f"{API}/plugins/restaurant_management/events?hours=1"))
    assert sorted(e["event_type"] for e in events) == sorted(EVENT_TYPES)
    assert all(e["data"]["event_type"] == e["event_type"] for e in events)
    startup = await _ok(
        await client.get(f"{API}/plugins/restaurant_management/events?event_type=startup")
    )
    assert [e["event_type"] for e in startup] == ["startup"]


async def test_info_severity_is_an_event_severity(client: Client) -> None:
    event = {"event_type": "startup", "description": "up", "severity": "info", "data": {}}
    await _ok(await client.post(f"{API}/plugins/my_plugin/events", json=event))


async def test_snapshot_creation_keeps_every_field(client: Client) -> None:
    await _ok(await client.post(f"{API}/plugins/marketplace/snapshots", json=SNAPSHOT))
    [snapshot] = await _ok(await client.get(f"{API}/plugins/marketplace/snapshots?hours=1"))
    assert {k: snapshot[k] for k in SNAPSHOT} == SNAPSHOT


async def test_metrics_retrieval(client: Client) -> None:
    await _record_everything(client, "core_management")
    metrics = await _ok(await client.get(f"{API}/plugins/core_management/metrics?hours=1"))
    assert sorted(m["metric_type"] for m in metrics) == sorted(METRIC_TYPES)
    assert all(m["metadata"]["source"] == "test_script" for m in metrics)
    cpu = await _ok(
        await client.get(f"{API}/plugins/core_management/metrics?hours=1&metric_type=cpu_usage")
    )
    assert [m["metric_type"] for m in cpu] == ["cpu_usage"]


async def test_analytics_trends(client: Client) -> None:
    for plugin, value in (("core_management", 20.0), ("deployed", 40.0)):
        body = {"metric_type": "cpu_usage", "value": value}
        await _ok(await client.post(f"{API}/plugins/{plugin}/metrics", json=body))
    data = await _ok(await client.get(f"{API}/analytics/trends?hours=24&metric_type=cpu_usage"))
    assert data["metric_type"] == "cpu_usage"
    [hour] = data["trends"]
    assert hour["average_value"] == pytest.approx(30.0)
    assert hour["data_points"] == 2


async def test_performance_analytics(client: Client) -> None:
    await _ok(await client.post(f"{API}/plugins/marketplace/snapshots", json=SNAPSHOT))
    other = {**SNAPSHOT, "cpu_usage": 57.5, "request_count": 800}
    await _ok(await client.post(f"{API}/plugins/deployed/snapshots", json=other))
    data = await _ok(await client.get(f"{API}/analytics/performance?hours=24"))
    assert data["total_snapshots"] == 2
    assert data["average_cpu"] == pytest.approx(50.0)
    assert data["total_requests"] == 2000
    assert data["average_memory"] == pytest.approx(61.0)


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"metric_type": "cpu_usage", "value": 150}, "value"),
        ({"metric_type": "disk_usage", "value": 1}, "metric_type"),
        ({"metric_type": "response_time", "value": -1}, "value"),
        ({"metric_type": "cpu_usage"}, "value"),
        ({"metric_type": "disk_io", "value": 1, "metadata": {"direction": "up"}}, "direction"),
    ],
)
async def test_bad_seed_metrics_are_refused_naming_the_field(
    client: Client, body: dict[str, Any], field: str
) -> None:
    resp = await client.post(f"{API}/plugins/my_plugin/metrics", json=body)
    assert resp.status == 422, await resp.text()
    answer = await resp.json()
    assert field in answer["field"] + answer["error"]
    assert (await _ok(await client.get(f"{API}/plugins/my_plugin/metrics"))) == []


def test_plugin_ids_as_the_seed_writes_them() -> None:
    for good in ("my_plugin", "restaurant_management", "Payments-2", "a"):
        assert Plugin.model_validate({"id": good, "owner": "x"}).id == good
    for bad in ("_leading", "-leading", "has space", "ünicode", "x\n", "a" * 65, ""):
        with pytest.raises(ValueError, match="plugin id"):
            Plugin.model_validate({"id": bad, "owner": "x"})
