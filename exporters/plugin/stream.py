"""Live logs and events over a WebSocket, filtered per subscriber.

    GET /api/advanced-monitoring/stream?plugin=a,b&kind=logs,events&level=error,critical
        &severity=critical&type=deploy

Each committed log or event matching the filters arrives as one JSON message
``{"kind": "logs", "item": {...}}`` (the same item the query API returns). A subscriber that
falls more than ``QUEUE`` messages behind is closed with code 1013 (try again later) rather than
slowing ingest or growing memory without bound.
"""

from __future__ import annotations

import asyncio
import contextlib
from dataclasses import dataclass, field
from typing import Any

from aiohttp import WSCloseCode, web

QUEUE = 1000


@dataclass(eq=False)
class Subscriber:
    plugins: frozenset[str]
    kinds: frozenset[str]
    levels: frozenset[str]
    severities: frozenset[str]
    types: frozenset[str]
    queue: asyncio.Queue[dict[str, Any]] = field(default_factory=lambda: asyncio.Queue(QUEUE))
    lagged: bool = False

    def wants(self, kind: str, item: dict[str, Any]) -> bool:
        return (
            (not self.kinds or kind in self.kinds)
            and (not self.plugins or item["plugin"] in self.plugins)
            and (not self.levels or kind != "logs" or item["level"] in self.levels)
            and (not self.severities or kind != "events" or item["severity"] in self.severities)
            and (not self.types or kind != "events" or item["type"] in self.types)
        )


class Hub:
    def __init__(self) -> None:
        self.subscribers: set[Subscriber] = set()

    def publish(self, kind: str, items: list[dict[str, Any]]) -> None:
        for sub in self.subscribers:
            for item in items:
                if sub.lagged or not sub.wants(kind, item):
                    continue
                try:
                    sub.queue.put_nowait({"kind": kind, "item": item})
                except asyncio.QueueFull:
                    # Nothing more is queued for it: a marker takes the last place (the oldest
                    # message makes room) and the handler closes the socket when it gets there.
                    sub.lagged = True
                    sub.queue.get_nowait()
                    sub.queue.put_nowait({"kind": "lagged", "item": {}})


def _set(request: web.Request, name: str) -> frozenset[str]:
    return frozenset(v for raw in request.query.getall(name, []) for v in raw.split(",") if v)


HUB = web.AppKey("hub", Hub)


async def stream(request: web.Request) -> web.StreamResponse:
    kinds = _set(request, "kind")
    if not kinds <= {"logs", "events"}:
        return web.json_response(
            {"error": "kind must be logs and/or events", "field": "kind"}, status=400
        )
    sub = Subscriber(
        _set(request, "plugin"),
        kinds,
        _set(request, "level"),
        _set(request, "severity"),
        _set(request, "type"),
    )
    ws = web.WebSocketResponse(heartbeat=30)
    await ws.prepare(request)
    hub = request.app[HUB]
    hub.subscribers.add(sub)

    async def drain_incoming() -> None:
        async for _ in ws:  # clients send nothing; this notices when they close
            pass

    reader = asyncio.create_task(drain_incoming())
    try:
        await ws.send_json({"kind": "subscribed", "item": {}})
        while not ws.closed:
            getter = asyncio.create_task(sub.queue.get())
            done, _ = await asyncio.wait({getter, reader}, return_when=asyncio.FIRST_COMPLETED)
            if getter not in done:
                getter.cancel()
                break
            message = getter.result()
            if message["kind"] == "lagged":
                await ws.close(code=WSCloseCode.TRY_AGAIN_LATER, message=b"subscriber lagged")
                break
            try:
                await ws.send_json(message)
            except ConnectionResetError:  # the client went away between two messages
                break
    finally:
        hub.subscribers.discard(sub)
        reader.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await reader
    return ws
