"""The live sidecar: read each target's history from Prometheus, analyse it, serve the results.

A run reads every forecast target of the spec (``query_range`` over its ``history``, about 2,000
points per series), keeps the series of this shard, and replaces the target's output series when
its analysis succeeds. A failed target keeps its last good series (their age is
``time() - globalmon_forecaster_last_success_timestamp_seconds``) and counts the failure by reason;
one bad target never stops the others. Prometheus down or slow: the next run waits with
exponential backoff, up to the run interval. Targets whose PromQL Prometheus refuses are
reported at start with their name and skipped.

    /metrics     the outputs (source labels + target, horizon, bound) and self-metrics
    /-/healthy   200 once the sidecar runs
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field

import aiohttp
import numpy as np
from aiohttp import web
from prometheus_client import CollectorRegistry, Counter, Gauge, generate_latest
from prometheus_client.exposition import CONTENT_TYPE_LATEST

from forecaster_sidecar.analyse import DETECTOR_SECONDS, Sample, analyse, shard_of
from forecaster_sidecar.forecast import step_for
from forecaster_sidecar.prometheus import Matrix, QueryError, check, query_range
from forecaster_sidecar.remote_write import RemoteWriteError, push
from globalmon import conventions as c
from globalmon.spec.forecast import Forecast as Target
from globalmon.spec.types import duration_seconds

log = logging.getLogger("globalmon.sidecar")

PROGRESS_ABOVE = 500  # series in a target before its first fit reports progress
FAMILIES = (
    c.FORECAST,
    c.ANOMALY_SCORE,
    c.ANOMALY_FLAG,
    c.CAPACITY_EXHAUSTION,
    c.CAPACITY_EXHAUSTION_AT,
    c.TREND_SLOPE,
    c.TREND_DIRECTION,
    c.FORECAST_MASE,
)
REASONS = ("unreachable", "timeout", "http", "bad_query", "fit", "remote_write")


@dataclass(frozen=True)
class SidecarConfig:
    targets: tuple[Target, ...]
    prometheus_url: str
    interval: float = 60.0
    shard: tuple[int, int] = (0, 1)  # (i, n): this sidecar takes the series with hash % n == i
    min_step: float = 15.0
    remote_write_url: str | None = None


@dataclass
class SelfMetrics:
    registry: CollectorRegistry = field(default_factory=CollectorRegistry)

    def __post_init__(self) -> None:
        r = self.registry
        self.duration = Gauge(
            c.FORECASTER_RUN_DURATION.name, c.FORECASTER_RUN_DURATION.help, registry=r
        )
        self.last_success = Gauge(
            c.FORECASTER_LAST_SUCCESS.name, c.FORECASTER_LAST_SUCCESS.help, registry=r
        )
        self.series = Gauge(
            c.FORECASTER_SERIES.name, c.FORECASTER_SERIES.help, [c.LABEL_TARGET], registry=r
        )
        m = c.FORECASTER_FAILURES
        self.failures = Counter(m.name.removesuffix("_total"), m.help, [c.LABEL_REASON], registry=r)
        for reason in REASONS:
            self.failures.labels(reason)


def _escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def render(samples: list[Sample]) -> str:
    by_name: dict[str, list[str]] = {m.name: [] for m in FAMILIES}
    for s in samples:
        labels = ",".join(f'{k}="{_escape(v)}"' for k, v in sorted(s.labels.items()))
        by_name[s.name].append(f"{s.name}{{{labels}}} {s.value!r}\n")
    parts = []
    for m in FAMILIES:
        if by_name[m.name]:
            parts.append(f"# HELP {m.name} {m.help}\n# TYPE {m.name} {m.type}\n")
            parts.extend(by_name[m.name])
    return "".join(parts)


@dataclass
class Sidecar:
    config: SidecarConfig
    clock: Callable[[], float]
    metrics: SelfMetrics = field(default_factory=SelfMetrics)
    results: dict[str, list[Sample]] = field(default_factory=dict)
    refused: dict[str, str] = field(default_factory=dict)  # target -> Prometheus's reason
    body: bytes = b""
    runs: int = 0

    def _step(self, history: float) -> float:
        return step_for(history, self.config.min_step)

    async def validate(self, session: aiohttp.ClientSession) -> None:
        """Report every target whose expression Prometheus refuses, with its name."""
        for target in self.config.targets:
            try:
                await check(session, self.config.prometheus_url, target.expr)
            except QueryError as exc:
                if exc.reason != "bad_query":
                    raise
                self.refused[target.name] = str(exc)
                log.warning(
                    "Prometheus refuses a forecast's expr; skipped",
                    extra={"kv": {"forecast": target.name, "err": str(exc)}},
                )

    async def run_once(self, session: aiohttp.ClientSession) -> bool:
        """Analyse every target once; True when all of them succeeded."""
        started = time.perf_counter()
        ok = True
        for target in self.config.targets:
            if target.name in self.refused:
                continue
            try:
                history = duration_seconds(target.history)
                matrix = await self._fetch(session, target, history)
                # a history longer than the detector's week is read coarser: the detector
                # reads its week at that week's step (analyse.DETECTOR_SECONDS)
                recent = (
                    await self._fetch(session, target, DETECTOR_SECONDS)
                    if self._step(history) > self._step(DETECTOR_SECONDS)
                    else None
                )
                samples, n = await asyncio.to_thread(
                    analyse, target, matrix, recent=recent, progress=self._progress(target)
                )
            except QueryError as exc:
                self.metrics.failures.labels(exc.reason).inc()
                ok = False
                if exc.reason in ("unreachable", "timeout"):
                    break  # the next target would wait for the same dead Prometheus
                continue
            except (ValueError, FloatingPointError, np.linalg.LinAlgError) as exc:
                log.warning(
                    "forecast failed", extra={"kv": {"forecast": target.name, "err": str(exc)}}
                )
                self.metrics.failures.labels("fit").inc()
                ok = False
                continue
            self.results[target.name] = samples
            self.metrics.series.labels(target.name).set(n)
        current = [s for samples in self.results.values() for s in samples]
        self.body = render(current).encode()
        if self.config.remote_write_url and current:
            try:
                await push(session, self.config.remote_write_url, current, int(self.clock() * 1000))
            except RemoteWriteError as exc:
                log.warning("remote write failed", extra={"kv": {"err": str(exc)}})
                self.metrics.failures.labels("remote_write").inc()
                ok = False
        self.metrics.duration.set(time.perf_counter() - started)
        if ok:
            self.metrics.last_success.set(self.clock())
        self.runs += 1
        return ok

    def _progress(self, target: Target) -> Callable[[int, int], None] | None:
        """A progress line per chunk on the first run of a target with many series."""
        if self.runs:
            return None
        started = time.perf_counter()

        def report(done: int, total: int) -> None:
            if total > PROGRESS_ABOVE:
                seconds = round(time.perf_counter() - started)
                log.info(
                    "first fit",
                    extra={"kv": {"forecast": target.name, "done": done, "total": total,
                                  "seconds": seconds}},
                )  # fmt: skip

        return report

    async def _fetch(
        self, session: aiohttp.ClientSession, target: Target, history: float
    ) -> Matrix:
        """The target's series over the last ``history`` seconds, at ``_step(history)``."""
        step = self._step(history)
        end = (self.clock() // step) * step
        start = end - history
        i, n = self.config.shard

        def mine(labels: dict[str, str]) -> bool:
            return shard_of(labels, n) == i

        # the shard is taken as each stretch is read: the other shards' rows are never held
        return await query_range(
            session,
            self.config.prometheus_url,
            target.expr,
            start,
            end,
            step,
            keep=mine if n > 1 else None,
        )


SIDECAR = web.AppKey("sidecar", Sidecar)


async def metrics(request: web.Request) -> web.Response:
    sidecar = request.app[SIDECAR]
    body = sidecar.body + generate_latest(sidecar.metrics.registry)
    return web.Response(body=body, headers={"Content-Type": CONTENT_TYPE_LATEST})


async def healthy(request: web.Request) -> web.Response:
    return web.Response(text="ok\n")


async def _loop(app: web.Application) -> AsyncIterator[None]:
    sidecar = app[SIDECAR]
    interval = sidecar.config.interval

    async def loop() -> None:
        timeout = aiohttp.ClientTimeout(total=max(30.0, interval))
        async with aiohttp.ClientSession(timeout=timeout) as session:
            backoff = 1.0
            validated = False
            while True:
                try:
                    if not validated:
                        await sidecar.validate(session)
                        validated = True
                    ok = await sidecar.run_once(session)
                except QueryError as exc:  # Prometheus down while validating
                    sidecar.metrics.failures.labels(exc.reason).inc()
                    ok = False
                if ok:
                    backoff = 1.0
                    await asyncio.sleep(interval)
                else:
                    await asyncio.sleep(min(backoff, interval))
                    backoff = min(backoff * 2, interval)

    task = asyncio.create_task(loop())
    yield
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task


def create_app(config: SidecarConfig, *, clock: Callable[[], float]) -> web.Application:
    app = web.Application()
    app[SIDECAR] = Sidecar(config, clock)
    app.router.add_get("/metrics", metrics)
    app.router.add_get("/-/healthy", healthy)
    app.cleanup_ctx.append(_loop)
    return app
