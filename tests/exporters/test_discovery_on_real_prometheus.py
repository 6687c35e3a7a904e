"""A real Prometheus discovers agents through the registry (http_sd) and scrapes them; a stopped
agent shows as down and stale, then disappears."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from typing import Any

import pytest

from exporters.agent.app import AgentConfig, create_app
from exporters.registry.app import TARGETS_PATH, RegistryConfig
from exporters.registry.app import create_app as create_registry
from exporters.registry.store import RegistryStore
from globalmon import conventions as c
from globalmon.spec.topology import Agent
from local_stack import servers
from tests.conftest import StartServer
from tests.exporters.waiting import query, until

pytestmark = pytest.mark.integration

# Stale after 1.5 s, gone after TTL: a window wide enough to observe both on a loaded machine.
TTL = 8

PROMETHEUS = """
global: {{scrape_interval: 1s, scrape_timeout: 900ms}}
scrape_configs:
  - job_name: {job}
    http_sd_configs:
      - url: "http://127.0.0.1:{port}{path}?region=us-east-1"
        refresh_interval: 1s
"""


async def test_agents_are_discovered_scraped_and_expire(
    aiohttp_server: Any, start_prometheus: StartServer, tmp_path: Path
) -> None:
    store = RegistryStore(tmp_path / "registry.db")
    registry = await aiohttp_server(
        create_registry(
            RegistryConfig(None, stale_after=1.5, ttl=TTL), clock=time.time, store=store
        ),
        host="127.0.0.1",
    )
    port = servers.free_port()
    agent = Agent.model_validate(
        {"id": "web-1", "type": "system", "address": f"127.0.0.1:{port}", "labels": {"rack": "a1"}}
    )
    url = f"http://127.0.0.1:{registry.port}{TARGETS_PATH}"
    agent_server = await aiohttp_server(
        create_app(AgentConfig("us-east-1", agent, url, None, 0.2), clock=time.time),
        host="127.0.0.1",
        port=port,
    )
    prom = await asyncio.to_thread(
        start_prometheus,
        PROMETHEUS.format(job=c.JOB_AGENT, port=registry.port, path=TARGETS_PATH),
    )
    up = f'up{{job="{c.JOB_AGENT}",region="us-east-1",agent="web-1",agent_type="system"}}'

    [sample] = await until("the agent scraped", lambda: query(prom.url, f"{up} == 1"))
    assert sample["metric"]["rack"] == "a1"
    beat = await until(
        "its heartbeat",
        lambda: query(prom.url, f'{c.AGENT_HEARTBEAT.name}{{agent="web-1",region="us-east-1"}}'),
    )
    assert abs(float(beat[0]["value"][1]) - time.time()) < 30
    assert await until(
        "its host metrics",
        lambda: query(
            prom.url, f'{c.HOST_MEMORY_TOTAL.name}{{agent="web-1",agent_type="system"}} > 0'
        ),
    )

    await agent_server.close()  # the agent stops: no more scrapes, no more heartbeats

    def stale() -> bool:
        agents = servers.get_json(f"http://127.0.0.1:{registry.port}/api/v1/registry/agents")
        return [a["state"] for a in agents] == ["stale"]

    await until("the registry marking it stale", stale, limit=TTL)
    await until("the agent down", lambda: query(prom.url, f"{up} == 0"), limit=TTL)
    await until("the target gone", lambda: not query(prom.url, up), limit=40)
    assert await asyncio.to_thread(servers.get_json, url) == []  # past its TTL
