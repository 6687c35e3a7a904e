"""The plugin exporter in process: ingest, exposition, query API, limits, eviction, restart."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest

from exporters.plugin.app import create_app, maintain
from exporters.plugin.limits import Limits, SlidingWindow
from exporters.plugin.store import PluginStore
from tests.exporters.plugin_fixtures import (
    AUTH,
    Clock,
    Exporter,
    clock,
    config,
    exporter,
    start,
    store,
)
from tests.exporters.promtool import Client, check_metrics

__all__ = ["clock", "exporter", "store"]  # fixtures

REPORT = {
    "cpu_usage_ratio": 0.42,
    "memory_bytes": 2.5e8,
    "memory_usage_ratio": 0.6,
    "requests": 10,
    "errors": 2,
    "response_times_seconds": [0.004, 0.2, 3.0],
    "disk_read_bytes": 4096,
    "network_write_bytes": 100,
    "custom": [{"name": "queue_depth", "value": 7, "labels": {"queue": 'in"box'}}],
}


def sample(text: str, series: str) -> float | None:
    for line in text.splitlines():
        name, _, value = line.rpartition(" ")
        if name == series:
            return float(value)
    return None


async def test_every_kind_is_stored_exposed_and_promtool_clean(
    exporter: Exporter, promtool_bin: str
) -> None:
    resp = await exporter.post("payments", "metrics", REPORT)
    assert resp.status == 200, await resp.text()
    assert (await resp.json())["ids"] == {"metrics": [1]}
    for kind, body in (
        ("logs", {"level": "error", "message": "card declined", "context": {"order": 1}}),
        ("events", {"type": "deploy", "severity": "critical", "description": "v2"}),
        ("snapshots", {"status": "healthy", "version": "2.0", "active_connections": 3}),
    ):
        resp = await exporter.post("payments", kind, body)
        assert resp.status == 200, await resp.text()
    text = await exporter.metrics()
    await check_metrics(promtool_bin, text)
    p = 'plugin="payments"'
    assert sample(text, f"globalmon_plugin_cpu_usage_ratio{{{p}}}") == 0.42
    assert sample(text, f"globalmon_plugin_requests_total{{{p}}}") == 10
    assert sample(text, f"globalmon_plugin_errors_total{{{p}}}") == 2
    rt = "globalmon_plugin_response_time_seconds"
    assert sample(text, f'{rt}_bucket{{{p},le="0.005"}}') == 1
    assert sample(text, f'{rt}_bucket{{{p},le="0.25"}}') == 2
    assert sample(text, f'{rt}_bucket{{{p},le="+Inf"}}') == 3
    assert sample(text, f"{rt}_sum{{{p}}}") == pytest.approx(3.204)
    assert sample(text, f'globalmon_plugin_log_messages_total{{{p},level="error"}}') == 1
    events = f'globalmon_plugin_events_total{{{p},type="deploy",severity="critical"}}'
    assert sample(text, events) == 1
    io = f'globalmon_plugin_io_bytes_total{{{p},kind="disk",direction="read"}}'
    assert sample(text, io) == 4096
    assert sample(text, f'globalmon_plugin_custom_queue_depth{{{p},queue="in\\"box"}}') == 7
    assert sample(text, f"globalmon_plugin_snapshots_total{{{p}}}") == 1
    assert sample(text, f"globalmon_plugin_last_report_timestamp_seconds{{{p}}}") == (
        exporter.clock.now
    )
    assert sample(text, 'globalmon_ingest_accepted_total{kind="logs"}') == 1
    # log text never becomes a label; plugins that never reported have no series
    assert "card declined" not in text
    assert 'plugin="search"' not in text
    # the exporter never sets target labels
    assert not re.search(r'\b(region|agent|agent_type)="', text)


async def test_counters_add_up_across_reports_and_batches(exporter: Exporter) -> None:
    await exporter.post("payments", "metrics", {"requests": 5})
    resp = await exporter.post(
        "payments",
        "batch",
        {
            "metrics": [{"requests": 1, "errors": 1}, {"requests": 2}],
            "logs": [{"level": "info", "message": "a"}, {"level": "info", "message": "b"}],
        },
    )
    assert resp.status == 200
    assert (await resp.json())["ids"] == {"logs": [1, 2], "metrics": [2, 3]}
    text = await exporter.metrics()
    assert sample(text, 'globalmon_plugin_requests_total{plugin="payments"}') == 8
    assert sample(text, 'globalmon_plugin_log_messages_total{plugin="payments",level="info"}') == 2


BAD: list[tuple[str, str, Any, dict[str, str] | None, int, str]] = [
    # (id, kind, body, headers, status, field)
    ("no token", "logs", {"level": "info", "message": "x"}, {}, 401, "Authorization"),
    (
        "wrong token",
        "logs",
        {"level": "info", "message": "x"},
        {"Authorization": "Bearer nope"},
        401,
        "Authorization",
    ),
    ("malformed json", "logs", "{not json", None, 400, "body"),
    ("not an object", "logs", "[1, 2]", None, 422, "body"),
    ("unknown key", "logs", {"level": "info", "message": "x", "lvl": 1}, None, 422, "lvl"),
    ("wrong type", "metrics", {"requests": "10"}, None, 422, "requests"),
    ("bool for number", "metrics", {"requests": True}, None, 422, "requests"),
    ("unknown level", "logs", {"level": "fatal", "message": "x"}, None, 422, "level"),
    ("empty message", "logs", {"level": "info", "message": ""}, None, 422, "message"),
    ("unknown severity", "events", {"type": "x", "severity": "urgent"}, None, 422, "severity"),
    ("bad event type", "events", {"type": "a b", "severity": "low"}, None, 422, "type"),
    ("negative increment", "metrics", {"requests": -1}, None, 422, "requests"),
    ("ratio above 1", "metrics", {"cpu_usage_ratio": 1.5}, None, 422, "cpu_usage_ratio"),
    ("NaN", "metrics", '{"cpu_usage_ratio": NaN}', None, 422, "cpu_usage_ratio"),
    ("Infinity", "metrics", '{"memory_bytes": Infinity}', None, 422, "memory_bytes"),
    (
        "NaN deep in context",
        "logs",
        '{"level": "info", "message": "x", "context": {"a": [1, NaN]}}',
        None,
        422,
        "context",
    ),
    ("more errors than requests", "metrics", {"requests": 1, "errors": 2}, None, 422, "body"),
    (
        "too many labels",
        "metrics",
        {"custom": [{"name": "q", "value": 1, "labels": {f"l{i}": "v" for i in range(9)}}]},
        None,
        422,
        "custom.0.labels",
    ),
    (
        "label value too long",
        "metrics",
        {"custom": [{"name": "q", "value": 1, "labels": {"l": "v" * 129}}]},
        None,
        422,
        "custom.0.labels.l",
    ),
    (
        "reserved label",
        "metrics",
        {"custom": [{"name": "q", "value": 1, "labels": {"region": "x"}}]},
        None,
        422,
        "custom.0.labels.region.[key]",
    ),
    (
        "counter-like custom name",
        "metrics",
        {"custom": [{"name": "hits_total", "value": 1}]},
        None,
        422,
        "custom.0.name",
    ),
    (
        "future timestamp",
        "logs",
        {"level": "info", "message": "x", "timestamp": 2e9},
        None,
        422,
        "logs.0.timestamp",
    ),
    (
        "timestamp past retention",
        "events",
        {"type": "x", "severity": "low", "timestamp": 1000.0},
        None,
        422,
        "events.0.timestamp",
    ),
    ("empty batch", "batch", {}, None, 422, "body"),
    (
        "one bad item spoils the batch",
        "batch",
        {"logs": [{"level": "info", "message": "ok"}, {"level": "nope", "message": "x"}]},
        None,
        422,
        "logs.1.level",
    ),
]


@pytest.mark.parametrize(
    ("kind", "body", "headers", "status", "field"), [b[1:] for b in BAD], ids=[b[0] for b in BAD]
)
async def test_bad_input_is_refused_with_the_field_and_stores_nothing(
    exporter: Exporter,
    kind: str,
    body: Any,
    headers: dict[str, str] | None,
    status: int,
    field: str,
) -> None:
    kw: dict[str, Any] = {"headers": AUTH if headers is None else headers}
    if isinstance(body, str):
        kw["data"] = body
        body = None
        resp = await exporter.client.post(f"/api/advanced-monitoring/plugins/payments/{kind}", **kw)
    else:
        resp = await exporter.post("payments", kind, body, **kw)
    assert resp.status == status, await resp.text()
    answer = await resp.json()
    assert answer["field"] == field
    assert answer["error"]
    assert await exporter.state.store.counts() == dict.fromkeys(
        ("logs", "events", "snapshots", "metrics"), 0
    )
    text = await exporter.metrics()
    assert 'plugin="payments"' not in text
    assert (
        sum(
            float(v)
            for v in re.findall(r"^globalmon_ingest_rejected_total\{.*\} (\S+)$", text, re.M)
        )
        == 1
    )


async def test_unknown_plugin_and_oversize_body(
    aiohttp_client: Any, clock: Clock, store: PluginStore
) -> None:
    exp = await start(aiohttp_client, clock, store, limits=Limits(max_body_bytes=2048))
    resp = await exp.post("nope", "logs", {"level": "info", "message": "x"})
    assert resp.status == 404
    assert (await resp.json())["field"] == "plugin_id"
    resp = await exp.post("payments", "logs", {"level": "info", "message": "x" * 4000})
    assert resp.status == 413
    assert await store.counts() == dict.fromkeys(("logs", "events", "snapshots", "metrics"), 0)


async def test_rate_limit_answers_429_with_retry_after(exporter: Exporter) -> None:
    for _ in range(50):
        assert (await exporter.post("payments", "metrics", {"requests": 1})).status == 200
    resp = await exporter.post("payments", "metrics", {"requests": 1})
    assert resp.status == 429
    assert int(resp.headers["Retry-After"]) >= 1
    # per plugin: another plugin is not limited
    assert (await exporter.post("search", "metrics", {"requests": 1})).status == 200
    text = await exporter.metrics()
    assert sample(text, 'globalmon_http_rate_limited_total{component="ingest"}') == 1
    assert sample(text, 'globalmon_plugin_requests_total{plugin="payments"}') == 50
    # a window and a half later the previous window weighs half: room again
    exporter.clock.now += 90
    assert (await exporter.post("payments", "metrics", {"requests": 1})).status == 200


def test_sliding_window_has_no_boundary_burst() -> None:
    w = SlidingWindow(10, 60)
    t = 59.0  # end of one window
    assert all(w.allow("p", t) is None for _ in range(10))
    assert w.allow("p", t) is not None
    # just after the boundary the previous window still counts almost fully
    assert w.allow("p", 61.0) is not None
    assert w.allow("p", 60 + 45) is None  # three quarters through: 2.5 left of 10 used


async def test_cardinality_budgets(aiohttp_client: Any, clock: Clock, store: PluginStore) -> None:
    limits = Limits(max_custom_names=2, max_custom_series=3, max_event_types=2, max_plugins=1)
    exp = await start(aiohttp_client, clock, store, limits=limits)

    def custom(name: str, label: str = "a") -> dict[str, Any]:
        return {"custom": [{"name": name, "value": 1, "labels": {"l": label}}]}

    assert (await exp.post("payments", "metrics", custom("a"))).status == 200
    assert (await exp.post("payments", "metrics", custom("b"))).status == 200
    resp = await exp.post("payments", "metrics", custom("c"))
    assert resp.status == 422
    assert (await resp.json())["field"] == "metrics.0.custom.0.name"
    assert (await exp.post("payments", "metrics", custom("a", "b"))).status == 200
    resp = await exp.post("payments", "metrics", custom("a", "c"))
    assert (await resp.json())["field"] == "metrics.0.custom.0.labels"
    assert (await exp.post("payments", "metrics", custom("a", "a"))).status == 200  # known
    for t in ("x", "y"):
        assert (await exp.post("payments", "events", {"type": t, "severity": "low"})).status == 200
    resp = await exp.post("payments", "events", {"type": "z", "severity": "low"})
    assert (resp.status, (await resp.json())["field"]) == (422, "events.0.type")
    resp = await exp.post("search", "metrics", {"requests": 1})
    assert (resp.status, (await resp.json())["field"]) == (422, "plugin_id")
    text = await exp.metrics()
    assert "custom_c" not in text
    assert 'type="z"' not in text
    assert sample(text, 'globalmon_ingest_rejected_total{reason="cardinality"}') == 4


async def test_silent_plugins_are_evicted_and_come_back_with_their_counters(
    exporter: Exporter,
) -> None:
    await exporter.post("payments", "metrics", {"requests": 3, "cpu_usage_ratio": 0.5})
    await exporter.post("search", "metrics", {"requests": 1})
    exporter.clock.now += 300
    await exporter.post("search", "metrics", {"requests": 1})
    exporter.clock.now += 301  # payments silent 601 s > ttl 600 s; search 301 s
    await maintain(exporter.state)
    text = await exporter.metrics()
    assert 'plugin="payments"' not in text
    assert sample(text, 'globalmon_plugin_requests_total{plugin="search"}') == 2
    assert sample(text, 'globalmon_plugin_exporter_plugins{state="evicted"}') == 1
    listed = {p["id"]: p["state"] for p in (await exporter.get("/plugins"))["plugins"]}
    assert listed == {"payments": "evicted", "search": "stale", "idle": "never"}
    await exporter.post("payments", "metrics", {"requests": 1})
    text = await exporter.metrics()
    assert sample(text, 'globalmon_plugin_requests_total{plugin="payments"}') == 4


async def test_counters_survive_a_restart(
    aiohttp_client: Any, clock: Clock, tmp_path: Path
) -> None:
    path = tmp_path / "p.db"
    first = PluginStore(path)
    exp = await start(aiohttp_client, clock, first)
    await exp.post("payments", "metrics", {"requests": 7, "errors": 1, "cpu_usage_ratio": 0.3})
    await exp.post("payments", "events", {"type": "oom", "severity": "critical"})
    await exp.client.close()
    first.close()
    second = PluginStore(path)
    try:
        app = create_app(config(), clock=clock, store=second)
        client: Client = await aiohttp_client(app)
        text = await (await client.get("/metrics")).text()
        assert sample(text, 'globalmon_plugin_requests_total{plugin="payments"}') == 7
        assert sample(text, 'globalmon_plugin_cpu_usage_ratio{plugin="payments"}') == 0.3
        events = 'globalmon_plugin_events_total{plugin="payments",type="oom",severity="critical"}'
        assert sample(text, events) == 1
    finally:
        second.close()


async def test_queries_filter_and_page_with_a_cursor(exporter: Exporter) -> None:
    base = exporter.clock.now
    logs = [
        {"level": lv, "message": f"{lv} number {i}", "timestamp": base - 100 + i}
        for i, lv in enumerate(["info", "error", "info", "error", "critical"] * 5)
    ]
    assert (await exporter.post("payments", "batch", {"logs": logs})).status == 200
    await exporter.post("search", "logs", {"level": "error", "message": "other plugin"})
    seen: list[int] = []
    cursor = None
    while True:
        q = "?level=error,critical&limit=4" + (f"&cursor={cursor}" if cursor else "")
        page = await exporter.get(f"/plugins/payments/logs{q}")
        seen += [item["id"] for item in page["items"]]
        assert all(item["level"] in ("error", "critical") for item in page["items"])
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert len(set(seen)) == len(seen) == 15
    assert seen == sorted(seen, reverse=True)
    page = await exporter.get("/plugins/payments/logs?text=number 1&since=" + str(base - 91))
    expected = {log["message"] for log in logs[10:20]}  # "number 1", "number 1x" since #9
    assert {i["message"] for i in page["items"]} == expected
    page = await exporter.get(f"/plugins/payments/logs?text=_%25&until={base}")
    assert page["items"] == []  # LIKE wildcards in the text are literal
    answer = await exporter.get("/plugins/payments/logs?level=fatal", status=400)
    assert answer["field"] == "level"
    answer = await exporter.get("/plugins/payments/logs?limit=0", status=400)
    assert answer["field"] == "limit"
    await exporter.get("/plugins/nope/logs", status=404)


async def test_snapshots_compare_summary_and_analytics(exporter: Exporter) -> None:
    await exporter.post("payments", "snapshots", {"status": "healthy", "active_connections": 3})
    await exporter.post(
        "payments", "snapshots", {"status": "degraded", "active_connections": 10, "version": "2"}
    )
    diff = await exporter.get("/plugins/payments/snapshots/compare?a=1&b=2")
    assert diff["changes"]["status"] == {"a": "healthy", "b": "degraded"}
    assert diff["changes"]["active_connections"]["delta"] == 7
    assert "plugin" not in diff["changes"]
    answer = await exporter.get("/plugins/payments/snapshots/compare?a=1&b=9", status=404)
    assert answer["field"] == "b"
    now = exporter.clock.now
    for i, cpu in enumerate((0.1, 0.2, 0.3, 0.4)):
        exporter.clock.now = now + 60 * i
        report = {
            "cpu_usage_ratio": cpu,
            "requests": 100,
            "errors": 5,
            "response_times_seconds": [0.1, 0.3],
        }
        assert (await exporter.post("payments", "metrics", report)).status == 200
    await exporter.post("payments", "logs", {"level": "warning", "message": "slow"})
    trend = await exporter.get(
        "/analytics/trends?plugin=payments&metric=cpu_usage_ratio&window=10m&buckets=10"
    )
    assert trend["points"] == 4
    assert trend["slope_per_second"] == pytest.approx(0.1 / 60)
    assert sum(b["count"] for b in trend["buckets"]) == 4
    perf = (await exporter.get("/analytics/performance?window=1h"))["plugins"]
    assert perf["payments"]["requests"] == 400
    assert perf["payments"]["error_ratio"] == pytest.approx(0.05)
    assert perf["payments"]["response_time_seconds_mean"] == pytest.approx(0.2)
    assert perf["payments"]["cpu_usage_ratio_mean"] == pytest.approx(0.25)
    assert perf["payments"]["logs_by_level"] == {"warning": 1}
    assert perf["search"]["reports"] == 0
    summary = await exporter.get("/plugins/payments/summary")
    assert summary["state"] == "live"
    assert summary["latest_snapshot"]["status"] == "degraded"
    assert summary["latest_metrics"]["cpu_usage_ratio"] == 0.4
    status = await exporter.get("/status")
    assert status["stored"] == {"logs": 1, "events": 0, "snapshots": 2, "metrics": 4}
    answer = await exporter.get("/analytics/trends?plugin=payments", status=400)
    assert answer["field"] == "metric"
    answer = await exporter.get("/analytics/performance?window=soon", status=400)
    assert answer["field"] == "window"


async def test_retention_and_caps_prune_the_oldest(
    aiohttp_client: Any, clock: Clock, store: PluginStore
) -> None:
    caps = {"logs": 5, "events": 100, "snapshots": 100, "metrics": 100}
    exp = await start(aiohttp_client, clock, store, retention=3600, caps=caps, ttl=86400)
    old = [
        {"level": "info", "message": f"old {i}", "timestamp": clock.now - 1800} for i in range(3)
    ]
    new = [{"level": "info", "message": f"new {i}"} for i in range(8)]
    assert (await exp.post("payments", "batch", {"logs": old + new})).status == 200
    clock.now += 2000  # the old ones are now past the hour of retention, the new ones not
    await maintain(exp.state)
    items = (await exp.get("/plugins/payments/logs"))["items"]
    assert [i["message"] for i in items] == [f"new {i}" for i in range(7, 2, -1)]
    text = await exp.metrics()
    assert sample(text, 'globalmon_plugin_exporter_stored_records{kind="logs"}') == 5
    # counters are not rows: pruning never makes them go backwards
    assert sample(text, 'globalmon_plugin_log_messages_total{plugin="payments",level="info"}') == 11
