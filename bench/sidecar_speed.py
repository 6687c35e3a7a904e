"""The sidecar's run on a real Prometheus: fetch (query_range), parse, fit and forecast, score.

Seeds a Prometheus with N series x 2,016 points (7 days at 5 minutes) through ``promtool tsdb
create-blocks-from openmetrics``, then times one sidecar run of a 7-day target over all of them,
phase by phase (medians of the runs), with the sidecar's own peak resident memory (one run in a
fresh process, nothing of the baselines counted) and this process' peak. Targets: 1,000 series
in at most 2 s, 10,000 in at most 30 s and 1.5 GB.

    python -m bench.sidecar_speed [--series 1000] [--runs 3] [--shard 0/4]
    python -m bench.sidecar_speed --series 100000 --shard 0/4 --memory-only
"""

from __future__ import annotations

import argparse
import asyncio
import json
import multiprocessing
import resource
import statistics
import subprocess
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import aiohttp
import numpy as np

from bench._pandas_detector import scores as reference
from forecaster_sidecar.analyse import FLAG_HOLD_SECONDS, analyse, shard_of
from forecaster_sidecar.anomaly import scores
from forecaster_sidecar.prometheus import query_range
from globalmon.spec.forecast import Forecast
from local_stack import servers

STEP = 300
POINTS = 2016


def history(path: Path, series: int, end: int) -> None:
    rng = np.random.default_rng(0)
    t = end - STEP * np.arange(POINTS)[::-1]
    with path.open("w") as out:
        out.write("# TYPE bench_value gauge\n")
        for s in range(series):
            amp, level = rng.uniform(0, 20), rng.uniform(10, 100)
            values = level + amp * np.sin(2 * np.pi * t / 86400) + rng.normal(0, 2, POINTS)
            lab = f'bench_value{{instance="host-{s}:9100"}}'
            out.writelines(f"{lab} {v:.4f} {ts}\n" for v, ts in zip(values, t, strict=True))
        out.write("# EOF\n")


def _target() -> Forecast:
    return Forecast.model_validate(
        {"name": "bench", "expr": "bench_value", "horizons": ["1h", "6h", "24h"]}
    )


def sidecar_peak_mb(url: str, end: float, shard: tuple[int, int] = (0, 1)) -> float:
    """One sidecar run (fetch, parse, analyse) of shard ``(i, n)`` in this process; its peak
    resident memory. Run in a fresh process of its own, so nothing of the baselines' is
    counted."""
    i, n = shard

    def mine(labels: dict[str, str]) -> bool:
        return shard_of(labels, n) == i

    async def run() -> None:
        timeout = aiohttp.ClientTimeout(total=1800)
        async with aiohttp.ClientSession(timeout=timeout) as session:
            start = end - (POINTS - 1) * STEP
            matrix = await query_range(
                session, url, "bench_value", start, end, float(STEP), keep=mine if n > 1 else None
            )
        analyse(_target(), matrix)

    asyncio.run(run())
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def idle_mb() -> float:
    """The same fresh process' resident memory with everything imported and nothing done."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


async def one_run(url: str, target: Forecast, end: float) -> dict[str, float]:
    timeout = aiohttp.ClientTimeout(total=600)
    async with aiohttp.ClientSession(timeout=timeout) as session:
        started = time.perf_counter()
        matrix = await query_range(
            session, url, target.expr, end - (POINTS - 1) * STEP, end, float(STEP)
        )
        fetched = time.perf_counter()
        samples, n = analyse(target, matrix)
        done = time.perf_counter()
    assert n == matrix.values.shape[0]
    assert samples
    # the read path's baseline: the usual client (gzip asked for, as aiohttp and requests do)
    # and json.loads with a numpy conversion per series
    async with aiohttp.ClientSession(timeout=timeout) as session:
        t0 = time.perf_counter()
        params = {"query": target.expr, "start": repr(end - (POINTS - 1) * STEP),
                  "end": repr(end), "step": repr(float(STEP))}  # fmt: skip
        async with session.get(f"{url}/api/v1/query_range", params=params) as resp:
            body = await resp.read()
        for series in json.loads(body)["data"]["result"]:
            points = series["values"]
            np.fromiter((p[0] for p in points), float, len(points))
            np.array([p[1] for p in points], dtype=float)
        baseline = time.perf_counter() - t0
    # the detector alone, as the sidecar runs it (the rows its flag reads exact): ours over the
    # matrix against pandas' rolling windows per series
    last = round(FLAG_HOLD_SECONDS / STEP)
    t0 = time.perf_counter()
    ours = scores(matrix.values, float(STEP), last=last)
    t1 = time.perf_counter()
    plain = np.stack([reference(row, float(STEP), last=last) for row in matrix.values])
    t2 = time.perf_counter()
    assert np.allclose(ours, plain, atol=1e-9)
    return {
        "fetch + parse": fetched - started,
        "fetch + parse (json)": baseline,
        "analyse": done - fetched,
        "total": done - started,
        "series": float(n),
        "detector (ours)": t1 - t0,
        "detector (pandas)": t2 - t1,
    }


def _shard(text: str) -> tuple[int, int]:
    i, _, n = text.partition("/")
    if not (i.isdigit() and n.isdigit() and 0 <= int(i) < int(n)):
        raise argparse.ArgumentTypeError(f"found {text!r}; expected i/n with 0 <= i < n")
    return int(i), int(n)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--series", type=int, default=1000)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument(
        "--shard",
        type=_shard,
        default=(0, 1),
        metavar="I/N",
        help="also measure the sidecar's peak memory as this shard",
    )
    parser.add_argument(
        "--memory-only",
        action="store_true",
        help="measure only the peak memory of the --shard given (no timed runs, no baselines, "
        "no whole run): for counts where those would not fit, e.g. 100,000 series",
    )
    args = parser.parse_args()
    if args.memory_only and args.shard[1] == 1:
        parser.error("--memory-only measures a shard: give --shard i/n with n > 1")
    prom_bin = servers.find_binary(["prometheus"])
    promtool = servers.find_binary(["promtool"])
    if prom_bin is None or promtool is None:
        raise SystemExit("prometheus and promtool are missing: run `make setup`")
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        end = int(time.time()) // STEP * STEP - STEP
        history(work / "h.om", args.series, end)
        subprocess.run(
            [promtool, "tsdb", "create-blocks-from", "openmetrics", str(work / "h.om"),
             str(work / "data")],
            check=True, capture_output=True, timeout=1800,
        )  # fmt: skip
        (work / "prometheus.yml").write_text("global: {}\n")
        prom = servers.prometheus(prom_bin, work / "prometheus.yml", work).start()
        try:
            prom.wait_ready(timeout=120)
            spawn = multiprocessing.get_context("spawn")
            with ProcessPoolExecutor(max_workers=1, mp_context=spawn) as child:
                idle = child.submit(idle_mb).result()
            peak = None
            if not args.memory_only:
                with ProcessPoolExecutor(max_workers=1, mp_context=spawn) as child:
                    peak = child.submit(sidecar_peak_mb, prom.url, float(end)).result()
            shard_peak = None
            if args.shard[1] > 1:
                with ProcessPoolExecutor(max_workers=1, mp_context=spawn) as child:
                    job = child.submit(sidecar_peak_mb, prom.url, float(end), args.shard)
                    shard_peak = job.result()
            runs = 0 if args.memory_only else args.runs
            results = [asyncio.run(one_run(prom.url, _target(), end)) for _ in range(runs)]
        finally:
            prom.stop()
    if peak is None:
        assert shard_peak is not None
        i, n = args.shard
        print(f"sidecar peak memory  {shard_peak:8.0f} MB as shard {i}/{n} of {args.series} series")
        print(f"(imports: {idle:.0f} MB; no timed runs, no baselines: --memory-only)")
        return
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"sidecar run: {args.series} series x {POINTS} points, median of {args.runs} runs")
    phases = ("fetch + parse", "analyse", "total", "fetch + parse (json)", "detector (ours)",
              "detector (pandas)")  # fmt: skip
    for phase in phases:
        print(f"{phase:<20} {statistics.median(r[phase] for r in results):8.2f} s")
    ratio = statistics.median(r["fetch + parse (json)"] / r["fetch + parse"] for r in results)
    print(f"read path: gzip + json.loads take {ratio:.1f}x ours (median ratio)")
    ratio = statistics.median(r["detector (pandas)"] / r["detector (ours)"] for r in results)
    print(f"detector: pandas' rolling windows per series take {ratio:.1f}x ours (median ratio)")
    per_k = (peak - idle) / args.series * 1000
    print(
        f"sidecar peak memory  {peak:8.0f} MB (a process of its own, one run; {idle:.0f} MB "
        f"of it imports: {per_k:.0f} MB per 1,000 series)"
    )
    if shard_peak is not None:
        i, n = args.shard
        print(f"sidecar peak memory  {shard_peak:8.0f} MB as shard {i}/{n} (its rows only)")
    print(f"peak memory          {peak_mb:8.0f} MB (this process: the timed runs and baselines)")


if __name__ == "__main__":
    main()
