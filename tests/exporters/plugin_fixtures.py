"""Shared fixtures for the plugin exporter's tests: an app on a fake clock and a temp database."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from exporters.plugin.app import API, create_app
from exporters.plugin.limits import Limits
from exporters.plugin.state import PluginExporterConfig, State
from exporters.plugin.store import PluginStore
from globalmon.access import digest
from globalmon.spec.services import Plugin
from tests.exporters.promtool import Client

TOKEN = "ingest-s3cret"
AUTH = {"Authorization": f"Bearer {TOKEN}"}
VIEWER = "viewer-s3cret"  # a named credential that may read, not write
READ = {"Authorization": f"Bearer {VIEWER}"}
NAMED = (("vera", "viewer", digest(VIEWER)), ("sam", "sender", digest("sender-s3cret")))
PLUGINS = {
    p: Plugin.model_validate({"id": p, "owner": "team-x"}) for p in ("payments", "search", "idle")
}


class Clock:
    """Starts at the real time: the SDK stamps items with time.time(), and a clock far from it
    would let the exporter's retention (30 days behind *its* now) prune them mid-test."""

    def __init__(self) -> None:
        self.now = float(int(time.time()))

    def __call__(self) -> float:
        return self.now


@dataclass
class Exporter:
    client: Client
    clock: Clock
    state: State

    async def post(self, plugin: str, kind: str, body: Any, **kw: Any) -> Any:
        headers = kw.pop("headers", AUTH)
        return await self.client.post(
            f"{API}/plugins/{plugin}/{kind}", json=body, headers=headers, **kw
        )

    async def get(self, path: str, status: int = 200) -> Any:
        resp = await self.client.get(API + path, headers=READ)
        assert resp.status == status, await resp.text()
        return await resp.json()

    async def metrics(self) -> str:
        resp = await self.client.get("/metrics")
        assert resp.status == 200
        text: str = await resp.text()
        return text


def config(**kw: Any) -> PluginExporterConfig:
    kw.setdefault("named", NAMED)
    return PluginExporterConfig(plugins=PLUGINS, token=TOKEN, maintenance_interval=3600, **kw)


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
async def store(tmp_path: Path) -> AsyncIterator[PluginStore]:
    s = PluginStore(tmp_path / "plugins.db")
    yield s
    s.close()


async def start(aiohttp_client: Any, clock: Clock, store: PluginStore, **kw: Any) -> Exporter:
    app = create_app(config(**kw), clock=clock, store=store)
    client: Client = await aiohttp_client(app)
    return Exporter(client, clock, app[State.KEY])


@pytest.fixture
async def exporter(aiohttp_client: Any, clock: Clock, store: PluginStore) -> Exporter:
    return await start(aiohttp_client, clock, store, limits=Limits(requests_per_window=50))
