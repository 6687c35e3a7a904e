"""Everything the plugin exporter's handlers share, kept on the app under one key."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import ClassVar

from aiohttp import web
from prometheus_client import CollectorRegistry, Counter, Gauge

from exporters.plugin.limits import Limits, SlidingWindow
from exporters.plugin.push import Pusher
from exporters.plugin.series import Series
from exporters.plugin.store import KINDS, PluginStore
from exporters.plugin.stream import Hub
from globalmon import conventions as c
from globalmon.spec.services import Plugin

DAY = 86400.0


@dataclass(frozen=True)
class PluginExporterConfig:
    plugins: dict[str, Plugin]  # the spec's plugins by id; others are refused
    token: str | None  # bearer token for writes; None only when the spec names none
    region: str | None = None  # added to pushed alerts; Prometheus adds it to series
    limits: Limits = field(default_factory=Limits)
    stale_after: float = 60.0  # a plugin silent this long shows as stale in the API
    ttl: float = 600.0  # a plugin silent this long has its series removed from /metrics
    retention: float = 30 * DAY
    caps: dict[str, int] = field(
        default_factory=lambda: {
            "logs": 1_000_000,
            "events": 200_000,
            "snapshots": 50_000,
            "metrics": 2_000_000,
        }
    )
    maintenance_interval: float = 10.0
    push_url: str | None = None  # the alert webhook's /webhook, for critical events
    push_token: str | None = None
    named: tuple[tuple[str, str, str], ...] = ()  # (name, role, token digest): may read
    open_reads: bool = False  # anyone may read the API


class SelfMetrics:
    """The exporter's own series (a small prometheus_client registry)."""

    def __init__(self) -> None:
        self.registry = r = CollectorRegistry()

        def counter(m: c.MetricDef, values: tuple[str, ...]) -> Counter:
            metric = Counter(m.name.removesuffix("_total"), m.help, m.labels, registry=r)
            for v in values:
                metric.labels(v)  # children exist from the first scrape: rate() sees the 1st
            return metric

        self.accepted = counter(c.INGEST_ACCEPTED, KINDS)
        self.rejected = counter(
            c.INGEST_REJECTED,
            (
                "unauthorized",
                "unknown_plugin",
                "too_large",
                "invalid",
                "rate_limited",
                "cardinality",
                "store_unavailable",
            ),
        )
        self.auth_failures = counter(c.HTTP_AUTH_FAILURES, ("ingest", "api"))
        self.rate_limited = counter(c.HTTP_RATE_LIMITED, ("ingest",))
        self.pushes = counter(c.PLUGIN_EXPORTER_PUSHES, ("sent", "failed", "dropped"))
        m = c.PLUGIN_EXPORTER_PLUGINS
        self.plugins = Gauge(m.name, m.help, m.labels, registry=r)
        m = c.PLUGIN_EXPORTER_SCRAPE_DURATION
        self.scrape_duration = Gauge(m.name, m.help, registry=r)
        m = c.PLUGIN_EXPORTER_STORED
        self.stored = Gauge(m.name, m.help, m.labels, registry=r)


@dataclass
class State:
    KEY: ClassVar[web.AppKey[State]]
    config: PluginExporterConfig
    clock: Callable[[], float]
    store: PluginStore
    metrics: SelfMetrics
    series: Series = field(default_factory=Series)
    hub: Hub = field(default_factory=Hub)
    pusher: Pusher | None = None
    limiter: SlidingWindow = field(init=False)
    # held by requests that add series, from the budget check until the series are applied
    budget_lock: asyncio.Lock = field(default_factory=asyncio.Lock)

    def __post_init__(self) -> None:
        limits = self.config.limits
        self.limiter = SlidingWindow(limits.requests_per_window, limits.window_seconds)


State.KEY = web.AppKey("plugin_exporter", State)
