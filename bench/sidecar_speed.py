"""The sidecar's run on a real Prometheus: fetch (query_range), parse, fit and forecast, score.

Seeds a Prometheus with N series x 2,016 points (7 days at 5 minutes) through ``promtool tsdb
create-blocks-from openmetrics`` (a file per 2-hour block: 100,000 series in about 4 minutes),
then times one sidecar run of a 7-day target over all of them,
phase by phase (medians of the runs), with the sidecar's own peak resident memory (one run in a
fresh process, nothing of the baselines counted) and this process' peak. Targets: 1,000 series
in at most 2 s, 10,000 in at most 30 s and 1.5 GB.

    python -m bench.sidecar_speed [--series 1000] [--runs 3] [--shard 0/4]
    python -m bench.sidecar_speed --series 100000 --shard 0/4 --memory-only
    python -m bench.sidecar_speed --series 100000 --shard 0/4 --memory-only --together
    python -m bench.sidecar_speed --days 14

``--days N`` (more than 7) seeds N days and also times the sidecar's whole run
(``Sidecar.run_once``: every read, the analysis, the rendered page) of an N-day target against
a 7-day one over the same series, one after the other, each run's ratio and their median: a
history past a week is read twice (its own step and the detector's week at 5 minutes), so this
is what that second read costs. With the N-day run's peak memory in a process of its own.

``--together`` runs every shard at once, each in a process of its own, as N sidecars beside one
Prometheus would: each one's peak memory and time, the wall time, and Prometheus' own peak
(it answers the N reads at once).
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
from forecaster_sidecar.app import Sidecar, SidecarConfig
from forecaster_sidecar.forecast import step_for
from forecaster_sidecar.prometheus import query_range
from globalmon.spec.forecast import Forecast
from local_stack import servers

STEP = 300
POINTS = 2016


BLOCK = 7200  # promtool's backfill writes 2-hour blocks, aligned to multiples of 2 hours


def seed(promtool: str, work: Path, series: int, end: int, points: int = POINTS) -> Path:
    """A TSDB of ``series`` x ``points`` (2,016: 7 days at 5 minutes) ending at ``end``, written by
    ``promtool tsdb create-blocks-from openmetrics``, one input file per 2-hour block: promtool
    reads its whole input once per block it writes, so one file of a week took 84 passes (an
    hour for 100,000 series); a file per block is one pass in all. Each file is written while
    promtool turns the one before into a block."""
    rng = np.random.default_rng(0)
    t = end - STEP * np.arange(points)[::-1]
    values = np.empty((series, points), dtype=np.float32)  # 800 MB at 100,000 series x 7 days
    for first in range(0, series, 10_000):
        n = min(10_000, series - first)
        amp, level = rng.uniform(0, 20, (n, 1)), rng.uniform(10, 100, (n, 1))
        daily = np.sin(2 * np.pi * t / 86400)[None, :]
        values[first : first + n] = level + amp * daily + rng.normal(0, 2, (n, points))
    labels = [f'bench_value{{instance="host-{s}:9100"}}' for s in range(series)]
    data = work / "data"
    block_of = t // BLOCK
    running: subprocess.Popen[bytes] | None = None
    for i, block in enumerate(np.unique(block_of)):
        cols = np.flatnonzero(block_of == block)
        path = work / f"h{i % 2}.om"  # two files: one written while promtool reads the other
        with path.open("w") as out:
            out.write("# TYPE bench_value gauge\n")
            stamps = [str(int(x)) for x in t[cols]]
            for lab, row in zip(labels, values[:, cols].tolist(), strict=True):
                out.writelines(f"{lab} {v:.4f} {ts}\n" for v, ts in zip(row, stamps, strict=True))
            out.write("# EOF\n")
        if running is not None and running.wait(timeout=1800) != 0:
            raise SystemExit(f"promtool failed: {running.args!r}")
        running = subprocess.Popen(
            [promtool, "tsdb", "create-blocks-from", "openmetrics", "-q", str(path), str(data)],
            stdout=subprocess.DEVNULL,
        )
    if running is not None and running.wait(timeout=1800) != 0:
        raise SystemExit(f"promtool failed: {running.args!r}")
    return data


def _target(days: int = 7) -> Forecast:
    return Forecast.model_validate(
        {"name": "bench", "expr": "bench_value", "horizons": ["1h", "6h", "24h"],
         "history": f"{days}d"}
    )  # fmt: skip


def _sidecar(url: str, days: int, end: float) -> Sidecar:
    """The live sidecar with one target of ``days`` of history, its clock at ``end`` (each read
    ends at the last multiple of its step, as the live sidecar's do), reading at 5 minutes or
    coarser: the seed's step."""
    config = SidecarConfig((_target(days),), url, min_step=float(STEP))
    return Sidecar(config, clock=lambda: end)


async def whole_run(url: str, days: int, end: float) -> float:
    """One ``Sidecar.run_once`` of a ``days``-day target: its reads, the analysis, the page."""
    sidecar = _sidecar(url, days, end)
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=1800)) as session:
        started = time.perf_counter()
        if not await sidecar.run_once(session):
            raise SystemExit(f"the sidecar's run of a {days}-day target failed")
        return time.perf_counter() - started


def whole_run_peak_mb(url: str, days: int, end: float) -> float:
    """The peak resident memory of a process that made one whole run of a ``days``-day target."""
    asyncio.run(whole_run(url, days, end))
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def sidecar_peak_mb(url: str, end: float, shard: tuple[int, int] = (0, 1)) -> tuple[float, float]:
    """One sidecar run (fetch, parse, analyse) of shard ``(i, n)`` in this process: its peak
    resident memory and its time. Run in a fresh process of its own, so nothing of the
    baselines' is counted."""
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

    started = time.perf_counter()
    asyncio.run(run())
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, time.perf_counter() - started


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


def together(prom: servers.Server, end: float, n: int, series: int) -> None:
    """All ``n`` shards at once, a fresh process each (``max_tasks_per_child``: no process
    carries another shard's peak)."""
    spawn = multiprocessing.get_context("spawn")
    started = time.perf_counter()
    with ProcessPoolExecutor(max_workers=n, mp_context=spawn, max_tasks_per_child=1) as pool:
        jobs = [pool.submit(sidecar_peak_mb, prom.url, end, (i, n)) for i in range(n)]
        results = [job.result() for job in jobs]
    wall = time.perf_counter() - started
    for i, (mb, seconds) in enumerate(results):
        print(f"shard {i}/{n} of {series} series: peak {mb:6.0f} MB, its run {seconds:.0f} s")
    total = sum(mb for mb, _ in results)
    print(f"{n} shards at once: {wall:.0f} s wall, {total:.0f} MB of sidecars' peaks together")
    print(f"prometheus peak memory {_peak_mb(prom):8.0f} MB (it answered the {n} reads at once)")


def longer_history(url: str, end: float, days: int, runs: int, peaks: list[float]) -> str:
    """With ``days`` past 7: the whole runs of a 7-day and a ``days``-day target, one after
    the other ``runs`` times, beside ``peaks``, each one's peak memory in a process of its own
    (measured before this process grew: a spawned child starts from its parent's peak)."""
    if days <= 7 or not runs:
        return ""
    pairs = [(asyncio.run(whole_run(url, 7, end)), asyncio.run(whole_run(url, days, end)))
             for _ in range(runs)]  # fmt: skip
    week = statistics.median(a for a, _ in pairs)
    mine = statistics.median(b for _, b in pairs)
    ratio = statistics.median(b / a for a, b in pairs)
    return (
        f"whole run, 7-day target   {week:8.2f} s, peak {peaks[0]:6.0f} MB\n"
        f"whole run, {days}-day target {mine:8.2f} s, peak {peaks[1]:6.0f} MB"
        f" ({ratio:.2f}x the 7-day run, median ratio of {runs}; its history read at"
        f" {step_for(days * 86400.0, STEP):.0f} s, then its last week at {STEP} s)"
    )


def _peak_mb(server: servers.Server) -> float:
    """A server's peak resident memory (VmHWM), read from /proc."""
    assert server.process is not None
    for line in Path(f"/proc/{server.process.pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


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
        "--together",
        action="store_true",
        help="with --memory-only: run all N shards at once, each in a process of its own",
    )
    parser.add_argument(
        "--memory-only",
        action="store_true",
        help="measure only the peak memory of the --shard given (no timed runs, no baselines, "
        "no whole run): for counts where those would not fit, e.g. 100,000 series",
    )
    parser.add_argument(
        "--days",
        type=int,
        default=7,
        help="seed this many days (at least 7); past 7, also compare the sidecar's whole run "
        "of a target with this much history against a 7-day one",
    )
    args = parser.parse_args()
    if args.days < 7:
        parser.error(f"--days: found {args.days}; expected 7 or more")
    if args.memory_only and args.shard[1] == 1:
        parser.error("--memory-only measures a shard: give --shard i/n with n > 1")
    if args.days > 7 and args.memory_only:
        parser.error("--days past 7 compares whole runs, which --memory-only does not make")
    if args.together and not args.memory_only:
        parser.error("--together runs the shards of --memory-only: give both")
    prom_bin = servers.find_binary(["prometheus"])
    promtool = servers.find_binary(["promtool"])
    if prom_bin is None or promtool is None:
        raise SystemExit("prometheus and promtool are missing: run `make setup`")
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        end = int(time.time()) // STEP * STEP - STEP
        seeding = time.perf_counter()
        spawn = multiprocessing.get_context("spawn")
        # in a process of its own: a child's peak memory counts its parent's at the fork (Linux
        # keeps the high-water mark across exec), and the seed holds every series' values
        with ProcessPoolExecutor(max_workers=1, mp_context=spawn) as child:
            child.submit(seed, promtool, work, args.series, end, args.days * 288).result()
        print(f"seeded {args.series} series in {time.perf_counter() - seeding:.0f} s", flush=True)
        (work / "prometheus.yml").write_text("global: {}\n")
        prom = servers.prometheus(prom_bin, work / "prometheus.yml", work).start()
        try:
            prom.wait_ready(timeout=120)
            with ProcessPoolExecutor(max_workers=1, mp_context=spawn) as child:
                idle = child.submit(idle_mb).result()
            peak = None
            if not args.memory_only:
                with ProcessPoolExecutor(max_workers=1, mp_context=spawn) as child:
                    peak = child.submit(sidecar_peak_mb, prom.url, float(end)).result()[0]
            longer_peaks = []
            for days in (7, args.days) if args.days > 7 and not args.memory_only else ():
                with ProcessPoolExecutor(max_workers=1, mp_context=spawn) as child:
                    longer_peaks.append(
                        child.submit(whole_run_peak_mb, prom.url, days, float(end)).result()
                    )
            shard_peak, shard_seconds = None, 0.0
            if args.together:
                together(prom, float(end), args.shard[1], args.series)
                return
            if args.shard[1] > 1:
                with ProcessPoolExecutor(max_workers=1, mp_context=spawn) as child:
                    job = child.submit(sidecar_peak_mb, prom.url, float(end), args.shard)
                    shard_peak, shard_seconds = job.result()
            runs = 0 if args.memory_only else args.runs
            results = [asyncio.run(one_run(prom.url, _target(), end)) for _ in range(runs)]
            longer = longer_history(prom.url, float(end), args.days, runs, longer_peaks)
        finally:
            prom.stop()
    if peak is None:
        assert shard_peak is not None
        i, n = args.shard
        print(
            f"sidecar peak memory  {shard_peak:8.0f} MB as shard {i}/{n} of {args.series} series"
            f" (its run: {shard_seconds:.0f} s)"
        )
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
        print(
            f"sidecar peak memory  {shard_peak:8.0f} MB as shard {i}/{n} (its rows only;"
            f" {shard_seconds:.1f} s)"
        )
    print(f"peak memory          {peak_mb:8.0f} MB (this process: the timed runs and baselines)")
    if longer:
        print(longer)


if __name__ == "__main__":
    main()
