"""`promtool check metrics` on an exposition text, from async tests."""

from __future__ import annotations

import asyncio
import subprocess

from aiohttp import web
from aiohttp.test_utils import TestClient

Client = TestClient[web.Request, web.Application]


async def check_metrics(promtool: str, text: str) -> None:
    result = await asyncio.to_thread(
        subprocess.run,
        [promtool, "check", "metrics"],
        input=text,
        text=True,
        capture_output=True,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
