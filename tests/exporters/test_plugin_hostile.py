"""The plugin exporter under hostile or messy input: any body gets a 2xx or a 4xx naming the
field (never a 5xx), and the cardinality budget holds under concurrent requests."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from exporters.plugin.limits import Limits
from exporters.plugin.store import PluginStore
from tests.exporters.plugin_fixtures import AUTH, Clock, Exporter, clock, start, store

__all__ = ["clock", "store"]  # fixtures

scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**80), max_value=2**80),  # past 64 bits too
    st.floats(allow_nan=False, allow_infinity=False),
    st.text(max_size=20),
    st.sampled_from(["cpu_usage", "error", "critical", "info", "\r\n", "\u2028", "a" * 200]),
)
json_values = st.recursive(
    scalars,
    lambda inner: st.one_of(
        st.lists(inner, max_size=4),
        st.dictionaries(
            st.one_of(
                st.sampled_from(
                    [
                        "timestamp", "level", "message", "type", "severity", "description",
                        "data", "context", "traceback", "custom", "name", "value", "labels",
                        "requests", "errors", "cpu_seconds", "status", "metrics", "logs",
                        "events", "snapshots", "response_times_seconds", "memory_bytes",
                    ]
                ),
                st.text(max_size=8),
            ),
            inner,
            max_size=5,
        ),
    ),
    max_leaves=12,
)  # fmt: skip
raw_bodies = st.one_of(
    json_values.map(lambda v: json.dumps(v).encode()),
    st.binary(max_size=64),
    st.sampled_from([b"", b"{", b'{"a": 1e999}', b'{"message": "\\ud800"}', b"\xff\xfe"]),
)


@pytest.fixture
async def roomy(aiohttp_client: Any, clock: Clock, store: PluginStore) -> Exporter:
    return await start(aiohttp_client, clock, store, limits=Limits(requests_per_window=10**6))


@settings(
    max_examples=300,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    kind=st.sampled_from(["metrics", "logs", "events", "snapshots", "batch"]),
    body=raw_bodies,
)
async def test_any_body_is_stored_or_refused_naming_the_field(
    roomy: Exporter, kind: str, body: bytes
) -> None:
    resp = await roomy.client.post(
        f"/api/advanced-monitoring/plugins/payments/{kind}",
        data=body,
        headers={**AUTH, "Content-Type": "application/json"},
    )
    answer = await resp.json()
    assert resp.status in (200, 400, 422), answer
    if resp.status != 200:
        assert answer["field"]
        assert answer["error"]
    scrape = await roomy.client.get("/metrics")
    assert scrape.status == 200  # whatever was stored, the exposition still renders


async def test_the_cardinality_budget_holds_under_concurrent_requests(
    aiohttp_client: Any, clock: Clock, store: PluginStore
) -> None:
    limits = Limits(requests_per_window=10**6, max_custom_series=200, max_event_types=50)
    exporter = await start(aiohttp_client, clock, store, limits=limits)

    async def custom(i: int) -> int:
        body = {
            "custom": [
                {"name": "queue_depth", "value": 1.0, "labels": {"shard": f"s{i}-{j}"}}
                for j in range(8)
            ]
        }
        status: int = (await exporter.post("payments", "metrics", body)).status
        return status

    async def event(i: int) -> int:
        body = {"type": f"kind-{i}", "severity": "low", "description": "x"}
        status: int = (await exporter.post("payments", "events", body)).status
        return status

    statuses = await asyncio.gather(*(custom(i) for i in range(40)))
    assert statuses.count(200) == 25  # 25 x 8 = 200 series; the other 15 refused
    assert set(statuses) == {200, 422}
    assert (await exporter.metrics()).count("globalmon_plugin_custom_queue_depth{") == 200
    statuses = await asyncio.gather(*(event(i) for i in range(60)))
    assert statuses.count(200) == 50
    types = {
        line.split('type="')[1].split('"')[0]
        for line in (await exporter.metrics()).splitlines()
        if line.startswith("globalmon_plugin_events_total{")
    }
    assert len(types) == 50
