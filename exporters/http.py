"""HTTP pieces the exporters share: JSON errors naming the field, bearer-token checks."""

from __future__ import annotations

import hmac
from typing import Any

from aiohttp import web
from pydantic import ValidationError


def error(status: int, reason: str, field: str | None = None, **extra: Any) -> web.Response:
    body: dict[str, Any] = {"error": reason}
    if field is not None:
        body["field"] = field
    body.update(extra)
    return web.json_response(body, status=status)


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
