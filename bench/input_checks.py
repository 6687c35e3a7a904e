"""What the checks on untrusted input cost on their hot paths, against the same path without
them, in the same run (medians; ratios are what to compare across machines).

- registry http_sd: every stored registration is checked again before it is served (one bad
  row must not make Prometheus drop the whole answer). Baseline: the same answer unchecked.
- CSV reader: `forecaster_sidecar.csvio.read` reads row by row (repeated and backward times
  skipped and named, each field bounded). Baseline: pandas.read_csv of the same file, which
  checks none of that.

    python -m bench.input_checks [--agents 10000] [--rows 200000] [--repeat 7]
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import tempfile
import time
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from unittest import mock

import numpy as np
import pandas as pd
from aiohttp.test_utils import TestClient, TestServer

from bench.spec_load import median_seconds
from exporters.registry import app as registry_app
from exporters.registry.app import TARGETS_PATH, RegistryConfig, create_app
from exporters.registry.store import Registration, RegistryStore
from forecaster_sidecar.csvio import read


async def _median(fn: Callable[[], Awaitable[object]], repeat: int) -> float:
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        await fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def _serve_all(reg: Registration) -> bool:
    return True


async def registry(agents: int, repeat: int, work: Path) -> None:
    store = RegistryStore(work / "registry.db")
    for i in range(agents):
        labels = {"rack": f"r{i % 40}", "team": "payments"}
        reg = Registration(
            f"region-{i % 20}", f"agent-{i}", "system", f"10.0.{i % 250}.1:9464", labels
        )
        await store.upsert(reg, 1e6)
    # a budget no run reaches: the bench times the checks, not the limiter
    config = RegistryConfig(token="t", stale_after=60, ttl=600, rate=1e9, burst=1e9)
    client = TestClient(TestServer(create_app(config, clock=lambda: 1e6, store=store)))
    await client.start_server()

    async def get() -> None:
        resp = await client.get(TARGETS_PATH, headers={"Authorization": "Bearer t"})
        assert len(await resp.json()) == agents

    checked_times, unchecked_times = [], []
    try:
        await get()  # warm up
        for _ in range(repeat):  # alternating, so a slow moment of the machine hits both
            checked_times.append(await _median(get, 1))
            with mock.patch.object(registry_app, "_servable", new=_serve_all):
                unchecked_times.append(await _median(get, 1))
        checked, unchecked = statistics.median(checked_times), statistics.median(unchecked_times)
    finally:
        await client.close()
        store.close()
    print(f"registry http_sd, {agents} agents: checked {checked * 1000:.1f} ms, "
          f"unchecked {unchecked * 1000:.1f} ms, ratio {checked / unchecked:.2f}")  # fmt: skip


def csv_reader(rows: int, repeat: int, work: Path) -> None:
    path = work / "series.csv"
    start = datetime(2014, 3, 1, tzinfo=UTC)
    values = np.random.default_rng(1).normal(10, 1, rows)
    lines = [
        f"{(start + timedelta(minutes=5 * i)).strftime('%Y-%m-%d %H:%M:%S')},{v!r}"
        for i, v in enumerate(values.tolist())
    ]
    path.write_text("timestamp,value\n" + "\n".join(lines) + "\n")

    ours = median_seconds(lambda: read(path), repeat)
    pandas = median_seconds(lambda: pd.read_csv(path, parse_dates=["timestamp"]), repeat)
    print(f"csv reader, {rows} rows: ours {ours:.3f} s, pandas.read_csv {pandas:.3f} s, "
          f"ratio {ours / pandas:.2f}")  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--agents", type=int, default=10_000)
    parser.add_argument("--rows", type=int, default=200_000)
    parser.add_argument("--repeat", type=int, default=7)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        asyncio.run(registry(args.agents, args.repeat, Path(tmp)))
        csv_reader(args.rows, args.repeat, Path(tmp))


if __name__ == "__main__":
    main()
