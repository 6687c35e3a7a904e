"""The PromQL behind the console's charts and its capacity view, built from the names in
globalmon.conventions; and the capacity rows assembled from their answers (pure functions)."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from globalmon import conventions as c


@dataclass(frozen=True)
class Chart:
    title: str
    unit: str  # ratio, bytes, seconds, per_second
    expr: str
    legend: str  # the label that names each line


def rate_window(step: float, scrape_interval: float) -> str:
    """A rate window that always holds several samples, as Grafana's $__rate_interval does."""
    return f"{max(math.ceil(step), math.ceil(4 * scrape_interval))}s"


def plugin_charts(plugin: str, step: float, scrape_interval: float) -> list[Chart]:
    """``plugin`` must be a checked plugin id: it is placed in a label matcher as is."""
    sel = f'{{{c.LABEL_PLUGIN}="{plugin}"}}'
    w = rate_window(step, scrape_interval)
    return [
        Chart("CPU", "ratio", f"{c.PLUGIN_CPU.name}{sel}", c.LABEL_REGION),
        Chart("Memory", "bytes", f"{c.PLUGIN_MEMORY.name}{sel}", c.LABEL_REGION),
        Chart(
            "Requests",
            "per_second",
            f"sum by ({c.LABEL_REGION}) (rate({c.PLUGIN_REQUESTS.name}{sel}[{w}]))",
            c.LABEL_REGION,
        ),
        Chart("Error ratio", "ratio", f"{c.RECORD_PLUGIN_ERROR_RATIO}{sel}", c.LABEL_REGION),
        Chart(
            "Response time p95", "seconds", f"{c.RECORD_PLUGIN_LATENCY_P95}{sel}", c.LABEL_REGION
        ),
        Chart(
            "Log messages by level",
            "per_second",
            f"sum by ({c.LABEL_LEVEL}) (rate({c.PLUGIN_LOGS.name}{sel}[{w}]))",
            c.LABEL_LEVEL,
        ),
    ]


def points(values: list[list[Any]]) -> list[list[float | None]]:
    """Prometheus' [time, "value"] pairs as JSON numbers: NaN and infinities (a ratio of nothing,
    say) become null, which JSON has and a chart draws as a gap; json.dumps would write NaN,
    which no JSON parser reads."""
    out: list[list[float | None]] = []
    for t, v in values:
        x = float(v)
        out.append([float(t), x if math.isfinite(x) else None])
    return out


def chart_step(seconds: float, scrape_interval: float, points: int = 240) -> float:
    """About ``points`` points over the range, never closer than the scrape interval."""
    return max(1.0, scrape_interval, math.ceil(seconds / points))


CAPACITY_QUERIES = {
    "current": c.RECORD_FORECAST_INPUT,
    "forecast": c.FORECAST.name,
    "exhaustion": c.CAPACITY_EXHAUSTION.name,
}
BOUNDS = {"yhat": "value", "yhat_lower": "lower", "yhat_upper": "upper"}  # the sidecar's names
_OWN = {"__name__", c.LABEL_HORIZON, c.LABEL_BOUND, "job", "instance"}


def _key(labels: dict[str, str]) -> tuple[tuple[str, str], ...]:
    return tuple(sorted((k, v) for k, v in labels.items() if k not in _OWN))


def _value(sample: dict[str, Any]) -> float | None:
    v = float(sample["value"][1])
    return v if math.isfinite(v) else None


def capacity_rows(
    answers: dict[str, list[dict[str, Any]]], limits: dict[str, float | None]
) -> list[dict[str, Any]]:
    """One row per forecast series: its current value, the forecast with its band at each
    horizon, and the time to exhaustion where the forecast crosses the target's limit; the
    soonest exhaustion first. ``answers`` holds the instant results of CAPACITY_QUERIES."""
    rows: dict[tuple[tuple[str, str], ...], dict[str, Any]] = {}

    def row(labels: dict[str, str]) -> dict[str, Any] | None:
        target = labels.get(c.LABEL_TARGET)
        if target is None:
            return None
        key = _key(labels)
        return rows.setdefault(
            key,
            {
                "target": target,
                "labels": {k: v for k, v in key if k != c.LABEL_TARGET},
                "limit": limits.get(target),
                "current": None,
                "exhaustion_seconds": None,
                "forecasts": {},
            },
        )

    for s in answers.get("current", []):
        if (r := row(s["metric"])) is not None:
            r["current"] = _value(s)
    for s in answers.get("forecast", []):
        labels = s["metric"]
        if (r := row(labels)) is None or c.LABEL_HORIZON not in labels:
            continue
        bound = BOUNDS.get(labels.get(c.LABEL_BOUND, ""))
        if bound is not None:
            r["forecasts"].setdefault(labels[c.LABEL_HORIZON], {})[bound] = _value(s)
    for s in answers.get("exhaustion", []):
        if (r := row(s["metric"])) is not None:
            r["exhaustion_seconds"] = _value(s)
    out = []
    for r in rows.values():
        r["forecasts"] = [
            {"horizon": h, **v}
            for h, v in sorted(r["forecasts"].items(), key=lambda kv: _seconds(kv[0]))
        ]
        out.append(r)
    soonest = math.inf
    return sorted(
        out,
        key=lambda r: (
            r["exhaustion_seconds"] if r["exhaustion_seconds"] is not None else soonest,
            r["target"],
            sorted(r["labels"].items()),
        ),
    )


def _seconds(horizon: str) -> float:
    from globalmon.spec.types import duration_seconds

    try:
        return duration_seconds(horizon)
    except ValueError:
        return math.inf
