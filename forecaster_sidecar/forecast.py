"""Forecasts for many series at once, each with the season detected for it."""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from forecaster_sidecar import ages
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


# A season that is not a whole number of steps (a CSV 7, 11 or 23 minutes apart) is rounded to
# one when the time of season that loses over the whole history is at most this share of the
# season; the backtest then judges the seasonal models as on any other step. On a daily swing
# with a peak (noise 2) over 28 days, without a season the next day was forecast 17.4 off at 11
# minutes and 19.0 at 58; with the day rounded 2.4 (2% of the day lost over the history) and
# 5.3 (19%).
MAX_SEASON_DRIFT = 0.25


def seasons_for(step: float, seasonality: str = "auto", points: int = 0) -> tuple[int, ...]:
    """The candidate seasons (a spec's ``seasonality``) in steps of ``step`` seconds: those that
    are a whole number of steps, and with ``points`` (the history's length in steps) those that
    round to one with a drift over the history of at most ``MAX_SEASON_DRIFT`` of the season."""
    out = []
    for season in SEASONS[seasonality]:
        steps = season / step if step > 0 else 0.0
        whole = round(steps)
        if whole < 1:
            continue
        drift = abs(steps - whole) * points / steps  # steps lost over the history
        # and two seasons in the history, as the seasonal models need: a short file of two-day
        # steps drifts little from a week of 3.5 steps, and would get one of 4
        near = points >= 2 * steps and drift <= MAX_SEASON_DRIFT * steps
        if steps.is_integer() or near:
            out.append(whole)
    return tuple(out)


# A young series (``ages.py``) is forecast from its own first point: a daily swing four days old
# was forecast ten times worse from the filled history (mean absolute error 8.7 against 0.9 in
# units of its step-to-step change), and even nine hours of it cost most of that. Not when
# that leaves less than two of the shortest season: no season can be found in it, and the
# models fitted to so little trended where the filled history's flat ones did better (the
# same swing 1.5 days old: 13.6 from its own points, 9.0 filled).


def starts(y: Array, seasons: tuple[int, ...] = ()) -> npt.NDArray[np.int64]:
    """Per series, the column its forecast starts from (``ages.starts``), or 0 where that
    would leave less than two of the shortest of ``seasons``."""
    out = ages.starts(y)
    if seasons:
        out[y.shape[1] - out < 2 * min(seasons)] = 0
    return out


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
    """``forecast`` per group of series sharing a start (``starts``: a young series from its
    first point) and a detected season (one of ``seasons``, in steps); ``step`` (seconds) sets
    how far a season's shape is smoothed (without it, not at all: ``models.shape_width``). A
    series with none detected still has the seasonal models tried on the shortest candidate
    its history holds twice, and the backtest decides (detection sees a clear season's
    autocorrelation; a weaker one may still help: in bench/forecast_eval trying it was better
    on NAB's series and even on the AIOps KPIs)."""
    lo, hi = limits(y, floor, ceiling)
    begin = starts(y, seasons)
    s = y.shape[0]
    yhat, half = np.empty((s, horizon)), np.empty((len(levels), s, horizon))
    model: list[str] = [""] * s
    mae = np.empty(s)
    errors: list[Array] = [np.zeros(0)] * s
    for start in np.unique(begin):
        of_age = np.flatnonzero(begin == start)
        aged = fill_gaps(y[of_age, start:])
        detected = detect_season(aged, seasons)
        tried = next((p for p in sorted(seasons) if aged.shape[1] >= 2 * p), None)
        groups = [(d, True) if d else (tried, False) for d in detected]
        for season, known in sorted(set(groups), key=lambda g: (g[0] or 0, g[1])):
            own = np.array([i for i, g in enumerate(groups) if g == (season, known)])
            rows = of_age[own]
            part = forecast(
                aged[own],
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
