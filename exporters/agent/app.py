"""The agent exporter's aiohttp app: /metrics, plus the heartbeat, registration and probe loops."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass

import aiohttp
from aiohttp import web
from prometheus_client import CollectorRegistry, Counter, generate_latest
from prometheus_client.exposition import CONTENT_TYPE_LATEST

from exporters.agent.collectors import HostCollector, IdentityCollector, Liveness, ProcessCollector
from exporters.agent.probes import Prober
from globalmon import conventions as c
from globalmon.spec.topology import Agent


@dataclass(frozen=True)
class AgentConfig:
    region: str
    agent: Agent
    registry_url: str | None  # the region's http_sd URL; agents POST their registration there
    registry_token: str | None
    heartbeat_interval: float  # a quarter of heartbeat_stale_after by default


REGISTRY = web.AppKey("registry", CollectorRegistry)
LIVENESS = web.AppKey("liveness", Liveness)
CONFIG = web.AppKey("config", AgentConfig)
CLOCK: web.AppKey[Callable[[], float]] = web.AppKey("clock")
PROBER = web.AppKey("prober", Prober)
REGISTRATIONS = web.AppKey("registrations", Counter)


async def metrics(request: web.Request) -> web.Response:
    # psutil calls block: render off the event loop so probes and heartbeats keep their time
    body = await asyncio.to_thread(generate_latest, request.app[REGISTRY])
    return web.Response(body=body, headers={"Content-Type": CONTENT_TYPE_LATEST})


async def healthy(request: web.Request) -> web.Response:
    return web.Response(text="ok\n")


async def _register(app: web.Application, session: aiohttp.ClientSession) -> None:
    config = app[CONFIG]
    if config.registry_url is None:
        return
    a = config.agent
    headers = {"Authorization": f"Bearer {config.registry_token}"} if config.registry_token else {}
    body = {
        "region": config.region,
        "agent": a.id,
        "agent_type": a.type,
        "address": a.address,
        "labels": dict(a.labels),
    }
    try:
        async with session.post(
            config.registry_url, json=body, headers=headers, timeout=aiohttp.ClientTimeout(total=5)
        ) as resp:
            app[REGISTRATIONS].labels(
                "ok" if resp.status == 200 else f"http_{resp.status // 100}xx"
            ).inc()
    except (OSError, TimeoutError, aiohttp.ClientError):
        app[REGISTRATIONS].labels("unreachable").inc()  # the registry may restart: keep trying


async def _background(app: web.Application) -> AsyncIterator[None]:
    session = aiohttp.ClientSession()

    async def heartbeat() -> None:
        while True:
            app[LIVENESS].heartbeat = app[CLOCK]()
            await _register(app, session)
            await asyncio.sleep(app[CONFIG].heartbeat_interval)

    tasks = [asyncio.create_task(heartbeat()), asyncio.create_task(app[PROBER].run(session))]
    yield
    for t in tasks:
        t.cancel()
    for t in tasks:
        with contextlib.suppress(asyncio.CancelledError):
            await t
    await session.close()


def create_app(config: AgentConfig, *, clock: Callable[[], float]) -> web.Application:
    app = web.Application()
    registry = CollectorRegistry()
    liveness = Liveness(started=clock())
    registry.register(IdentityCollector(liveness, clock))
    registry.register(HostCollector())
    registry.register(ProcessCollector(list(config.agent.processes)))
    prober = Prober(list(config.agent.probes), registry)
    registry.register(prober)
    registrations = Counter(
        c.AGENT_REGISTRATIONS.name.removesuffix("_total"),
        c.AGENT_REGISTRATIONS.help,
        [c.LABEL_OUTCOME],
        registry=registry,
    )
    for outcome in ("ok", "unreachable"):
        registrations.labels(outcome)
    app[REGISTRY], app[LIVENESS], app[CONFIG], app[CLOCK] = registry, liveness, config, clock
    app[PROBER], app[REGISTRATIONS] = prober, registrations
    app.router.add_get("/metrics", metrics)
    app.router.add_get("/-/healthy", healthy)
    app.cleanup_ctx.append(_background)
    return app
