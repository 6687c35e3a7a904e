"""The agent exporter: its exposition, process groups, probes and self-registration."""

from __future__ import annotations

import asyncio
import os
import sys
import time
from typing import Any

from aiohttp import web
from prometheus_client.parser import text_string_to_metric_families

from exporters.agent.app import AgentConfig, create_app
from exporters.registry.app import TARGETS_PATH, RegistryConfig
from exporters.registry.app import create_app as create_registry
from exporters.registry.store import RegistryStore
from globalmon import conventions as c
from globalmon.spec.topology import Agent
from local_stack import servers
from tests.exporters.promtool import Client, check_metrics


def _agent(**extra: Any) -> Agent:
    return Agent.model_validate(
        {"id": "web-1", "type": "system", "address": "127.0.0.1:9464", **extra}
    )


async def _wait(predicate: Any, limit: float = 10) -> None:
    deadline = time.monotonic() + limit
    while not await predicate():
        assert time.monotonic() < deadline, "condition not met before the deadline"
        await asyncio.sleep(0.05)


async def _families(client: Client) -> dict[str, Any]:
    text = await (await client.get("/metrics")).text()
    return {f.name: f for f in text_string_to_metric_families(text)}


async def test_exposition_is_promtool_clean_and_named_by_the_conventions(
    aiohttp_client: Any, promtool_bin: str
) -> None:
    config = AgentConfig("us-east-1", _agent(), None, None, heartbeat_interval=60)
    client: Client = await aiohttp_client(create_app(config, clock=time.time))
    text = await (await client.get("/metrics")).text()
    await check_metrics(promtool_bin, text)
    names = {f.name for f in text_string_to_metric_families(text)}
    expected = {
        m.name.removesuffix("_total")
        for m in (
            c.AGENT_INFO,
            c.AGENT_HEARTBEAT,
            c.AGENT_UPTIME,
            c.BUILD_INFO,
            c.HOST_CPU,
            c.HOST_MEMORY_USED,
            c.HOST_MEMORY_AVAILABLE,
            c.HOST_MEMORY_TOTAL,
            c.HOST_DISK_USED,
            c.HOST_DISK_SIZE,
            c.HOST_NETWORK,
            c.HOST_LOAD1,
        )
    }
    assert expected <= names
    assert all(n.startswith(c.PREFIX) for n in names)
    # target labels come from Prometheus, never from the exporter
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            assert not set(sample.labels) & set(c.AGENT_TARGET_LABELS), sample


async def test_heartbeat_is_fresh(aiohttp_client: Any) -> None:
    config = AgentConfig("us-east-1", _agent(), None, None, heartbeat_interval=0.05)
    client: Client = await aiohttp_client(create_app(config, clock=time.time))

    async def recent() -> bool:
        fam = (await _families(client))[c.AGENT_HEARTBEAT.name]
        return bool(time.time() - fam.samples[0].value < 1)

    await _wait(recent)


async def test_process_groups_find_this_test_run(aiohttp_client: Any) -> None:
    me = os.path.basename(sys.executable)
    agent = _agent(
        processes=[
            {"name": "python", "match": me},
            {"name": "ghost", "match": "^no-such-program-xyz$"},
        ]
    )
    config = AgentConfig("us-east-1", agent, None, None, heartbeat_interval=60)
    client: Client = await aiohttp_client(create_app(config, clock=time.time))
    fams = await _families(client)
    up = {s.labels["group"]: s.value for s in fams[c.PROCESS_UP.name].samples}
    assert up == {"python": 1.0, "ghost": 0.0}
    rss = {s.labels["group"]: s.value for s in fams[c.PROCESS_RESIDENT.name].samples}
    assert rss["python"] > 1_000_000
    assert rss["ghost"] == 0


async def test_probes_report_success_status_and_failure(
    aiohttp_server: Any, aiohttp_client: Any
) -> None:
    target = web.Application()

    async def healthz(request: web.Request) -> web.Response:
        return web.Response(text="ok")

    async def broken(request: web.Request) -> web.Response:
        return web.Response(status=503)

    target.router.add_get("/healthz", healthz)
    target.router.add_get("/broken", broken)
    server = await aiohttp_server(target, host="127.0.0.1")
    closed = servers.free_port()
    agent = _agent(
        probes=[
            {
                "type": "http",
                "name": "healthy",
                "url": f"http://127.0.0.1:{server.port}/healthz",
                "interval": "1s",
            },
            {
                "type": "http",
                "name": "broken",
                "url": f"http://127.0.0.1:{server.port}/broken",
                "interval": "1s",
            },
            {
                "type": "tcp",
                "name": "port-open",
                "address": f"127.0.0.1:{server.port}",
                "interval": "1s",
            },
            {
                "type": "tcp",
                "name": "port-closed",
                "address": f"127.0.0.1:{closed}",
                "interval": "1s",
            },
        ]
    )
    config = AgentConfig("us-east-1", agent, None, None, heartbeat_interval=60)
    client: Client = await aiohttp_client(create_app(config, clock=time.time))

    async def probed() -> bool:
        fams = await _families(client)
        counts = [s.value for s in fams[c.PROBE_DURATION.name].samples if s.name.endswith("_count")]
        return len(counts) == 4 and all(v >= 1 for v in counts)

    await _wait(probed)
    fams = await _families(client)
    success = {s.labels["probe"]: s.value for s in fams[c.PROBE_SUCCESS.name].samples}
    assert success == {"healthy": 1.0, "broken": 0.0, "port-open": 1.0, "port-closed": 0.0}
    status = {s.labels["probe"]: s.value for s in fams[c.PROBE_HTTP_STATUS.name].samples}
    assert status == {"healthy": 200.0, "broken": 503.0}


async def test_agent_registers_itself_with_the_registry(
    aiohttp_server: Any, aiohttp_client: Any, tmp_path: Any
) -> None:
    store = RegistryStore(tmp_path / "r.db")
    registry = await aiohttp_server(
        create_registry(RegistryConfig("tok", 60, 600), clock=time.time, store=store),
        host="127.0.0.1",
    )
    url = f"http://127.0.0.1:{registry.port}{TARGETS_PATH}"
    agent = _agent(labels={"rack": "a1"})
    client: Client = await aiohttp_client(
        create_app(AgentConfig("us-east-1", agent, url, "tok", 0.05), clock=time.time)
    )

    async def registered() -> bool:
        return bool(await store.entries())

    await _wait(registered)
    [entry] = await store.entries()
    assert entry.registration.agent == "web-1"
    assert entry.registration.labels == {"rack": "a1"}
    fams = await _families(client)
    ok = {
        s.labels["outcome"]: s.value
        for s in fams[c.AGENT_REGISTRATIONS.name.removesuffix("_total")].samples
    }
    assert ok["ok"] >= 1


async def test_an_unreachable_registry_is_counted_not_fatal(aiohttp_client: Any) -> None:
    url = f"http://127.0.0.1:{servers.free_port()}{TARGETS_PATH}"
    client: Client = await aiohttp_client(
        create_app(AgentConfig("us-east-1", _agent(), url, None, 0.05), clock=time.time)
    )

    async def counted() -> bool:
        fams = await _families(client)
        outcomes = {
            s.labels["outcome"]: s.value
            for s in fams[c.AGENT_REGISTRATIONS.name.removesuffix("_total")].samples
        }
        return bool(outcomes.get("unreachable", 0) >= 2)

    await _wait(counted)
    assert (await client.get("/-/healthy")).status == 200
