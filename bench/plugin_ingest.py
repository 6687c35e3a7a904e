"""Ingest throughput and latency of the plugin exporter against Pushgateway, same machine, same run;
then the exporter's ingest p99 while Prometheus-style scrapes hit /metrics every second.

Both servers run as processes on loopback with 1,000 plugins (groups) already reported. Each
request carries one plugin's report: a JSON metric report (about 32 series) to
``POST /api/advanced-monitoring/plugins/ID/metrics`` (committed to SQLite with synchronous=FULL
before the answer), or the same series in the text format to Pushgateway's
``PUT /metrics/job/plugins/plugin/ID`` (in memory; Debian's ``prometheus-pushgateway``).
Medians over the rounds; the load generator is the same aiohttp client for both.

    python -m bench.plugin_ingest [--plugins 1000] [--requests 3000] [--concurrency 16]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import aiohttp
import yaml

from bench.plugin_scrape import report
from exporters.plugin.series import Series, metric_delta
from local_stack import servers

ROOT = Path(__file__).resolve().parents[1]
SHIFT_CONCURRENCY = 2


def spec(path: Path, plugins: int) -> Path:
    data = yaml.safe_load((ROOT / "examples" / "minimal.yaml").read_text())
    data["plugins"] = [{"id": f"plugin-{i}", "owner": "bench"} for i in range(plugins)]
    path.write_text(yaml.safe_dump(data))
    return path


def text_body(i: int) -> bytes:
    """The series of plugin i's report in the text format, without the plugin label
    (Pushgateway adds it from the grouping key)."""
    s = Series()
    s.apply("x", metric_delta(report(i), 1e9))
    return s.exposition().replace(b'plugin="x",', b"").replace(b'{plugin="x"}', b"")


async def load(
    url: str, method: str, bodies: Callable[[int], tuple[str, bytes]], requests: int, conc: int
) -> tuple[float, list[float]]:
    latencies: list[float] = []
    numbers = iter(range(requests))
    async with aiohttp.ClientSession(url) as http:

        async def worker() -> None:
            for i in numbers:
                path, body = bodies(i)
                start = time.perf_counter()
                async with http.request(method, path, data=body) as resp:
                    await resp.read()
                    assert resp.status < 300, (resp.status, await resp.text())
                latencies.append(time.perf_counter() - start)

        start = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(conc)))
        return time.perf_counter() - start, latencies


async def scraper(url: str, stop: asyncio.Event, durations: list[float]) -> None:
    async with aiohttp.ClientSession() as http:
        while not stop.is_set():
            start = time.perf_counter()
            async with http.get(url + "/metrics") as resp:
                await resp.read()
            durations.append(time.perf_counter() - start)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), 1.0)


def p99(values: list[float]) -> float:
    return statistics.quantiles(values, n=100)[98]


async def run(args: argparse.Namespace, work: Path) -> None:
    pgw_bin = servers.find_binary(["prometheus-pushgateway", "pushgateway"])
    if pgw_bin is None:
        sys.exit("prometheus-pushgateway is missing: run `make setup`")
    port, pgw_port = servers.free_port(), servers.free_port()
    exporter = servers.Server(
        "plugin-exporter",
        [sys.executable, "-m", "globalmon", "plugin-exporter", "--spec",
         str(spec(work / "spec.yaml", args.plugins)), "--db", str(work / "plugins.db"),
         "--web.listen-address", f"127.0.0.1:{port}", "--rate-limit", "100000000",
         "--insecure-no-auth"],  # like Pushgateway beside it: no auth
        port,
        work / "exporter",
    )  # fmt: skip
    pgw = servers.Server(
        "pushgateway", [pgw_bin, f"--web.listen-address=127.0.0.1:{pgw_port}"], pgw_port,
        work / "pgw",
    )  # fmt: skip
    try:
        exporter.start().wait_ready(path="/-/healthy")
        pgw.start().wait_ready()
        reports = [report(i).model_dump_json(exclude_defaults=True).encode() for i in range(1000)]
        texts = [text_body(i) for i in range(1000)]
        n = args.plugins

        def ours(i: int) -> tuple[str, bytes]:
            return f"/api/advanced-monitoring/plugins/plugin-{i % n}/metrics", reports[i % 1000]

        def theirs(i: int) -> tuple[str, bytes]:
            return f"/metrics/job/plugins/plugin/plugin-{i % n}", texts[i % 1000]

        # every plugin has reported once on both sides before anything is measured
        await load(exporter.url, "POST", ours, n, args.concurrency)
        await load(pgw.url, "PUT", theirs, n, args.concurrency)
        rows: dict[str, list[tuple[float, float, float]]] = {
            "pushgateway": [], "plugin exporter": [],
            f"exporter, {SHIFT_CONCURRENCY} clients": [],
            f"exporter, {SHIFT_CONCURRENCY} clients, scraped every 1 s": [],
        }  # fmt: skip
        scrapes: list[float] = []
        # Pushgateway takes about a second per push at 1,000 groups: fewer requests suffice
        # for its rate.
        pgw_requests = max(50, args.requests // 30)
        for _ in range(args.rounds):
            for name, url, method, bodies, count in (
                ("pushgateway", pgw.url, "PUT", theirs, pgw_requests),
                ("plugin exporter", exporter.url, "POST", ours, args.requests),
            ):
                elapsed, lat = await load(url, method, bodies, count, args.concurrency)
                rows[name].append((count / elapsed, statistics.median(lat), p99(lat)))
            # The p99 shift at a light load, so it measures stalls rather than queueing.
            for scraped in (False, True):
                stop = asyncio.Event()
                task = (
                    asyncio.create_task(scraper(exporter.url, stop, scrapes)) if scraped else None
                )
                elapsed, lat = await load(
                    exporter.url, "POST", ours, args.requests, SHIFT_CONCURRENCY
                )
                stop.set()
                if task:
                    await task
                name = f"exporter, {SHIFT_CONCURRENCY} clients" + (
                    ", scraped every 1 s" if scraped else ""
                )
                rows[name].append((args.requests / elapsed, statistics.median(lat), p99(lat)))
    finally:
        exporter.stop()
        pgw.stop()

    med = {k: tuple(statistics.median(r[i] for r in v) for i in range(3)) for k, v in rows.items()}
    base = med["pushgateway"]
    print(
        f"plugin ingest: {n} plugins, {args.requests} requests x {args.rounds} rounds, "
        f"concurrency {args.concurrency}, ~32 series per request (medians; Pushgateway "
        f"{max(50, args.requests // 30)} requests a round)"
    )
    print(f"{'server':<44} {'req/s':>8} {'p50 ms':>8} {'p99 ms':>8} {'throughput':>11}")
    for name, (rate, p50, p99v) in med.items():
        print(
            f"{name:<44} {rate:>8.0f} {p50 * 1000:>8.2f} {p99v * 1000:>8.2f} "
            f"{rate / base[0]:>10.1f}x"
        )
    light = f"exporter, {SHIFT_CONCURRENCY} clients"
    shift = (med[light + ", scraped every 1 s"][2] - med[light][2]) * 1000
    print(
        f"p99 ratio pushgateway/ours: {base[2] / med['plugin exporter'][2]:.1f}x; "
        f"p99 shift while scraped: {shift:+.2f} ms; "
        f"{len(scrapes)} scrapes, median {statistics.median(scrapes) * 1000:.1f} ms"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--plugins", type=int, default=1000)
    parser.add_argument("--requests", type=int, default=3000)
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        asyncio.run(run(args, Path(tmp)))


if __name__ == "__main__":
    main()
