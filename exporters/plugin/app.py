"""The plugin exporter's aiohttp app.

POST /api/advanced-monitoring/plugins/{id}/{metrics,logs,events,snapshots,batch}   ingest
GET  /api/advanced-monitoring/plugins/{id}/{metrics,logs,events,snapshots}         query
GET  /api/advanced-monitoring/plugins/{id}/snapshots/compare?a=ID&b=ID
GET  /api/advanced-monitoring/plugins/{id}/summary
GET  /api/advanced-monitoring/{status,plugins}
GET  /api/advanced-monitoring/analytics/{trends,performance}
GET  /api/advanced-monitoring/stream                                      WebSocket
GET  /metrics, /-/healthy

Ingest takes the ingest token. Reads of the API (the stream too) take it or a named credential
whose role may read, unless the spec opens reads; /metrics and /-/healthy are open.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import AsyncIterator, Callable
from typing import Any

from aiohttp import web
from prometheus_client import generate_latest
from prometheus_client.exposition import CONTENT_TYPE_LATEST

from exporters.plugin import ingest, query, stream
from exporters.plugin.push import Pusher, running
from exporters.plugin.state import PluginExporterConfig, SelfMetrics, State
from exporters.plugin.store import PluginStore
from globalmon.access import Credentials, ReadGuard
from globalmon.durable import WriterClosed
from globalmon.http import RAW_BODIES

log = logging.getLogger("globalmon.plugin-exporter")

API = "/api/advanced-monitoring"
PLUGIN = API + "/plugins/{plugin_id}"
TOKEN_NAME = "ingest-token"  # the identity of the ingest token
READS = web.AppKey("reads", ReadGuard)


@web.middleware
async def reads_authenticated(request: web.Request, handler: Any) -> web.StreamResponse:
    """Every read of the API passes the read guard first (writes check the ingest token)."""
    if request.method in ("GET", "HEAD") and request.path.startswith(API + "/"):
        state = request.app[State.KEY]
        refused = request.app[READS].refused(request, state.clock())
        if refused is not None:
            if refused.status == 401:
                state.metrics.auth_failures.labels("api").inc()
            return refused
    response: web.StreamResponse = await handler(request)
    return response


async def metrics(request: web.Request) -> web.Response:
    """Plugin series from the per-plugin cache, then the exporter's own series."""
    state = request.app[State.KEY]
    started = time.perf_counter()
    series = state.series
    live = len(series.state) - len(series.hidden)
    state.metrics.plugins.labels("live").set(live)
    state.metrics.plugins.labels("evicted").set(len(series.hidden))
    body = series.exposition() + generate_latest(state.metrics.registry)
    state.metrics.scrape_duration.set(time.perf_counter() - started)  # seen by the next scrape
    return web.Response(body=body, headers={"Content-Type": CONTENT_TYPE_LATEST})


async def healthy(request: web.Request) -> web.Response:
    return web.Response(text="ok\n")


async def maintain(state: State) -> None:
    """Evict plugins silent past the TTL, prune the store, refresh the stored-records gauge."""
    now = state.clock()
    for plugin in list(state.series.state):
        last = state.series.last_report(plugin)
        if last is not None and now - last > state.config.ttl:
            state.series.hide(plugin)
    await state.store.prune(now - state.config.retention, state.config.caps)
    for kind, n in (await state.store.counts()).items():
        state.metrics.stored.labels(kind).set(n)


async def _lifecycle(app: web.Application) -> AsyncIterator[None]:
    state = app[State.KEY]
    for plugin, values in (await state.store.series()).items():
        if plugin in state.config.plugins:
            state.series.load(plugin, values)

    async def loop() -> None:
        while True:
            try:
                await maintain(state)
            except WriterClosed:
                return  # shutting down
            except Exception as exc:  # a full disk, say: ingest reports it; try again later
                log.error("maintenance failed", extra={"kv": {"err": repr(exc)}})
            await asyncio.sleep(state.config.maintenance_interval)

    task = asyncio.create_task(loop())
    async with running(state.pusher):
        yield
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task


def create_app(
    config: PluginExporterConfig, *, clock: Callable[[], float], store: PluginStore
) -> web.Application:
    app = web.Application(
        client_max_size=config.limits.max_body_bytes,
        middlewares=[reads_authenticated, query.bad_queries],
        handler_args=RAW_BODIES,
    )
    self_metrics = SelfMetrics()
    pusher = (
        Pusher(config.push_url, config.push_token, config.region, self_metrics.pushes)
        if config.push_url
        else None
    )
    app[State.KEY] = State(config, clock, store, self_metrics, pusher=pusher)
    credentials = Credentials.of(config.token, list(config.named), shared_name=TOKEN_NAME)
    app[READS] = ReadGuard(credentials, config.open_reads)
    app[stream.HUB] = app[State.KEY].hub
    kinds = "{kind:metrics|logs|events|snapshots}"
    app.router.add_post(f"{PLUGIN}/{{kind:metrics|logs|events|snapshots|batch}}", ingest.ingest)
    app.router.add_get(f"{PLUGIN}/snapshots/compare", query.compare)
    app.router.add_get(f"{PLUGIN}/summary", query.summary)
    app.router.add_get(f"{PLUGIN}/{kinds}", query.listing)
    app.router.add_get(f"{API}/status", query.status)
    app.router.add_get(f"{API}/plugins", query.plugins)
    app.router.add_get(f"{API}/analytics/trends", query.trends)
    app.router.add_get(f"{API}/analytics/performance", query.performance)
    app.router.add_get(f"{API}/stream", stream.stream)
    app.router.add_get("/metrics", metrics)
    app.router.add_get("/-/healthy", healthy)
    app.cleanup_ctx.append(_lifecycle)
    return app
