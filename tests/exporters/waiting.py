"""Waiting on conditions with deadlines (never bare sleeps), and PromQL queries, for async tests."""

from __future__ import annotations

import asyncio
import time
import urllib.parse
from typing import Any

from local_stack import servers


def query(url: str, expr: str) -> list[dict[str, Any]]:
    data = servers.get_json(f"{url}/api/v1/query?query={urllib.parse.quote(expr)}")
    result: list[dict[str, Any]] = data["data"]["result"]
    return result


async def until(what: str, check: Any, limit: float = 60, poll: float = 0.2) -> Any:
    """The first truthy result of ``check()`` (run in a thread: it may block on HTTP)."""
    deadline = time.monotonic() + limit
    while True:
        result = await asyncio.to_thread(check)
        if result:
            return result
        assert time.monotonic() < deadline, f"{what} not seen within {limit}s"
        await asyncio.sleep(poll)
