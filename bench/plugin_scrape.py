"""Scrape CPU of the plugin exporter against prometheus_client's generate_latest, same data.

1,000 plugins, each with the series a real report gives (gauges, counters, a 14-bucket
response-time histogram, logs by level, IO): about 33 series per plugin. Both sides hold the
same values; the baseline is the usual client_python code (labelled Gauge/Counter/Histogram
children in a CollectorRegistry) rendered by ``generate_latest``. CPU time (thread time) per
scrape, median of the runs, reported per 10k series:

- ``cached``: nothing changed since the last scrape (the body is reused);
- ``one changed``: one plugin reported since the last scrape (the usual case between scrapes
  at a high report rate is "some"; the join is the same cost whatever the number);
- ``all changed``: every plugin reported since the last scrape, counting the per-plugin render
  that ingest does (the worst case, and the fair comparison with generate_latest).

    python -m bench.plugin_scrape [--plugins 1000] [--runs 15]
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable

from prometheus_client import (
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    disable_created_metrics,
    generate_latest,
)

from exporters.plugin.models import MetricReport
from exporters.plugin.series import BUCKETS, Series, log_delta, metric_delta
from globalmon import conventions as c


def report(i: int) -> MetricReport:
    return MetricReport(
        cpu_usage_ratio=(i % 100) / 100,
        memory_bytes=1e8 + i,
        memory_usage_ratio=0.5,
        requests=100 + i,
        errors=i % 7,
        response_times_seconds=[0.01 * (i % 50), 0.2, 1.5],
        disk_read_bytes=4096,
        network_write_bytes=1000 + i,
    )


def ours(plugins: int) -> Series:
    from exporters.plugin.models import Level, LogIn

    series = Series()
    for i in range(plugins):
        series.apply(f"plugin-{i}", metric_delta(report(i), 1e9))
        series.apply(f"plugin-{i}", log_delta(LogIn(level=Level.ERROR, message="x"), 1e9))
    return series


def baseline(plugins: int) -> CollectorRegistry:
    r = CollectorRegistry()

    def name(m: c.MetricDef) -> str:
        return m.name.removesuffix("_total")

    cpu = Gauge(c.PLUGIN_CPU.name, c.PLUGIN_CPU.help, ["plugin"], registry=r)
    mem = Gauge(c.PLUGIN_MEMORY.name, c.PLUGIN_MEMORY.help, ["plugin"], registry=r)
    ratio = Gauge(c.PLUGIN_MEMORY_USAGE.name, c.PLUGIN_MEMORY_USAGE.help, ["plugin"], registry=r)
    req = Counter(name(c.PLUGIN_REQUESTS), c.PLUGIN_REQUESTS.help, ["plugin"], registry=r)
    err = Counter(name(c.PLUGIN_ERRORS), c.PLUGIN_ERRORS.help, ["plugin"], registry=r)
    rt = Histogram(
        c.PLUGIN_RESPONSE_TIME.name, c.PLUGIN_RESPONSE_TIME.help, ["plugin"], buckets=BUCKETS,
        registry=r,
    )  # fmt: skip
    logs = Counter(name(c.PLUGIN_LOGS), c.PLUGIN_LOGS.help, ["plugin", "level"], registry=r)
    io = Counter(name(c.PLUGIN_IO), c.PLUGIN_IO.help, ["plugin", "kind", "direction"], registry=r)
    snaps = Counter(name(c.PLUGIN_SNAPSHOTS), c.PLUGIN_SNAPSHOTS.help, ["plugin"], registry=r)
    last = Gauge(c.PLUGIN_LAST_REPORT.name, c.PLUGIN_LAST_REPORT.help, ["plugin"], registry=r)
    for i in range(plugins):
        p, rep = f"plugin-{i}", report(i)
        cpu.labels(p).set(rep.cpu_usage_ratio or 0)
        mem.labels(p).set(rep.memory_bytes or 0)
        ratio.labels(p).set(rep.memory_usage_ratio or 0)
        req.labels(p).inc(rep.requests)
        err.labels(p).inc(rep.errors)
        for t in rep.response_times_seconds:
            rt.labels(p).observe(t)
        for level in ("debug", "info", "warning", "error", "critical"):
            logs.labels(p, level).inc(1 if level == "error" else 0)
        for kind in ("disk", "network"):
            for direction in ("read", "write"):
                io.labels(p, kind, direction).inc(1)
        snaps.labels(p)
        last.labels(p).set(1e9)
    return r


def cpu_median(fn: Callable[[], object], runs: int) -> float:
    times = []
    for _ in range(runs):
        start = time.thread_time()
        fn()
        times.append(time.thread_time() - start)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--plugins", type=int, default=1000)
    parser.add_argument("--runs", type=int, default=15)
    args = parser.parse_args()
    # as every globalmon daemon does at start (globalmon/cli.py): no *_created series, on both
    # sides, so both render the same series
    disable_created_metrics()  # type: ignore[no-untyped-call]

    import exporters  # noqa: F401 - as in the exporter: no *_created series

    series = ours(args.plugins)
    registry = baseline(args.plugins)
    body = series.exposition()
    n = sum(1 for line in body.splitlines() if not line.startswith(b"#"))
    base_body = generate_latest(registry)
    base_n = sum(1 for line in base_body.splitlines() if not line.startswith(b"#"))
    assert n == base_n, (n, base_n)  # same series on both sides
    plugins = list(series.state)

    def one_changed() -> None:
        series._render(plugins[0])
        series.exposition()

    def all_changed() -> None:
        for p in plugins:
            series._render(p)
        series.exposition()

    results = {
        "generate_latest": cpu_median(lambda: generate_latest(registry), args.runs),
        "ours, cached": cpu_median(series.exposition, args.runs),
        "ours, one changed": cpu_median(one_changed, args.runs),
        "ours, all changed": cpu_median(all_changed, args.runs),
    }
    per10k = 10_000 / n
    base = results["generate_latest"]
    print(f"plugin exporter scrape: {args.plugins} plugins, {n} series, {len(body) / 1e6:.1f} MB")
    print(f"{'case':<22} {'CPU ms/scrape':>14} {'ms per 10k':>11} {'vs generate_latest':>19}")
    for case, t in results.items():
        ratio = base / t if t else float("inf")
        print(f"{case:<22} {t * 1000:>14.2f} {t * 1000 * per10k:>11.2f} {ratio:>18.1f}x")


if __name__ == "__main__":
    main()
