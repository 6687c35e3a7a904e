"""Forecasts for many series at once, each with the season detected for it."""

from __future__ import annotations

import numpy as np

from forecaster_sidecar.models import Array, Forecast, detect_season, fill_gaps, forecast

DAY, WEEK = 86400.0, 7 * 86400.0


SEASONS = {"auto": (DAY, WEEK), "daily": (DAY,), "weekly": (WEEK,), "none": ()}


def seasons_for(step: float, seasonality: str = "auto") -> tuple[int, ...]:
    """The candidate seasons (a spec's ``seasonality``) in steps of ``step`` seconds, those that
    fit a whole number of steps."""
    return tuple(
        round(s / step) for s in SEASONS[seasonality] if step > 0 and (s / step).is_integer()
    )


def forecast_auto(y: Array, horizon: int, seasons: tuple[int, ...]) -> Forecast:
    """``forecast`` per group of series sharing a detected season (one of ``seasons``, in
    steps, or none)."""
    y = fill_gaps(y)
    detected = detect_season(y, seasons)
    s = y.shape[0]
    yhat, lower, upper = (np.empty((s, horizon)) for _ in range(3))
    model: list[str] = [""] * s
    mae = np.empty(s)
    errors: list[Array] = [np.zeros(0)] * s
    for season in sorted(set(detected), key=lambda v: v or 0):
        rows = np.array([i for i, d in enumerate(detected) if d == season])
        part = forecast(y[rows], horizon, season)
        yhat[rows], lower[rows], upper[rows], mae[rows] = (
            part.yhat,
            part.lower,
            part.upper,
            part.backtest_mae,
        )
        for i, r in enumerate(rows):
            model[r] = part.model[i]
            errors[r] = part.backtest_errors[i]
    width = min(len(e) for e in errors) if s else 0
    return Forecast(yhat, lower, upper, model, mae, np.array([e[:width] for e in errors]))
