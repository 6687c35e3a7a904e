"""HTTP pieces every part shares: JSON errors naming the field, bearer-token checks, bodies read
as their Content-Encoding says."""

from __future__ import annotations

import hmac
import json
import zlib
from typing import Any

from aiohttp import web
from pydantic import ValidationError


def error(status: int, reason: str, field: str | None = None, **extra: Any) -> web.Response:
    body: dict[str, Any] = {"error": reason}
    if field is not None:
        body["field"] = field
    body.update(extra)
    return web.json_response(body, status=status)


# Apps built with these handler arguments get request bodies as sent; ``read_body`` decodes
# them, so that an encoding aiohttp would refuse before any handler runs (br without Brotli,
# a made-up one) is answered like any other bad input, and a zip bomb stops at the body limit.
RAW_BODIES = {"auto_decompress": False}
_DECODERS = {"gzip": 16 + zlib.MAX_WBITS, "x-gzip": 16 + zlib.MAX_WBITS, "deflate": zlib.MAX_WBITS}


def _bad_encoding(reason: str, status: int = 400) -> web.HTTPException:
    body = json.dumps({"error": reason, "field": "Content-Encoding"})
    cls = web.HTTPUnsupportedMediaType if status == 415 else web.HTTPBadRequest
    return cls(text=body, content_type="application/json")


async def read_body(request: web.Request) -> bytes:
    """The request's body, decoded as its Content-Encoding says (identity, gzip, deflate, or a
    chain of them). An unknown encoding is a 415 and a body that does not decode a 400, both
    naming the header; a decoded body past the app's limit raises HTTPRequestEntityTooLarge."""
    try:
        body = await request.read()
    except web.RequestPayloadError:
        raise _bad_encoding("a body that can be read as its Content-Encoding says") from None
    header = request.headers.get("Content-Encoding", "")
    codings = [c.strip().lower() for c in header.split(",") if c.strip()]
    limit = request.app._client_max_size  # the app's body limit: aiohttp keeps it only here
    for coding in reversed(codings):  # the last one applied is undone first
        if coding == "identity":
            continue
        if coding not in _DECODERS:
            raise _bad_encoding(f"one of identity, gzip, deflate (not {coding!r})", 415)
        decoder = zlib.decompressobj(wbits=_DECODERS[coding])
        try:
            out = decoder.decompress(body, limit + 1)
        except zlib.error:
            raise _bad_encoding(f"a body that reads as {coding}") from None
        if len(out) > limit:
            raise web.HTTPRequestEntityTooLarge(max_size=limit, actual_size=len(out))
        if not decoder.eof:
            raise _bad_encoding(f"a complete {coding} body")
        body = out
    return body


def bearer_ok(request: web.Request, token: str | None) -> bool:
    """True when no token is configured or the request carries it (constant-time compare)."""
    if token is None:
        return True
    given = request.headers.get("Authorization", "")
    return hmac.compare_digest(given.encode(), f"Bearer {token}".encode())


def invalid(exc: ValidationError) -> web.Response:
    """A 400 (or 422 for a well-formed value out of range) naming the first bad field."""
    return error(*validation_reason(exc))


def validation_reason(exc: ValidationError) -> tuple[int, str, str]:
    """(status, reason, field) of a validation error's first bad field: 400 for JSON that does
    not parse, 422 for a well-formed value out of range."""
    first = exc.errors(include_url=False)[0]
    field = ".".join(str(p) for p in first["loc"])
    status = 400 if first["type"].startswith("json_") else 422
    return status, first["msg"], field or "body"
