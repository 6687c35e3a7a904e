"""The capacity rows and the chart queries, from hand-made Prometheus answers."""

from __future__ import annotations

import json
import math
from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from console.queries import capacity_rows, chart_step, plugin_charts, points, rate_window


def sample(value: float | str, **labels: str) -> dict[str, Any]:
    return {"metric": labels, "value": [1.0, str(value)]}


def test_capacity_rows_group_each_series_soonest_exhaustion_first() -> None:
    a = {"target": "disk", "region": "eu", "mountpoint": "/", "instance": "x:1", "job": "sidecar"}
    b = {"target": "disk", "region": "eu", "mountpoint": "/data"}
    answers = {
        "current": [sample(0.5, **a, __name__="target:x"), sample(0.8, **b)],
        "forecast": [
            sample(0.7, **a, horizon="24h", bound="yhat"),
            sample(0.6, **a, horizon="24h", bound="yhat_lower"),
            sample(0.9, **a, horizon="24h", bound="yhat_upper"),
            sample(0.55, **a, horizon="1h", bound="yhat"),
            sample(0.95, **b, horizon="1h", bound="yhat"),
            sample(1.0, **b, horizon="1h", bound="something_else"),
        ],
        "exhaustion": [sample(1800, **b), sample("NaN", **a)],
        # no target label: not a forecast series
        "unrelated": [sample(1, region="eu")],
    }
    rows = capacity_rows(answers, {"disk": 0.9})
    assert [r["labels"]["mountpoint"] for r in rows] == ["/data", "/"]
    first, second = rows
    assert first["exhaustion_seconds"] == 1800
    assert first["forecasts"] == [{"horizon": "1h", "value": 0.95}]
    assert second["labels"] == {"region": "eu", "mountpoint": "/"}  # job/instance dropped
    assert second["exhaustion_seconds"] is None  # NaN is no answer
    assert second["current"] == 0.5
    assert second["limit"] == 0.9
    assert [f["horizon"] for f in second["forecasts"]] == ["1h", "24h"]
    assert second["forecasts"][1] == {"horizon": "24h", "value": 0.7, "lower": 0.6, "upper": 0.9}


def test_chart_steps_and_windows() -> None:
    assert chart_step(3600, 15) == 15  # never closer than the scrape interval
    assert chart_step(7 * 86400, 15) == 2520  # about 240 points
    assert chart_step(900, 1) == 4
    assert rate_window(15, 15) == "60s"  # at least four scrapes
    assert rate_window(2520, 15) == "2520s"  # at least one step
    charts = plugin_charts("pay-ments_1", 15, 15)
    assert all('plugin="pay-ments_1"' in c.expr for c in charts)
    assert {c.unit for c in charts} == {"ratio", "bytes", "per_second", "seconds"}


@given(st.lists(st.floats(allow_nan=True, allow_infinity=True), max_size=20))
def test_chart_points_are_strict_json(values: list[float]) -> None:
    """Prometheus writes NaN and infinities as strings; the page gets null for them, and a body
    every JSON parser reads (a NaN token made the browser's JSON.parse fail)."""
    prom = {"nan": "NaN", "inf": "+Inf", "-inf": "-Inf"}  # as Prometheus writes them
    raw = [[1.0 + i, prom.get(str(v), repr(v))] for i, v in enumerate(values)]
    got = points(raw)
    text = json.dumps(got, allow_nan=False)  # raises on NaN or Infinity
    assert [v for _, v in json.loads(text)] == [v if math.isfinite(v) else None for v in values]
