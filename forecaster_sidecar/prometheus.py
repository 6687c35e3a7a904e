"""Reading history from Prometheus's HTTP API into a (series x time) matrix.

``query_range`` asks for at most ``MAX_POINTS`` points per request (Prometheus refuses more than
11,000 per series), merges the chunks by label set, and places each sample on the regular grid
``start + i * step``; missing points are NaN. JSON decoding runs in a worker thread and the
values are converted by numpy in one call per series.
"""

from __future__ import annotations

import asyncio
import json
import math
from dataclasses import dataclass
from typing import Any

import aiohttp
import numpy as np

from forecaster_sidecar.models import Array

MAX_POINTS = 10_000


class QueryError(Exception):
    """A query that failed; ``reason`` is a bounded label value for the failures counter."""

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason


@dataclass(frozen=True)
class Matrix:
    labels: list[dict[str, str]]
    start: float
    step: float
    values: Array  # (series, time), NaN where Prometheus had no sample

    @property
    def end(self) -> float:
        return float(self.start + (self.values.shape[1] - 1) * self.step)


async def _get(session: aiohttp.ClientSession, url: str, params: dict[str, str]) -> Any:
    try:
        async with session.get(url, params=params) as resp:
            body = await resp.read()
            status = resp.status
    except TimeoutError:
        raise QueryError("timeout", f"no answer from {url}") from None
    except aiohttp.ClientError as exc:
        raise QueryError("unreachable", f"{url}: {exc}") from None
    try:
        data = await asyncio.to_thread(json.loads, body)
    except ValueError:
        raise QueryError("http", f"{url} answered {status} with no JSON") from None
    if status == 400 or data.get("errorType") == "bad_data":
        raise QueryError("bad_query", str(data.get("error", "bad query")))
    if status != 200 or data.get("status") != "success":
        raise QueryError("http", f"{url} answered {status}: {data.get('error', '')}")
    return data["data"]


async def check(session: aiohttp.ClientSession, base: str, expr: str) -> None:
    """Raise QueryError("bad_query") when Prometheus refuses the expression."""
    await _get(session, f"{base}/api/v1/query", {"query": expr})


def _key(metric: dict[str, str]) -> tuple[tuple[str, str], ...]:
    return tuple(sorted((k, v) for k, v in metric.items() if k != "__name__"))


async def query_range(
    session: aiohttp.ClientSession, base: str, expr: str, start: float, end: float, step: float
) -> Matrix:
    n = math.floor((end - start) / step) + 1
    rows: dict[tuple[tuple[str, str], ...], Array] = {}
    for first in range(0, n, MAX_POINTS):
        last = min(n, first + MAX_POINTS) - 1
        data = await _get(
            session,
            f"{base}/api/v1/query_range",
            {
                "query": expr,
                "start": repr(start + first * step),
                "end": repr(start + last * step),
                "step": repr(step),
            },
        )
        if data.get("resultType") != "matrix":
            raise QueryError("bad_query", f"{expr!r} is not a range of series")
        for series in data["result"]:
            key = _key(series["metric"])
            row = rows.get(key)
            if row is None:
                row = rows[key] = np.full(n, np.nan)
            points = series["values"]
            if not points:
                continue
            stamps = np.fromiter((p[0] for p in points), float, len(points))
            values = np.array([p[1] for p in points], dtype=float)
            idx = np.rint((stamps - start) / step).astype(int)
            ok = (idx >= 0) & (idx < n)
            row[idx[ok]] = values[ok]
    labels = [dict(k) for k in rows]
    matrix = np.array(list(rows.values())) if rows else np.zeros((0, n))
    return Matrix(labels, start, step, matrix)
