"""Forecast targets for the forecaster sidecar."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from globalmon.spec.types import Duration, Id, PromQL, StrictModel


class Forecast(StrictModel):
    """A PromQL expression whose series are forecast, scored for anomalies and checked for
    capacity."""

    name: Id = Field(description="Target name, the `target` label.", examples=["disk-usage"])
    expr: PromQL = Field(
        description="PromQL; may return many series, each forecast on its own.",
        examples=["1 - node_filesystem_avail_bytes / node_filesystem_size_bytes"],
    )
    horizons: list[Duration] = Field(
        default_factory=lambda: ["1h", "6h", "24h"],
        min_length=1,
        max_length=6,
        description="How far ahead to forecast (a small fixed set: each is a label value).",
        examples=[["1h", "24h", "7d"]],
    )
    history: Duration = Field(
        "7d",
        description=(
            "How much history each fit reads. A weekly pattern (a quieter weekend) is found "
            "from 14d on; with less, a Monday is forecast from the Sunday before it."
        ),
        examples=["14d"],
    )
    kind: Literal["auto", "gauge", "counter"] = Field(
        "auto",
        description=(
            "What the series are. A counter's resets are undone before it is forecast, and its "
            "anomaly score and trend are those of its increase per second; auto: a counter when "
            "`expr` is a bare selector of a name ending in _total, _count, _sum or _bucket."
        ),
        examples=["counter"],
    )
    seasonality: Literal["auto", "none", "daily", "weekly"] = Field(
        "auto",
        description=(
            "Season to model; auto detects daily or weekly. daily needs a history of 2d or "
            "more, weekly 14d (two seasons)."
        ),
        examples=["daily"],
    )
    limit: float | None = Field(
        None,
        description="Capacity limit in the series' unit; enables time-to-exhaustion.",
        examples=[0.95],
    )
    min_value: float | None = Field(
        None,
        description=(
            "What the series cannot go below; forecasts and bands are kept above it. Default: "
            "0 for a bare selector of a name ending in _ratio, _percent, _bytes, _seconds or "
            "_total, else 0 when the history never went negative."
        ),
        examples=[0],
    )
    max_value: float | None = Field(
        None,
        description=(
            "What the series cannot go above (a ratio's 1, a percentage's 100). Default: 1 for "
            "a bare selector of a name ending in _ratio, 100 for one ending in _percent."
        ),
        examples=[1],
    )
    polarity: Literal["higher_is_worse", "lower_is_worse"] = Field(
        "higher_is_worse",
        description="Which direction of the trend counts as degrading.",
        examples=["lower_is_worse"],
    )
    anomaly_min_rate: float = Field(
        0,
        ge=0,
        description="Minimum traffic guard: no anomaly alert while the series is below this.",
        examples=[1.0],
    )
