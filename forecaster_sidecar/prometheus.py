"""Reading history from Prometheus's HTTP API into a (series x time) matrix.

``query_range`` reads a range in ``PIECES`` stretches or more, at most ``MAX_POINTS`` points per
series a request (Prometheus refuses more than 11,000) and ``POINTS_PER_REQUEST`` in all (sized
by a first ``count()`` of the series), parsing each while Prometheus works on the next; it
merges the stretches by label set, and places each sample on the regular grid
``start + i * step``; missing points are NaN.

Decoding is the cost (1k series x 2k points is 46 MB of JSON): a matrix answer is read without
building Python objects per point. The points of every series become one CSV text that numpy's
C reader (``loadtxt``) reads at once (exactly, unlike pandas' fast parser, which loses the last
bit of one number in three of 14 or more digits; a fraction of ``json``'s time); only
the small ``metric`` objects go through ``json``. Anything unexpected in the answer falls back to
``json.loads``. The answer is asked for uncompressed: the sidecar runs next to Prometheus, where
gzip costs Prometheus 3 s of CPU for 46 MB and saves nothing (bench/sidecar_speed.py).
"""

from __future__ import annotations

import asyncio
import io
import json
import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import aiohttp
import numpy as np

from forecaster_sidecar.models import Array

MAX_POINTS = 10_000
PIECES = 4  # a range is read in at least this many stretches, one parsed while the next comes
# points in one answer at most, whatever the series count: 2M points are about 45 MB of JSON and
# their parse. Without it a stretch of 100k series would be one answer of gigabytes.
POINTS_PER_REQUEST = 2_000_000


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


async def _fetch(
    session: aiohttp.ClientSession, url: str, params: dict[str, str]
) -> tuple[int, bytes]:
    try:
        async with session.get(url, params=params, headers=_IDENTITY) as resp:
            return resp.status, await resp.read()
    except TimeoutError:
        raise QueryError("timeout", f"no answer from {url}") from None
    except aiohttp.ClientError as exc:
        raise QueryError("unreachable", f"{url}: {exc}") from None


_IDENTITY = {"Accept-Encoding": "identity"}


def _decoded(url: str, status: int, data: Any) -> Any:
    if not isinstance(data, dict):
        raise QueryError("http", f"{url} answered {status} with no JSON object")
    if status == 400 or data.get("errorType") == "bad_data":
        raise QueryError("bad_query", str(data.get("error", "bad query")))
    if status != 200 or data.get("status") != "success":
        raise QueryError("http", f"{url} answered {status}: {data.get('error', '')}")
    return data["data"]


async def _get(session: aiohttp.ClientSession, url: str, params: dict[str, str]) -> Any:
    status, body = await _fetch(session, url, params)
    try:
        data = await asyncio.to_thread(json.loads, body)
    except ValueError:
        raise QueryError("http", f"{url} answered {status} with no JSON") from None
    return _decoded(url, status, data)


Series = list[tuple[dict[str, str], Array, Array]]  # (labels, timestamps, values)
_MATRIX = b'{"status":"success","data":{"resultType":"matrix","result":['
_METRIC, _VALUES = b'{"metric":', b',"values":['


def fast_matrix(body: bytes) -> Series | None:
    """The series of a successful matrix answer, or None when the bytes are not laid out as
    Prometheus writes them (the caller then decodes them with ``json``).

    Every series' points become lines ``timestamp,value`` of one text that numpy's C reader
    reads in one call (exact for Prometheus' float text, NaN and +/-Inf included).
    """
    if not body.startswith(_MATRIX):
        return None
    metrics: list[Any] = []
    counts: list[int] = []
    segments: list[bytes] = []
    pos = len(_MATRIX)
    while (m := body.find(_METRIC, pos)) >= 0:
        v = body.find(_VALUES, m)
        following = body.find(_METRIC, m + 1)
        if v < 0 or (0 <= following < v):
            return None  # a series without values (native histograms): not this reader's
        try:
            metrics.append(json.loads(body[m + len(_METRIC) : v]))
        except ValueError:
            return None
        first = v + len(_VALUES)
        if body[first : first + 1] == b"]":
            counts.append(0)
            pos = first + 1
            continue
        end = body.find(b"]]", first)
        if end < 0:
            return None
        segment = body[first : end + 1]  # [t,"v"],[t,"v"]
        counts.append(segment.count(b"],[") + 1)
        segments.append(segment)
        pos = end + 2
    if not all(isinstance(metric, dict) for metric in metrics):
        return None
    table = np.empty((0, 2))
    if segments:
        text = b"\n".join(segments).replace(b"],[", b"\n").translate(None, b'[]"')
        try:
            # numpy's C reader: exact (pandas' fast float parser may miss the last bit of a
            # number of 14 or more digits, 0.30000000000000004; its exact one takes twice as
            # long as this)
            table = np.loadtxt(io.BytesIO(text), delimiter=",", dtype=np.float64, ndmin=2)
        except ValueError:  # not numbers, not two columns
            return None
    if table.shape != (sum(counts), 2):
        return None
    out: Series = []
    offset = 0
    for metric, count in zip(metrics, counts, strict=True):
        rows = table[offset : offset + count]
        out.append((metric, rows[:, 0], rows[:, 1]))
        offset += count
    return out


def _parse(url: str, params: dict[str, str], status: int, body: bytes) -> Series:
    if status == 200:
        fast = fast_matrix(body)
        if fast is not None:
            return fast
    try:
        data = _decoded(url, status, json.loads(body))
    except ValueError:
        raise QueryError("http", f"{url} answered {status} with no JSON") from None
    if data.get("resultType") != "matrix":
        raise QueryError("bad_query", f"{params['query']!r} is not a range of series")
    series: Series = []
    for item in data["result"]:
        points = item.get("values", [])
        stamps = np.fromiter((p[0] for p in points), float, len(points))
        values = np.array([p[1] for p in points], dtype=float)
        series.append((item["metric"], stamps, values))
    return series


async def check(session: aiohttp.ClientSession, base: str, expr: str) -> None:
    """Raise QueryError("bad_query") when Prometheus refuses the expression."""
    await _get(session, f"{base}/api/v1/query", {"query": expr})


def _key(metric: dict[str, str]) -> tuple[tuple[str, str], ...]:
    return tuple(sorted((k, v) for k, v in metric.items() if k != "__name__"))


async def query_range(
    session: aiohttp.ClientSession,
    base: str,
    expr: str,
    start: float,
    end: float,
    step: float,
    *,
    keep: Callable[[dict[str, str]], bool] | None = None,
) -> Matrix:
    """The range as ``PIECES`` consecutive stretches (more when one would pass ``MAX_POINTS``
    points a series or ``POINTS_PER_REQUEST`` in all, for the series count at ``end``), each
    read while the one before is parsed: Prometheus evaluates and encodes the next on its core
    while this process decodes on the other (bench/sidecar_speed.py). ``keep``: only the series
    it accepts are kept, stretch by stretch (a shard holds only its own rows), so a shard's
    memory is its own rows plus one answer."""
    n = math.floor((end - start) / step) + 1
    rows: dict[tuple[tuple[str, str], ...], Array] = {}
    series = await series_count(session, base, expr, end)
    per = MAX_POINTS if not series else max(1, min(MAX_POINTS, POINTS_PER_REQUEST // series))
    pieces = max(math.ceil(n / per), min(PIECES, n))
    size = math.ceil(n / pieces)
    url = f"{base}/api/v1/query_range"

    def params(first: int) -> dict[str, str]:
        last = min(n, first + size) - 1
        return {
            "query": expr,
            "start": repr(start + first * step),
            "end": repr(start + last * step),
            "step": repr(step),
        }

    parsing: asyncio.Task[Series] | None = None
    try:
        for first in range(0, n, size):
            asked = params(first)
            status, body = await _fetch(session, url, asked)
            if status != 200:  # an error's answer is small: say what it is at once
                _parse(url, asked, status, body)
            if parsing is not None:
                _place(rows, await parsing, start, step, n, keep)
            parsing = asyncio.create_task(asyncio.to_thread(_parse, url, asked, status, body))
        if parsing is not None:
            _place(rows, await parsing, start, step, n, keep)
    finally:
        if parsing is not None and not parsing.done():
            parsing.cancel()  # a later stretch failed: this one's result is not wanted
    labels = [dict(k) for k in rows]
    matrix = np.array(list(rows.values())) if rows else np.zeros((0, n))
    return Matrix(labels, start, step, matrix)


async def series_count(
    session: aiohttp.ClientSession, base: str, expr: str, at: float
) -> int | None:
    """How many series ``expr`` has at ``at``: one instant ``count()``, a single number back.
    None when it cannot be told (the read then goes on with stretches of ``MAX_POINTS``; its
    own requests say what is wrong). Series that ended before ``at`` are not counted: an
    estimate, good for sizing."""
    params = {"query": f"count(({expr}))", "time": repr(at)}
    try:
        data = await _get(session, f"{base}/api/v1/query", params)
        result = data["result"]
        return int(float(result[0]["value"][1])) if result else 0
    except (QueryError, KeyError, IndexError, TypeError, ValueError):
        return None


def _place(
    rows: dict[tuple[tuple[str, str], ...], Array],
    found: Series,
    start: float,
    step: float,
    n: int,
    keep: Callable[[dict[str, str]], bool] | None = None,
) -> None:
    """Each series' samples on the regular grid of its row (made on first sight, NaN-filled),
    those ``keep`` accepts."""
    for metric, stamps, values in found:
        key = _key(metric)
        row = rows.get(key)
        if row is None:
            if keep is not None and not keep(dict(key)):
                continue
            row = rows[key] = np.full(n, np.nan)
        if not len(stamps):
            continue
        idx = np.rint((stamps - start) / step).astype(int)
        ok = (idx >= 0) & (idx < n)
        row[idx[ok]] = values[ok]
