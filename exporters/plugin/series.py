"""Plugin series: state as deltas, and an exposition rendered per plugin when it changes.

A report becomes a ``Delta``: values to add (counters) and values to set (gauges), keyed by
``family \\x1f sample \\x1f labels``. The store applies the same delta to SQLite in the write
transaction and, once committed, ``Series.apply`` applies it in memory, so what Prometheus sees
never runs ahead of what is durable, and counters carry on across restarts.

A scrape never renders 10k lines: each plugin's lines are rendered when that plugin reports
(tens of microseconds), and ``/metrics`` joins the cached pieces, family by family::

    # HELP globalmon_plugin_requests_total Plugin requests.
    # TYPE globalmon_plugin_requests_total counter
    globalmon_plugin_requests_total{plugin="payment-gateway"} 1042.0
    globalmon_plugin_requests_total{plugin="search"} 77.0
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from itertools import accumulate

from exporters.plugin.models import CustomMetric, EventIn, Level, LogIn, MetricReport
from globalmon import conventions as c

SEP = "\x1f"
# The response-time buckets (seconds): prometheus_client's defaults, the ones the rules assume.
BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 0.75, 1.0, 2.5, 5.0, 7.5, 10.0)
_BUCKET_LABELS = [f',le="{b}"' for b in BUCKETS] + [',le="+Inf"']

_RT = c.PLUGIN_RESPONSE_TIME.name
FIXED_FAMILIES: tuple[c.MetricDef, ...] = (
    c.PLUGIN_CPU,
    c.PLUGIN_MEMORY,
    c.PLUGIN_MEMORY_USAGE,
    c.PLUGIN_REQUESTS,
    c.PLUGIN_ERRORS,
    c.PLUGIN_RESPONSE_TIME,
    c.PLUGIN_LOGS,
    c.PLUGIN_EVENTS,
    c.PLUGIN_IO,
    c.PLUGIN_SNAPSHOTS,
    c.PLUGIN_LAST_REPORT,
)


def key(family: str, sample: str = "", labels: str = "") -> str:
    return f"{family}{SEP}{sample or family}{SEP}{labels}"


def escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def _initial() -> dict[str, float]:
    """Keys every plugin has from its first report, in exposition order."""
    keys = [
        key(c.PLUGIN_REQUESTS.name),
        key(c.PLUGIN_ERRORS.name),
        *(key(_RT, _RT + "_bucket", le) for le in _BUCKET_LABELS),
        key(_RT, _RT + "_sum"),
        key(_RT, _RT + "_count"),
        *(key(c.PLUGIN_LOGS.name, labels=f',level="{lv.value}"') for lv in Level),
        *(
            key(c.PLUGIN_IO.name, labels=f',kind="{k}",direction="{d}"')
            for k in ("disk", "network")
            for d in ("read", "write")
        ),
        key(c.PLUGIN_SNAPSHOTS.name),
    ]
    return dict.fromkeys(keys, 0.0)


@dataclass
class Delta:
    adds: dict[str, float] = field(default_factory=dict)
    sets: dict[str, float] = field(default_factory=dict)

    def add(self, k: str, value: float) -> None:
        self.adds[k] = self.adds.get(k, 0.0) + value

    def merge(self, other: Delta) -> None:
        for k, v in other.adds.items():
            self.add(k, v)
        self.sets.update(other.sets)


def metric_delta(report: MetricReport, now: float) -> Delta:
    d = Delta()
    for metric, value in (
        (c.PLUGIN_CPU, report.cpu_usage_ratio),
        (c.PLUGIN_MEMORY, report.memory_bytes),
        (c.PLUGIN_MEMORY_USAGE, report.memory_usage_ratio),
    ):
        if value is not None:
            d.sets[key(metric.name)] = value
    d.add(key(c.PLUGIN_REQUESTS.name), report.requests)
    d.add(key(c.PLUGIN_ERRORS.name), report.errors)
    if report.response_times_seconds:
        counts = [0] * (len(BUCKETS) + 1)
        for t in report.response_times_seconds:
            counts[next((i for i, b in enumerate(BUCKETS) if t <= b), len(BUCKETS))] += 1
        for le, n in zip(_BUCKET_LABELS, accumulate(counts), strict=True):
            if n:
                d.add(key(_RT, _RT + "_bucket", le), n)
        d.add(key(_RT, _RT + "_sum"), sum(report.response_times_seconds))
        d.add(key(_RT, _RT + "_count"), len(report.response_times_seconds))
    for kind, direction, value in (
        ("disk", "read", report.disk_read_bytes),
        ("disk", "write", report.disk_write_bytes),
        ("network", "read", report.network_read_bytes),
        ("network", "write", report.network_write_bytes),
    ):
        if value:
            d.add(key(c.PLUGIN_IO.name, labels=f',kind="{kind}",direction="{direction}"'), value)
    for m in report.custom:
        d.sets[custom_key(m)] = m.value
    d.sets[key(c.PLUGIN_LAST_REPORT.name)] = now
    return d


def custom_key(m: CustomMetric) -> str:
    labels = "".join(f',{n}="{escape(v)}"' for n, v in sorted(m.labels.items()))
    return key(c.PLUGIN_CUSTOM_PREFIX + m.name, labels=labels)


def log_delta(log: LogIn, now: float) -> Delta:
    d = Delta({key(c.PLUGIN_LOGS.name, labels=f',level="{log.level.value}"'): 1.0})
    d.sets[key(c.PLUGIN_LAST_REPORT.name)] = now
    return d


def event_key(event_type: str, severity: str) -> str:
    return key(c.PLUGIN_EVENTS.name, labels=f',type="{event_type}",severity="{severity}"')


def event_delta(event: EventIn, now: float) -> Delta:
    d = Delta({event_key(event.type, event.severity.value): 1.0})
    d.sets[key(c.PLUGIN_LAST_REPORT.name)] = now
    return d


def snapshot_delta(now: float) -> Delta:
    return Delta({key(c.PLUGIN_SNAPSHOTS.name): 1.0}, {key(c.PLUGIN_LAST_REPORT.name): now})


class Series:
    """Every plugin's current values and the exposition text cached per (family, plugin)."""

    def __init__(self) -> None:
        self.state: dict[str, dict[str, float]] = {}
        self.hidden: set[str] = set()  # evicted: silent past the TTL, their series gone
        self._chunks: dict[str, dict[str, str]] = defaultdict(dict)
        self._layouts: dict[str, tuple[int, list[tuple[str, list[tuple[str, str]]]]]] = {}
        self._body: bytes | None = None

    def last_report(self, plugin: str) -> float | None:
        s = self.state.get(plugin)
        return None if s is None else s.get(key(c.PLUGIN_LAST_REPORT.name))

    def custom_names(self, plugin: str) -> tuple[set[str], int]:
        """Distinct custom metric names and custom series of a plugin."""
        names = set()
        series = 0
        for k in self.state.get(plugin, {}):
            if k.startswith(c.PLUGIN_CUSTOM_PREFIX):
                names.add(k.partition(SEP)[0])
                series += 1
        return names, series

    def event_types(self, plugin: str) -> set[str]:
        prefix = c.PLUGIN_EVENTS.name + SEP
        return {
            k.rsplit(SEP, 1)[1].split('"')[1]
            for k in self.state.get(plugin, {})
            if k.startswith(prefix)
        }

    def apply(self, plugin: str, delta: Delta) -> None:
        state = self.state.get(plugin)
        if state is None:
            state = self.state[plugin] = _initial()
        for k, v in delta.adds.items():
            state[k] = state.get(k, 0.0) + v
        state.update(delta.sets)
        self.hidden.discard(plugin)
        self._render(plugin)

    def load(self, plugin: str, values: dict[str, float]) -> None:
        """State read back from the store at start."""
        state = self.state[plugin] = _initial()
        state.update(values)
        self._render(plugin)

    def hide(self, plugin: str) -> None:
        if plugin in self.state and plugin not in self.hidden:
            self.hidden.add(plugin)
            self._render(plugin)

    def _layout(self, plugin: str) -> list[tuple[str, list[tuple[str, str]]]]:
        """Per family, each series' line start and key; rebuilt only when a series is added
        (series are never removed from a plugin's state, so the count tells)."""
        state = self.state[plugin]
        cached = self._layouts.get(plugin)
        if cached is not None and cached[0] == len(state):
            return cached[1]
        families: dict[str, list[tuple[str, str]]] = defaultdict(list)
        for k in state:
            family, sample, labels = k.split(SEP)
            families[family].append((f'{sample}{{plugin="{plugin}"{labels}}} ', k))
        layout = list(families.items())
        self._layouts[plugin] = (len(state), layout)
        return layout

    def _render(self, plugin: str) -> None:
        if plugin in self.hidden:
            for chunks in self._chunks.values():
                chunks.pop(plugin, None)
        else:
            values = self.state[plugin]
            for family, series in self._layout(plugin):
                self._chunks[family][plugin] = "".join(
                    [f"{start}{values[k]!r}\n" for start, k in series]
                )
        self._body = None

    def exposition(self) -> bytes:
        """The text format of every visible plugin's series (cached until something changes)."""
        if self._body is None:
            parts: list[str] = []
            for metric in FIXED_FAMILIES:
                chunks = self._chunks.get(metric.name)
                if chunks:
                    parts.append(_header(metric.name, metric.help, metric.type))
                    parts.extend(chunks.values())
            for family in sorted(f for f in self._chunks if f.startswith(c.PLUGIN_CUSTOM_PREFIX)):
                chunks = self._chunks[family]
                if chunks:
                    name = family.removeprefix(c.PLUGIN_CUSTOM_PREFIX)
                    parts.append(_header(family, c.PLUGIN_CUSTOM_HELP.format(name=name), "gauge"))
                    parts.extend(chunks.values())
            self._body = "".join(parts).encode()
        return self._body


def _header(name: str, help_: str, type_: str) -> str:
    return f"# HELP {name} {help_}\n# TYPE {name} {type_}\n"
