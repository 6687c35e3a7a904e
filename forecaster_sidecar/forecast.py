"""Forecasts for many series at once, each with the season detected for it."""

from __future__ import annotations

import numpy as np

from forecaster_sidecar.models import (
    LEVELS,
    Array,
    Forecast,
    detect_season,
    fill_gaps,
    forecast,
    limits,
    shape_width,
)

DAY, WEEK = 86400.0, 7 * 86400.0


SEASONS = {"auto": (DAY, WEEK), "daily": (DAY,), "weekly": (WEEK,), "none": ()}


# Steps (seconds) that divide a day, and so a week: only on such a step is a season a whole
# number of steps, which the seasonal models need (``seasons_for``). Seven days over 2,000
# points is a step of 302 s, on which a day is 286.1 steps: no season at all.
DAY_DIVISORS = (
    1, 2, 3, 4, 5, 6, 8, 10, 12, 15, 20, 30, 60, 120, 180, 240, 300, 360, 480, 600, 720, 900,
    1200, 1440, 1800, 2400, 3600, 7200, 10800, 14400, 21600, 28800, 43200, 86400,
)  # fmt: skip
POINTS = 2016  # steps per series and fit at most: a week at 5 minutes, as bench/ measures


def step_for(history: float, min_step: float, points: int = POINTS) -> float:
    """The live sidecar's step for ``history`` seconds: the finest that divides a day, is not
    below ``min_step`` (the scrape interval: finer is made-up points) and spans the history in
    ``points`` steps or fewer. A history past ``points`` days gets the step that fits, dividing
    nothing."""
    want = max(min_step, history / points)
    return float(next((s for s in DAY_DIVISORS if s >= want), want))


def seasons_for(step: float, seasonality: str = "auto") -> tuple[int, ...]:
    """The candidate seasons (a spec's ``seasonality``) in steps of ``step`` seconds, those that
    fit a whole number of steps."""
    return tuple(
        round(s / step) for s in SEASONS[seasonality] if step > 0 and (s / step).is_integer()
    )


def forecast_auto(
    y: Array,
    horizon: int,
    seasons: tuple[int, ...],
    *,
    floor: float | Array | None = None,
    ceiling: float | Array | None = None,
    levels: tuple[float, ...] = LEVELS,
    step: float | None = None,
) -> Forecast:
    """``forecast`` per group of series sharing a detected season (one of ``seasons``, in
    steps); ``step`` (seconds) sets how far a season's shape is smoothed (without it, not at
    all: ``models.shape_width``). A series with none detected still has the seasonal models
    tried on the shortest candidate its history holds twice, and the backtest decides
    (detection sees a clear season's autocorrelation; a weaker one may still help: in
    bench/forecast_eval trying it was better on NAB's series and even on the AIOps KPIs)."""
    lo, hi = limits(y, floor, ceiling)
    y = fill_gaps(y)
    detected = detect_season(y, seasons)
    tried = next((s for s in sorted(seasons) if y.shape[1] >= 2 * s), None)
    s = y.shape[0]
    yhat, half = np.empty((s, horizon)), np.empty((len(levels), s, horizon))
    model: list[str] = [""] * s
    mae = np.empty(s)
    errors: list[Array] = [np.zeros(0)] * s
    groups = [(d, True) if d else (tried, False) for d in detected]
    for season, known in sorted(set(groups), key=lambda g: (g[0] or 0, g[1])):
        rows = np.array([i for i, g in enumerate(groups) if g == (season, known)])
        part = forecast(
            y[rows],
            horizon,
            season,
            floor=lo[rows],
            ceiling=hi[rows],
            levels=levels,
            seasonal=known,
            width=shape_width(step),
        )
        yhat[rows], half[:, rows], mae[rows] = part.yhat, part.half, part.backtest_mae
        for i, r in enumerate(rows):
            model[r] = part.model[i]
            errors[r] = part.backtest_errors[i]
    width = min(len(e) for e in errors) if s else 0
    chosen = np.array([e[:width] for e in errors])
    return Forecast(yhat, half, model, mae, chosen, lo, hi, levels)
