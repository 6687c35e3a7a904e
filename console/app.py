"""The console's aiohttp app: the page, and the JSON it reads, fetched from the spec's backends.

GET  /                                           the page (static/index.html, app.js, app.css)
GET  /api/config                                 regions, services, plugins, forecasts (spec)
GET  /api/incidents[?filters], /api/incidents/{id}, /api/actions      the webhook's API
POST /api/incidents/{id}/{acknowledge|unacknowledge|resolve|annotate}  with the caller's
POST /api/actions/{id}/{approve|reject}                                credential
GET  /api/regions/{region}/plugins[/{plugin}/{logs|events|snapshots|metrics|summary}]
GET  /api/regions/{region}/stream                WebSocket: the plugin exporter's live stream
GET  /api/regions/{region}/charts/plugins/{plugin}?hours=H     series from the region's Prometheus
GET  /api/capacity                               forecasts and time to exhaustion per target
GET  /-/healthy

Only these paths reach a backend (no open proxy). Writes go to the webhook with the caller's
Authorization header; the webhook decides. Every answer carries a strict Content-Security-Policy:
the page builds its DOM from text nodes, never from HTML in data.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import contextlib
import math
from collections.abc import AsyncIterator, Awaitable, Callable, MutableMapping
from importlib import resources
from typing import Any

import aiohttp
from aiohttp import web

from console.config import ConsoleConfig, RegionBackends
from console.queries import CAPACITY_QUERIES, capacity_rows, chart_step, plugin_charts, points
from console.upstream import Upstream, UpstreamError
from globalmon.http import RAW_BODIES, error, read_body
from globalmon.spec.types import is_id

Clock = Callable[[], float]
CONFIG: web.AppKey[ConsoleConfig] = web.AppKey("config", ConsoleConfig)
UPSTREAM: web.AppKey[Upstream] = web.AppKey("upstream", Upstream)
CLOCK: web.AppKey[Clock] = web.AppKey("clock")
STATIC = {
    "index.html": "text/html",
    "app.js": "text/javascript",
    "app.css": "text/css",
}
PLUGIN_PATH = "/api/advanced-monitoring"
STREAM_BEARER = "globalmon.bearer."
MAX_HOURS = 24 * 30
CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'"
)


def _auth(request: web.Request) -> dict[str, str]:
    given = request.headers.get("Authorization")
    return {"Authorization": given} if given else {}


def _region(request: web.Request) -> tuple[str, RegionBackends]:
    config = request.app[CONFIG]
    region = request.match_info["region"]
    if region not in config.regions:
        raise web.HTTPNotFound(
            text='{"error": "no such region in the spec", "field": "region"}',
            content_type="application/json",
        )
    return region, config.regions[region]


def _plugin_exporter(request: web.Request) -> str:
    _, backends = _region(request)
    if backends.plugin_exporter is None:
        raise web.HTTPNotFound(
            text='{"error": "the region has no plugin exporter in the spec", "field": "region"}',
            content_type="application/json",
        )
    return backends.plugin_exporter


async def page(request: web.Request) -> web.Response:
    name = request.match_info.get("name", "index.html")
    if name not in STATIC:
        return error(404, "no such file", "path")
    body = resources.files("console").joinpath("static", name).read_bytes()
    return web.Response(body=body, content_type=STATIC[name], headers={"Cache-Control": "no-cache"})


async def config_view(request: web.Request) -> web.Response:
    return web.json_response(request.app[CONFIG].overview)


async def webhook_read(request: web.Request) -> web.Response:
    config = request.app[CONFIG]
    path = request.path.removeprefix("/api/")
    return await request.app[UPSTREAM].relay(
        "webhook",
        "GET",
        f"{config.webhook}/api/v1/{path}",
        params=request.query,
        headers=_auth(request),
    )


async def webhook_write(request: web.Request) -> web.Response:
    config = request.app[CONFIG]
    path = request.path.removeprefix("/api/")
    body = await read_body(request)
    return await request.app[UPSTREAM].relay(
        "webhook",
        "POST",
        f"{config.webhook}/api/v1/{path}",
        headers={**_auth(request), "Content-Type": "application/json"},
        body=body,
    )


async def plugins_read(request: web.Request) -> web.Response:
    base = _plugin_exporter(request)
    rest = request.match_info.get("rest", "")
    return await request.app[UPSTREAM].relay(
        "plugin_exporter",
        "GET",
        f"{base}{PLUGIN_PATH}/plugins{rest}",
        params=request.query,
        headers=_auth(request),
    )


def _stream_auth(request: web.Request) -> tuple[dict[str, str], tuple[str, ...]]:
    """The caller's credential for the exporter's stream, and the subprotocol to answer with. A
    browser's WebSocket cannot set Authorization, so the page offers its token as the
    subprotocol ``globalmon.bearer.<base64url of the token>`` (as Kubernetes does); other
    clients may send the header."""
    offered = request.headers.get("Sec-WebSocket-Protocol", "")
    for proto in (p.strip() for p in offered.split(",")):
        if proto.startswith(STREAM_BEARER):
            encoded = proto.removeprefix(STREAM_BEARER)
            try:
                token = base64.urlsafe_b64decode(encoded + "=" * (-len(encoded) % 4)).decode()
            except (binascii.Error, UnicodeDecodeError):
                break
            if not token.isprintable():  # no line breaks smuggled into the upstream's headers
                break
            return {"Authorization": f"Bearer {token}"}, (proto,)
    return _auth(request), ()


def _no_stream() -> web.HTTPException:
    return web.HTTPBadGateway(
        text='{"error": "the plugin exporter\'s stream did not answer", '
        '"field": "plugin_exporter"}',
        content_type="application/json",
    )


async def stream(request: web.Request) -> web.StreamResponse:
    """The exporter's live stream, message for message; either side closing closes both."""
    base = _plugin_exporter(request)
    headers, protocols = _stream_auth(request)
    client = web.WebSocketResponse(heartbeat=30, protocols=protocols)
    session = request.app[UPSTREAM].session
    url = f"{base.replace('http://', 'ws://', 1)}{PLUGIN_PATH}/stream"
    try:
        upstream = await session.ws_connect(
            url, params=request.query, heartbeat=30, headers=headers
        )
    except aiohttp.WSServerHandshakeError as exc:
        if exc.status not in (401, 403):
            raise _no_stream() from None
        # the caller's credential, not the exporter, is at fault: say so, with its status
        return error(exc.status, "the plugin exporter refused the credential", "Authorization")
    except (TimeoutError, aiohttp.ClientError):
        raise _no_stream() from None
    await client.prepare(request)

    async def down() -> None:
        async for msg in upstream:
            if msg.type == aiohttp.WSMsgType.TEXT:
                await client.send_str(msg.data)
        await client.close(code=upstream.close_code or aiohttp.WSCloseCode.GOING_AWAY)

    relay = asyncio.create_task(down())
    try:
        async for _ in client:  # the page sends nothing; this ends when it goes away
            pass
    finally:
        relay.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await relay
        await upstream.close()
    return client


def _hours(request: web.Request) -> float:
    raw = request.query.get("hours", "1")
    try:
        hours = float(raw)
    except ValueError:
        hours = math.nan
    if not (math.isfinite(hours) and 0 < hours <= MAX_HOURS):
        raise web.HTTPBadRequest(
            text=f'{{"error": "a number of hours above 0, at most {MAX_HOURS}", "field": "hours"}}',
            content_type="application/json",
        )
    return hours


async def plugin_charts_view(request: web.Request) -> web.Response:
    config = request.app[CONFIG]
    region, backends = _region(request)
    plugin = request.match_info["plugin"]
    known = {p["id"] for p in config.overview.get("plugins", [])}
    if not is_id(plugin) or plugin not in known:
        return error(404, "no such plugin in the spec", "plugin")
    if backends.prometheus is None:
        return error(404, "the region has no Prometheus in the spec", "region")
    end = request.app[CLOCK]()
    seconds = _hours(request) * 3600
    step = chart_step(seconds, config.scrape_interval_seconds)
    charts = plugin_charts(plugin, step, config.scrape_interval_seconds)
    params = {"start": f"{end - seconds:.3f}", "end": f"{end:.3f}", "step": f"{step:g}"}
    upstream = request.app[UPSTREAM]
    answers = await asyncio.gather(
        *(
            upstream.prometheus(backends.prometheus, "query_range", {**params, "query": ch.expr})
            for ch in charts
        ),
        return_exceptions=True,
    )
    out: list[dict[str, Any]] = []
    errors: list[str] = []
    for chart, answer in zip(charts, answers, strict=True):
        series: list[dict[str, Any]] = []
        if isinstance(answer, UpstreamError):
            errors.append(f"{chart.title}: {answer.reason}")
        elif isinstance(answer, BaseException):
            raise answer
        else:
            series = [
                {
                    "name": s["metric"].get(chart.legend, region),
                    "points": points(s["values"]),
                }
                for s in answer
            ]
        out.append({"title": chart.title, "unit": chart.unit, "expr": chart.expr, "series": series})
    return web.json_response({"charts": out, "errors": errors, "start": end - seconds, "end": end})


async def capacity(request: web.Request) -> web.Response:
    config = request.app[CONFIG]
    upstream = request.app[UPSTREAM]
    limits = {f["name"]: f["limit"] for f in config.overview.get("forecasts", [])}
    rows: list[dict[str, Any]] = []
    errors: list[str] = []
    for region, backends in config.regions.items():
        if backends.prometheus is None:
            continue
        try:
            results = await asyncio.gather(
                *(
                    upstream.prometheus(backends.prometheus, "query", {"query": q})
                    for q in CAPACITY_QUERIES.values()
                )
            )
        except UpstreamError as exc:
            errors.append(f"{region}: {exc.reason}")
            continue
        answers = dict(zip(CAPACITY_QUERIES, results, strict=True))
        for r in capacity_rows(answers, limits):
            r["labels"].setdefault("region", region)
            rows.append(r)
    rows.sort(key=lambda r: (r["exhaustion_seconds"] is None, r["exhaustion_seconds"] or 0))
    return web.json_response({"rows": rows, "errors": errors})


async def healthy(request: web.Request) -> web.Response:
    return web.Response(text="ok\n")


@web.middleware
async def headers(
    request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
) -> web.StreamResponse:
    try:
        response = await handler(request)
    except UpstreamError as exc:
        response = exc.response()
    except web.HTTPException as exc:  # 404s of the router and ours: the same headers
        _secure(exc.headers)
        raise
    if not response.prepared:
        _secure(response.headers)
    return response


def _secure(headers: MutableMapping[str, str]) -> None:
    headers.setdefault("Content-Security-Policy", CSP)
    headers.setdefault("X-Content-Type-Options", "nosniff")
    headers.setdefault("Referrer-Policy", "no-referrer")


def create_app(
    config: ConsoleConfig,
    *,
    clock: Clock,
    session: aiohttp.ClientSession | None = None,
) -> web.Application:
    """The app; ``session`` for tests that bring their own client session (closed by them)."""
    app = web.Application(
        client_max_size=config.max_body_bytes, handler_args=RAW_BODIES, middlewares=[headers]
    )
    app[CONFIG] = config
    app[CLOCK] = clock

    async def lifecycle(app: web.Application) -> AsyncIterator[None]:
        own = session is None
        s = session or aiohttp.ClientSession(
            timeout=aiohttp.ClientTimeout(total=config.timeout_seconds)
        )
        app[UPSTREAM] = Upstream(s)
        yield
        if own:
            await s.close()

    app.cleanup_ctx.append(lifecycle)
    app.router.add_get("/", page)
    app.router.add_get("/static/{name}", page)
    app.router.add_get("/api/config", config_view)
    app.router.add_get("/api/incidents", webhook_read)
    app.router.add_get(r"/api/incidents/{id:\d{1,19}}", webhook_read)
    app.router.add_get("/api/actions", webhook_read)
    app.router.add_post(
        r"/api/incidents/{id:\d{1,19}}/{verb:acknowledge|unacknowledge|resolve|annotate}",
        webhook_write,
    )
    app.router.add_post(r"/api/actions/{id:\d{1,19}}/{verb:approve|reject}", webhook_write)
    app.router.add_get("/api/regions/{region}/plugins", plugins_read)
    app.router.add_get(
        r"/api/regions/{region}/plugins{rest:/[A-Za-z0-9][A-Za-z0-9_-]{0,63}/"
        r"(?:logs|events|snapshots|metrics|summary)}",
        plugins_read,
    )
    app.router.add_get("/api/regions/{region}/stream", stream)
    app.router.add_get(r"/api/regions/{region}/charts/plugins/{plugin}", plugin_charts_view)
    app.router.add_get("/api/capacity", capacity)
    app.router.add_get("/-/healthy", healthy)
    return app
