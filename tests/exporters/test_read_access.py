"""Reads of the plugin exporter and the registry: every read route against every role, the
components' own tokens, the webhook's shared token, open reads, and the registry's budgets."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import aiohttp
import pytest

from exporters.plugin.app import API
from exporters.registry.app import TARGETS_PATH, RegistryConfig, create_app
from exporters.registry.store import RegistryStore
from globalmon.access import SHARED, Credentials, digest, reader_credentials
from globalmon.spec.model import Credentials as CredentialsSpec
from tests.exporters import plugin_fixtures
from tests.exporters.plugin_fixtures import TOKEN as INGEST_TOKEN
from tests.exporters.plugin_fixtures import Clock, store
from tests.exporters.promtool import Client

__all__ = ["store"]  # fixture

ROLES = ("sender", "viewer", "operator", "approver", "admin")
# written out here rather than read from globalmon.access: who may read
READERS = {"viewer", "operator", "approver", "admin"}
NAMED = (
    *((f"{role}-person", role, digest(f"{role}-s3cret")) for role in ROLES),
    (SHARED, "admin", digest("hook-s3cret")),  # the webhook's shared token, as the CLI adds it
)
REGISTRY_TOKEN = "registry-s3cret"
PLUGIN_READS = (
    "/plugins",
    "/status",
    "/plugins/payments/logs",
    "/plugins/payments/events",
    "/plugins/payments/snapshots",
    "/plugins/payments/metrics",
    "/plugins/payments/summary",
    "/plugins/payments/snapshots/compare?a=1&b=2",
    "/analytics/trends?plugin=payments&metric=cpu_usage_ratio",
    "/analytics/performance",
    "/stream",
)
REGISTRY_READS = (TARGETS_PATH, "/api/v1/registry/agents")


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


async def plugin_exporter(aiohttp_client: Any, store: Any, **kw: Any) -> Client:
    exporter = await plugin_fixtures.start(aiohttp_client, Clock(), store, named=NAMED, **kw)
    return exporter.client


async def registry(aiohttp_client: Any, tmp_path: Path, **kw: Any) -> tuple[Client, list[float]]:
    now = [1_000_000.0]
    config = RegistryConfig(REGISTRY_TOKEN, stale_after=60, ttl=600, named=NAMED, **kw)
    app = create_app(config, clock=lambda: now[0], store=RegistryStore(tmp_path / "r.db"))
    client: Client = await aiohttp_client(app)
    return client, now


def allowed(status: int) -> bool:
    """Past the guard: a 2xx, a 400 naming a bad query, a 404 of an unknown snapshot."""
    return status not in (401, 403, 429)


@pytest.mark.parametrize("role", ROLES)
async def test_plugin_exporter_reads_take_a_reader(
    aiohttp_client: Any, store: Any, role: str
) -> None:
    client = await plugin_exporter(aiohttp_client, store)
    for path in PLUGIN_READS:
        resp = await client.get(API + path, headers=bearer(f"{role}-s3cret"))
        if role in READERS:
            assert allowed(resp.status), (path, resp.status, await resp.text())
        else:
            assert resp.status == 403, path
            assert (await resp.json())["field"] == "Authorization"
    # a reader is no writer: ingest takes the ingest token only
    resp = await client.post(
        f"{API}/plugins/payments/logs",
        json={"level": "info", "message": "x"},
        headers=bearer(f"{role}-s3cret"),
    )
    assert resp.status == 401


async def test_plugin_exporter_reads_without_a_credential_are_refused(
    aiohttp_client: Any, store: Any
) -> None:
    client = await plugin_exporter(aiohttp_client, store)
    for path in PLUGIN_READS:
        for headers in ({}, bearer("wrong"), {"Authorization": "Basic Zm9vOmJhcg=="}):
            resp = await client.get(API + path, headers=headers)
            assert resp.status == 401, (path, headers)
            assert (await resp.json())["field"] == "Authorization"
        for token in (INGEST_TOKEN, "hook-s3cret"):  # the exporter's own token; the shared one
            assert allowed((await client.get(API + path, headers=bearer(token))).status), path
    # Prometheus scrapes and health checks stay open
    assert (await client.get("/metrics")).status == 200
    assert (await client.get("/-/healthy")).status == 200
    text = await (await client.get("/metrics")).text()
    failures = 'globalmon_http_auth_failures_total{component="api"} '
    assert f"{failures}{3.0 * len(PLUGIN_READS)}" in text


async def test_plugin_exporter_open_reads(aiohttp_client: Any, store: Any) -> None:
    client = await plugin_exporter(aiohttp_client, store, open_reads=True)
    for path in PLUGIN_READS:
        assert allowed((await client.get(API + path)).status), path
    resp = await client.post(f"{API}/plugins/payments/logs", json={"level": "info", "message": "x"})
    assert resp.status == 401  # writes stay closed


@pytest.mark.parametrize("role", ROLES)
async def test_registry_reads_take_a_reader(aiohttp_client: Any, tmp_path: Path, role: str) -> None:
    client, _ = await registry(aiohttp_client, tmp_path)
    for path in REGISTRY_READS:
        resp = await client.get(path, headers=bearer(f"{role}-s3cret"))
        assert resp.status == (200 if role in READERS else 403), path
    # a named credential registers nothing: registration takes the registry token
    body = {"region": "r1", "agent": "a1", "agent_type": "system", "address": "10.0.0.1:9100"}
    resp = await client.post(TARGETS_PATH, json=body, headers=bearer(f"{role}-s3cret"))
    assert resp.status == 401


async def test_registry_reads_without_a_credential_are_refused(
    aiohttp_client: Any, tmp_path: Path
) -> None:
    client, _ = await registry(aiohttp_client, tmp_path)
    for path in REGISTRY_READS:
        assert (await client.get(path)).status == 401
        assert (await client.get(path, headers=bearer("wrong"))).status == 401
        # Prometheus' http_sd sends the registry token (the generated config says so)
        assert (await client.get(path, headers=bearer(REGISTRY_TOKEN))).status == 200
    text = await (await client.get("/metrics")).text()
    assert 'globalmon_registry_requests_total{outcome="unauthorized"} 4.0' in text
    (tmp_path / "open").mkdir()
    open_client, _ = await registry(aiohttp_client, tmp_path / "open", open_reads=True)
    for path in REGISTRY_READS:
        assert (await open_client.get(path)).status == 200


async def test_registry_budget_per_credential(aiohttp_client: Any, tmp_path: Path) -> None:
    client, now = await registry(aiohttp_client, tmp_path, rate=1.0, burst=3.0)
    viewer, operator = bearer("viewer-s3cret"), bearer("operator-s3cret")
    statuses = [(await client.get(TARGETS_PATH, headers=viewer)).status for _ in range(4)]
    assert statuses == [200, 200, 200, 429]
    limited = await client.get(TARGETS_PATH, headers=viewer)
    assert limited.status == 429
    assert int(limited.headers["Retry-After"]) >= 1
    assert (await limited.json())["field"] == "Authorization"
    # another credential has its own budget; time refills the first one's
    assert (await client.get(TARGETS_PATH, headers=operator)).status == 200
    now[0] += 1.0
    assert (await client.get(TARGETS_PATH, headers=viewer)).status == 200
    text = await (await client.get("/metrics")).text()
    assert 'globalmon_registry_requests_total{outcome="rate_limited"} 2.0' in text


async def test_registry_token_budget_is_per_agent_address(
    aiohttp_client: Any, tmp_path: Path
) -> None:
    """Every agent holds the registry token: one busy agent must not lock the others out."""
    client, _ = await registry(aiohttp_client, tmp_path, rate=1.0, burst=2.0)
    body = {"region": "r1", "agent": "a1", "agent_type": "system", "address": "10.0.0.1:9100"}
    token = bearer(REGISTRY_TOKEN)
    statuses = [
        (await client.post(TARGETS_PATH, json=body, headers=token)).status for _ in range(3)
    ]
    assert statuses == [200, 200, 429]
    # a header claims nothing: the peer's address counts
    spoofed = {**token, "X-Forwarded-For": "10.9.9.9"}
    assert (await client.post(TARGETS_PATH, json=body, headers=spoofed)).status == 429
    # another agent's host (another loopback source address) has its own full budget
    connector = aiohttp.TCPConnector(local_addr=("127.0.0.2", 0))
    async with aiohttp.ClientSession(connector=connector) as other:
        url = client.make_url(TARGETS_PATH)
        async with other.post(url, json=body, headers=token) as resp:
            assert resp.status == 200


def test_credentials_whose_secret_is_elsewhere_are_left_out_with_a_reason(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The plugin exporter and the registry run where another person's token file may not be:
    they start, without that credential, and say so; a sha256 needs nothing at hand."""
    monkeypatch.setenv("VERA_TOKEN", "vera-s3cret")
    monkeypatch.delenv("ALICE_TOKEN", raising=False)
    monkeypatch.delenv("HOOK_TOKEN", raising=False)
    spec = CredentialsSpec.model_validate(
        {
            "webhook_token": {"env": "HOOK_TOKEN"},
            "webhook_tokens": [
                {"name": "vera", "role": "viewer", "secret": {"env": "VERA_TOKEN"}},
                {"name": "alice", "role": "operator", "secret": {"env": "ALICE_TOKEN"}},
                {"name": "bob", "role": "approver", "sha256": "AB" * 32},
            ],
        }
    )
    skipped: list[str] = []
    found = reader_credentials(spec, lambda name, why: skipped.append(f"{name}: {why}"))
    assert found == (("vera", "viewer", digest("vera-s3cret")), ("bob", "approver", "AB" * 32))
    assert [s.split(":")[0] for s in skipped] == ["alice", SHARED]
    assert all("ALICE_TOKEN" in s or "HOOK_TOKEN" in s for s in skipped)
    # an upper-case digest from the spec matches a token all the same
    credentials = Credentials.of(None, list(found))
    assert "ab" * 32 in credentials.by_digest
