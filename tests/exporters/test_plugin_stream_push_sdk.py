"""The plugin exporter's WebSocket stream, critical-event push, and the plugin SDK."""

from __future__ import annotations

import asyncio
import enum
import socket
import time
from typing import Any

import pytest
from aiohttp import WSMsgType, web

from exporters.plugin.limits import Limits
from exporters.plugin.sdk import PluginClient, PluginMonitor
from exporters.plugin.store import PluginStore
from tests.exporters.plugin_fixtures import (
    READ,
    TOKEN,
    Clock,
    Exporter,
    clock,
    exporter,
    start,
    store,
)
from tests.exporters.waiting import until

__all__ = ["clock", "exporter", "store"]  # fixtures


async def test_stream_sends_committed_logs_and_events_matching_the_filter(
    exporter: Exporter,
) -> None:
    ws = await exporter.client.ws_connect(
        "/api/advanced-monitoring/stream?plugin=payments&level=error&severity=critical",
        headers=READ,
    )
    assert (await ws.receive_json(timeout=10))["kind"] == "subscribed"
    await exporter.post("payments", "logs", {"level": "info", "message": "filtered out"})
    await exporter.post("search", "logs", {"level": "error", "message": "other plugin"})
    await exporter.post("payments", "events", {"type": "deploy", "severity": "low"})
    await exporter.post("payments", "logs", {"level": "error", "message": "wanted"})
    await exporter.post("payments", "events", {"type": "oom", "severity": "critical"})
    first = await ws.receive_json(timeout=10)
    second = await ws.receive_json(timeout=10)
    assert (first["kind"], first["item"]["message"]) == ("logs", "wanted")
    assert (second["kind"], second["item"]["type"]) == ("events", "oom")
    # the streamed item is the one the query API returns
    [stored] = (await exporter.get("/plugins/payments/logs?level=error"))["items"]
    assert first["item"] == stored
    await ws.close()
    await until("the subscriber gone", lambda: not exporter.state.hub.subscribers)


async def test_stream_refuses_unknown_kinds(exporter: Exporter) -> None:
    resp = await exporter.client.get("/api/advanced-monitoring/stream?kind=metrics", headers=READ)
    assert resp.status == 400
    assert (await resp.json())["field"] == "kind"


async def test_a_lagging_subscriber_is_closed_not_buffered_forever(exporter: Exporter) -> None:
    ws = await exporter.client.ws_connect("/api/advanced-monitoring/stream", headers=READ)
    await ws.receive_json(timeout=10)
    [sub] = exporter.state.hub.subscribers
    items = [{"plugin": "payments", "level": "info"}] * 1500
    exporter.state.hub.publish("logs", items)  # more than the queue holds, at once
    assert sub.lagged
    kinds = []
    while True:
        msg = await ws.receive(timeout=10)
        if msg.type != WSMsgType.TEXT:
            break
        kinds.append(msg.json()["kind"])
    assert msg.type in (WSMsgType.CLOSE, WSMsgType.CLOSED)
    assert ws.close_code == 1013
    assert len(kinds) < 1500


async def test_critical_events_are_pushed_to_the_webhook_as_alertmanager_alerts(
    aiohttp_client: Any, aiohttp_server: Any, clock: Clock, store: PluginStore
) -> None:
    received: list[tuple[str, dict[str, Any]]] = []
    failures = {"left": 1}  # the first delivery fails: the pusher must retry

    async def webhook(request: web.Request) -> web.Response:
        if failures["left"]:
            failures["left"] -= 1
            return web.Response(status=503)
        received.append((request.headers.get("Authorization", ""), await request.json()))
        return web.Response(text="ok")

    receiver = web.Application()
    receiver.router.add_post("/webhook", webhook)
    server = await aiohttp_server(receiver, host="127.0.0.1")
    exp = await start(
        aiohttp_client,
        clock,
        store,
        region="us-east-1",
        push_url=f"http://127.0.0.1:{server.port}/webhook",
        push_token="hook-token",
    )
    assert exp.state.pusher is not None
    exp.state.pusher.backoff = 0.05
    await exp.post("payments", "events", {"type": "deploy", "severity": "high"})
    event = {"type": "oom", "severity": "critical", "description": "killed"}
    assert (await exp.post("payments", "events", event)).status == 200
    await until("the push", lambda: received)
    [(auth, payload)] = received
    assert auth == "Bearer hook-token"
    assert payload["version"] == "4"
    [alert] = payload["alerts"]
    assert alert["labels"] == {
        "alertname": "PluginCriticalEvent",
        "plugin": "payments",
        "severity": "critical",
        "type": "oom",
        "region": "us-east-1",
    }
    assert alert["annotations"]["description"] == "killed"
    assert alert["endsAt"] == "0001-01-01T00:00:00Z"
    text = await exp.metrics()
    assert 'globalmon_plugin_exporter_webhook_pushes_total{outcome="sent"} 1.0' in text


async def test_sdk_batches_timings_logs_events_and_snapshots(exporter: Exporter) -> None:
    url = str(exporter.client.make_url("/"))
    client = PluginClient(url, "payments", token=TOKEN, flush_interval=60)  # close() sends

    @client.timed()
    def work(fail: bool) -> None:
        if fail:
            raise ValueError("boom")

    work(False)
    with pytest.raises(ValueError, match="boom"):
        work(True)
    with client.timer():
        pass
    client.record_metric(cpu_usage_ratio=0.25, requests=2, disk_write_bytes=10)
    client.record_log("error", "it broke", context={"order": 7})
    client.record_event("deploy", "low", "v2", {"by": "ci"})
    client.create_snapshot(status="healthy", version="2")
    await asyncio.to_thread(client.close)
    assert (client.sent, client.dropped, client.rejected) == (5, 0, 0)
    text = await exporter.metrics()
    assert 'globalmon_plugin_requests_total{plugin="payments"} 5.0' in text
    assert 'globalmon_plugin_errors_total{plugin="payments"} 1.0' in text
    assert 'globalmon_plugin_response_time_seconds_count{plugin="payments"} 3.0' in text
    assert 'globalmon_plugin_cpu_usage_ratio{plugin="payments"} 0.25' in text
    [log] = (await exporter.get("/plugins/payments/logs"))["items"]
    assert log["context"] == {"order": 7}
    [event] = (await exporter.get("/plugins/payments/events"))["items"]
    assert event["data"] == {"by": "ci"}


async def test_sdk_never_blocks_and_counts_what_it_drops(exporter: Exporter) -> None:
    # An exporter that accepts connections and never answers: the sender thread hangs on its
    # first request, and every record call must still return (no timing asserted: the calls
    # finish while the sender is provably stuck).
    silent = socket.socket()
    silent.bind(("127.0.0.1", 0))
    silent.listen(8)
    url = f"http://127.0.0.1:{silent.getsockname()[1]}"
    client = PluginClient(url, "payments", max_buffer=100, flush_interval=0.01, timeout=30)
    client.record_log("info", "first")
    await until("the sender stuck on its first batch", lambda: client.pending == 0)
    for i in range(1000):
        client.record_log("info", f"line {i}")
    assert (client.sent, client.failures) == (0, 0)  # the first request is still hanging
    assert client.pending == 100
    assert client.dropped == 900
    silent.close()  # the hanging request fails; its item finds the buffer full
    await until("a failed send", lambda: client.failures >= 1)
    assert client.dropped == 901
    assert client.sent == 0
    await asyncio.to_thread(client.close, 1.0)

    # a batch the exporter refuses as invalid is dropped and counted, not retried forever
    url = str(exporter.client.make_url("/"))
    bad = PluginClient(url, "payments", token=TOKEN, flush_interval=0.01)
    bad.record_log("fatal", "no such level")
    await asyncio.to_thread(bad.close)
    assert (bad.sent, bad.rejected) == (0, 1)


async def test_sdk_retries_until_the_exporter_accepts(
    aiohttp_client: Any, clock: Clock, store: PluginStore
) -> None:
    exp = await start(aiohttp_client, clock, store, limits=Limits(requests_per_window=1))
    url = str(exp.client.make_url("/"))
    client = PluginClient(url, "payments", token=TOKEN, flush_interval=0.01, max_backoff=0.05)
    client.record_log("info", "first")
    await until("the first batch", lambda: client.sent == 1)
    client.record_log("info", "second")  # rate limited (429): kept and retried
    await until("a refused attempt", lambda: client.failures >= 1)
    clock.now += 120  # the window moves on
    await until("the retried batch", lambda: client.sent == 2)
    await asyncio.to_thread(client.close)
    messages = [i["message"] for i in (await exp.get("/plugins/payments/logs"))["items"]]
    assert messages == ["second", "first"]


class _SeedMetricType(enum.Enum):  # the seed passes its own enums
    CPU_USAGE = "cpu_usage"
    RESPONSE_TIME = "response_time"


async def test_the_seed_monitors_calls_through_the_sdk(exporter: Exporter) -> None:
    url = str(exporter.client.make_url("/"))
    monitor = PluginMonitor(url, token=TOKEN, flush_interval=60, self_interval=None)
    monitor.record_metric("payments", _SeedMetricType.CPU_USAGE, 42.0, {"source": "worker"})
    monitor.record_metric("payments", "response_time", 250.0)
    monitor.record_log("payments", "error", "card declined", {"order": 42}, "Traceback ...")
    monitor.record_event("payments", "startup", "v1.4.2 up", "info", {"version": "1.4.2"})
    monitor.create_snapshot("payments", {"cpu_usage": 12.5, "response_time": 180.0})
    await asyncio.to_thread(monitor.close)
    [client] = monitor.clients.values()
    assert (client.sent, client.dropped, client.rejected) == (5, 0, 0)
    text = await exporter.metrics()
    assert 'globalmon_plugin_cpu_usage_ratio{plugin="payments"} 0.42' in text
    assert 'globalmon_plugin_response_time_seconds_sum{plugin="payments"} 0.25' in text
    metrics = (await exporter.get("/plugins/payments/metrics?hours=1"))["data"]
    assert {m["metric_type"]: m["metadata"] for m in metrics}["cpu_usage"] == {"source": "worker"}
    [log] = (await exporter.get("/plugins/payments/logs?hours=1"))["data"]
    assert (log["level"], log["traceback"]) == ("error", "Traceback ...")
    [event] = (await exporter.get("/plugins/payments/events?hours=1"))["data"]
    assert (event["event_type"], event["severity"]) == ("startup", "info")
    [snapshot] = (await exporter.get("/plugins/payments/snapshots?hours=1"))["data"]
    assert (snapshot["cpu_usage"], snapshot["response_time"]) == (12.5, 180.0)


async def test_the_sdk_measures_its_own_process_and_snapshots_it(exporter: Exporter) -> None:
    url = str(exporter.client.make_url("/"))
    client = PluginClient(url, "payments", token=TOKEN, flush_interval=0.05, self_interval=0.1)
    deadline = time.monotonic() + 30
    try:
        while True:  # a condition with a deadline: the SDK's thread measures every 0.1 s
            found = (await exporter.get("/plugins/payments/snapshots"))["items"]
            if found and found[0].get("uptime_seconds") is not None:
                snapshot = found[0]
                break
            assert time.monotonic() < deadline, "no snapshot of the plugin's own process in 30s"
            await asyncio.sleep(0.05)
    finally:
        await asyncio.to_thread(client.close)
    assert snapshot["status"] == "healthy"
    assert snapshot["memory_bytes"] > 10 * 1024 * 1024  # this test's interpreter
    assert 0 <= snapshot["cpu_usage_ratio"] <= 1
    assert 'globalmon_plugin_memory_bytes{plugin="payments"}' in await exporter.metrics()


async def test_one_event_the_pusher_cannot_send_does_not_stop_the_others(
    aiohttp_client: Any, aiohttp_server: Any, clock: Clock, store: PluginStore
) -> None:
    received: list[dict[str, Any]] = []

    async def webhook(request: web.Request) -> web.Response:
        received.append(await request.json())
        return web.Response(text="ok")

    receiver = web.Application()
    receiver.router.add_post("/webhook", webhook)
    server = await aiohttp_server(receiver, host="127.0.0.1")
    exp = await start(
        aiohttp_client, clock, store, push_url=f"http://127.0.0.1:{server.port}/webhook"
    )
    assert exp.state.pusher is not None
    exp.state.pusher.submit({"plugin": "payments", "type": "oom"})  # no id, no time: unsendable
    event = {"type": "oom", "severity": "critical", "description": "killed"}
    assert (await exp.post("payments", "events", event)).status == 200
    await until("the good event's push", lambda: received)
    assert received[0]["alerts"][0]["annotations"]["description"] == "killed"
    assert 'globalmon_plugin_exporter_webhook_pushes_total{outcome="failed"} 1.0' in (
        await exp.metrics()
    )
