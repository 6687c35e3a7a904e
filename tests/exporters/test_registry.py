"""The agent registry: registration, http_sd output, staleness, TTL, persistence, bad input."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from exporters.registry.app import MAX_BODY, TARGETS_PATH, RegistryConfig, create_app
from exporters.registry.store import RegistryStore
from tests.exporters.promtool import Client, check_metrics

TOKEN = "s3cret"
AUTH = {"Authorization": f"Bearer {TOKEN}"}
GOOD = {
    "region": "us-east-1",
    "agent": "web-1",
    "agent_type": "system",
    "address": "127.0.0.1:9464",
    "labels": {"rack": "a1"},
}


class Clock:
    def __init__(self) -> None:
        self.now = 1_000_000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def store(tmp_path: Path) -> RegistryStore:
    return RegistryStore(tmp_path / "registry.db")


@pytest.fixture
async def client(aiohttp_client: Any, clock: Clock, store: RegistryStore) -> Client:
    config = RegistryConfig(token=TOKEN, stale_after=60, ttl=600)
    made: Client = await aiohttp_client(create_app(config, clock=clock, store=store))
    return made


async def _targets(client: Client, query: str = "") -> list[dict[str, Any]]:
    resp = await client.get(TARGETS_PATH + query, headers=AUTH)
    assert resp.status == 200
    data: list[dict[str, Any]] = await resp.json()
    return data


async def test_a_registered_agent_is_served_for_http_sd(client: Client) -> None:
    resp = await client.post(TARGETS_PATH, json=GOOD, headers=AUTH)
    assert resp.status == 200
    assert await resp.json() == {"status": "registered", "stale_after": 60}
    assert await _targets(client) == [
        {
            "targets": ["127.0.0.1:9464"],
            "labels": {
                "rack": "a1",
                "region": "us-east-1",
                "agent": "web-1",
                "agent_type": "system",
            },
        }
    ]
    assert await _targets(client, "?region=eu-west-1") == []


async def test_silent_agents_turn_stale_then_disappear(client: Client, clock: Clock) -> None:
    await client.post(TARGETS_PATH, json=GOOD, headers=AUTH)
    clock.now += 61
    agents = await (await client.get("/api/v1/registry/agents", headers=AUTH)).json()
    assert [a["state"] for a in agents] == ["stale"]
    assert len(await _targets(client)) == 1  # still scraped: Prometheus shows it down
    await client.post(TARGETS_PATH, json=GOOD, headers=AUTH)  # a heartbeat revives it
    agents = await (await client.get("/api/v1/registry/agents", headers=AUTH)).json()
    assert [a["state"] for a in agents] == ["live"]
    clock.now += 601
    assert await _targets(client) == []
    assert await (await client.get("/api/v1/registry/agents", headers=AUTH)).json() == []


async def test_registrations_survive_a_restart(
    aiohttp_client: Any, clock: Clock, tmp_path: Path
) -> None:
    config = RegistryConfig(token=TOKEN, stale_after=60, ttl=600)
    first = RegistryStore(tmp_path / "r.db")
    client = await aiohttp_client(create_app(config, clock=clock, store=first))
    assert (await client.post(TARGETS_PATH, json=GOOD, headers=AUTH)).status == 200
    await client.close()
    first.close()
    again = await aiohttp_client(
        create_app(config, clock=clock, store=RegistryStore(tmp_path / "r.db"))
    )
    assert [g["labels"]["agent"] for g in await _targets(again)] == ["web-1"]


BAD: list[tuple[str, Any, int, str | None]] = [
    ("malformed JSON", b"{not json", 400, "body"),
    ("a list", [GOOD], 400, "body"),
    ("missing agent", {k: v for k, v in GOOD.items() if k != "agent"}, 400, "agent"),
    ("wrong type", {**GOOD, "agent": 7}, 400, "agent"),
    ("bad id", {**GOOD, "agent": "Web 1"}, 400, "agent"),
    ("unknown type", {**GOOD, "agent_type": "toaster"}, 400, "agent_type"),
    ("bad address", {**GOOD, "address": "no-port"}, 400, "address"),
    ("unknown key", {**GOOD, "colour": "red"}, 400, "colour"),
    ("bad label name", {**GOOD, "labels": {"bad-name": "x"}}, 400, "labels.bad-name.[key]"),
    ("too many labels", {**GOOD, "labels": {f"l{i}": "x" for i in range(17)}}, 400, "labels"),
    ("long label value", {**GOOD, "labels": {"rack": "x" * 129}}, 400, "labels.rack"),
    ("hostile label value", {**GOOD, "labels": {"rack": "$(rm -rf /)\n"}}, 200, None),
]


@pytest.mark.parametrize(("case", "body", "status", "field"), BAD, ids=[b[0] for b in BAD])
async def test_bad_input_is_refused_with_the_field_and_stores_nothing(
    client: Client, case: str, body: Any, status: int, field: str | None
) -> None:
    raw = body if isinstance(body, bytes) else json.dumps(body).encode()
    resp = await client.post(TARGETS_PATH, data=raw, headers=AUTH)
    assert resp.status == status, await resp.text()
    if status == 200:  # label values are data: stored as given, never interpreted
        [group] = await _targets(client)
        assert group["labels"]["rack"] == "$(rm -rf /)\n"
        return
    error = await resp.json()
    assert error["field"] == field
    assert error["error"]
    assert await _targets(client) == []


@pytest.mark.parametrize("auth", [None, "Bearer wrong", f"Basic {TOKEN}", f"Bearer {TOKEN}x"])
async def test_writes_need_the_bearer_token(client: Client, auth: str | None) -> None:
    headers = {"Authorization": auth} if auth else {}
    resp = await client.post(TARGETS_PATH, json=GOOD, headers=headers)
    assert resp.status == 401
    assert (await resp.json())["field"] == "Authorization"
    assert await _targets(client) == []


async def test_oversize_body_is_refused(client: Client) -> None:
    resp = await client.post(TARGETS_PATH, data=b"x" * (MAX_BODY + 1), headers=AUTH)
    assert resp.status == 413
    assert await _targets(client) == []


async def test_metrics_are_promtool_clean(client: Client, promtool_bin: str) -> None:
    await client.post(TARGETS_PATH, json=GOOD, headers=AUTH)
    await client.post(TARGETS_PATH, json={"agent": 1}, headers=AUTH)
    text = await (await client.get("/metrics")).text()
    assert 'globalmon_registry_agents{state="live"} 1.0' in text
    assert 'globalmon_registry_requests_total{outcome="invalid"} 1.0' in text
    await check_metrics(promtool_bin, text)
