"""Calls from the console to the backends the spec names. The console holds no credential of its
own: a caller's Authorization header is passed to the webhook (whose API checks it) and to
nothing else."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

import aiohttp
from aiohttp import web

from globalmon.http import error

MAX_ANSWER_BYTES = 16 * 1024 * 1024


class UpstreamError(Exception):
    """A backend that did not answer, or answered something that is not its API's JSON."""

    def __init__(self, backend: str, reason: str) -> None:
        super().__init__(f"{backend}: {reason}")
        self.backend, self.reason = backend, reason

    def response(self) -> web.Response:
        return error(502, f"{self.backend} {self.reason}", self.backend)


class Upstream:
    def __init__(self, session: aiohttp.ClientSession) -> None:
        self.session = session

    async def call(
        self,
        backend: str,
        method: str,
        url: str,
        *,
        params: Mapping[str, str] | None = None,
        headers: Mapping[str, str] | None = None,
        body: bytes | None = None,
    ) -> tuple[int, Any]:
        """(status, decoded JSON) of one call; UpstreamError when there is no JSON answer."""
        try:
            async with self.session.request(
                method, url, params=params, headers=headers, data=body
            ) as r:
                raw = await r.content.read(MAX_ANSWER_BYTES + 1)
                status, kind = r.status, r.content_type
        except (TimeoutError, aiohttp.ClientError) as exc:
            why = type(exc).__name__
            raise UpstreamError(backend, f"at {url} did not answer ({why})") from None
        if len(raw) > MAX_ANSWER_BYTES:
            raise UpstreamError(backend, f"answered more than {MAX_ANSWER_BYTES} bytes")
        try:
            # NaN and Infinity are not JSON (Python writes them anyway): null on the way out
            return status, json.loads(raw, parse_constant=lambda _: None)
        except ValueError:
            raise UpstreamError(backend, f"answered {status} {kind}, not JSON") from None

    async def relay(self, backend: str, method: str, url: str, **kw: Any) -> web.Response:
        """The backend's answer as the console's: same status, same JSON."""
        try:
            status, data = await self.call(backend, method, url, **kw)
        except UpstreamError as exc:
            return exc.response()
        return web.json_response(data, status=status)

    async def prometheus(
        self, url: str, path: str, params: Mapping[str, str]
    ) -> list[dict[str, Any]]:
        """The ``result`` of a Prometheus query API call."""
        status, data = await self.call("prometheus", "GET", f"{url}/api/v1/{path}", params=params)
        if status != 200 or not isinstance(data, dict) or data.get("status") != "success":
            reason = data.get("error", status) if isinstance(data, dict) else status
            raise UpstreamError("prometheus", f"at {url} refused the query: {reason}")
        result: list[dict[str, Any]] = data["data"]["result"]
        return result
