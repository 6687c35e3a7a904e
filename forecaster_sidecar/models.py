"""Forecast models, vectorised across series: every function takes a matrix ``y`` of shape
(series, time) on a regular step and works on all rows at once.

- ``level``: simple exponential smoothing, a flat forecast (factor from a grid per series);
- ``median``: the median of the last season (or day), flat: robust to spikes in the history;
- ``seasonal_naive``: the last season repeated (the last value without a season);
- ``linear``: least squares over the last window, extrapolated;
- ``holt``: damped additive trend (level + trend), smoothing factors from a small grid chosen per
  series by in-sample one-step error;
- ``holt_winters``: damped additive trend and additive season, the same way.

``forecast`` picks one model per series by a rolling-origin backtest (the model with the least
mean absolute error on the last held-out stretch wins), refits it on the whole history and adds
prediction intervals from the backtest's errors at each horizon. NaN gaps are filled with the
last value seen; rows with too little data fall back to the last value.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

Array = npt.NDArray[np.float64]
MODELS = ("level", "median", "seasonal_naive", "linear", "holt", "holt_winters")
Z95 = 1.959964

_HOLT_GRID = [(a, b, phi) for a in (0.1, 0.3, 0.6, 0.9) for b in (0.01, 0.1) for phi in (0.9, 0.98)]
_HW_GRID = [
    (a, b, g, phi)
    for a, b, g, phi in itertools.product((0.1, 0.3, 0.6), (0.01, 0.05), (0.05, 0.2), (0.98,))
]


def fill_gaps(y: Array) -> Array:
    """Forward-fill NaN along time; leading NaN take the first value seen."""
    y = np.array(y, dtype=float, copy=True)
    if y.ndim == 1:
        y = y[None, :]
    mask = np.isnan(y)
    idx = np.where(~mask, np.arange(y.shape[1]), 0)
    np.maximum.accumulate(idx, axis=1, out=idx)
    y = y[np.arange(y.shape[0])[:, None], idx]
    first = np.argmax(~np.isnan(y), axis=1)
    lead = np.arange(y.shape[1])[None, :] < first[:, None]
    y[lead] = y[np.arange(y.shape[0]), first].repeat(lead.sum(axis=1))
    return y


_LEVEL_GRID = (0.05, 0.1, 0.3, 0.6, 0.9)


def level(y: Array, horizon: int) -> Array:
    alphas = np.array(_LEVEL_GRID)[None, :]
    lv = np.repeat(y[:, :1], alphas.shape[1], axis=1)
    sse = np.zeros_like(lv)
    for i in range(1, y.shape[1]):
        err = y[:, i : i + 1] - lv
        sse += err * err
        lv = lv + alphas * err
    best = lv[np.arange(y.shape[0]), np.argmin(sse, axis=1)]
    return np.repeat(best[:, None], horizon, axis=1)


def median(y: Array, horizon: int, window: int) -> Array:
    return np.repeat(np.median(y[:, -window:], axis=1, keepdims=True), horizon, axis=1)


def seasonal_naive(y: Array, horizon: int, season: int | None) -> Array:
    t = y.shape[1]
    if not season or t < season:
        return np.repeat(y[:, -1:], horizon, axis=1)
    idx = t - season + (np.arange(horizon) % season)
    return y[:, idx]


def linear(y: Array, horizon: int, window: int) -> Array:
    w = min(window, y.shape[1])
    tail = y[:, -w:]
    x = np.arange(w, dtype=float)
    xm = x.mean()
    slope = ((tail - tail.mean(axis=1, keepdims=True)) * (x - xm)).sum(axis=1) / max(
        ((x - xm) ** 2).sum(), 1e-12
    )
    intercept = tail.mean(axis=1) - slope * xm
    future = np.arange(w, w + horizon, dtype=float)
    out: Array = intercept[:, None] + slope[:, None] * future[None, :]
    return out


def _damped_sum(phi: Array, horizon: int) -> Array:
    """sum_{k=1..h} phi^k for h = 1..horizon, per parameter set: shape (grid, horizon)."""
    powers = phi[:, None] ** np.arange(1, horizon + 1)[None, :]
    return np.cumsum(powers, axis=1)


def holt(y: Array, horizon: int) -> Array:
    s, t = y.shape
    grid = np.array(_HOLT_GRID)
    a, b, phi = (grid[:, i][None, :] for i in range(3))
    level = np.repeat(y[:, :1], len(grid), axis=1)
    trend = np.zeros_like(level)
    sse = np.zeros_like(level)
    ab = a * b
    # the recursion is one small numpy call after another: every call saved is time saved
    for i in range(1, t):
        damped = phi * trend
        pred = level + damped
        err = y[:, i : i + 1] - pred
        sse += err * err
        level = pred + a * err
        trend = damped + ab * err
    best = np.argmin(sse, axis=1)
    rows = np.arange(s)
    steps = _damped_sum(grid[:, 2], horizon)[best]
    out: Array = level[rows, best][:, None] + trend[rows, best][:, None] * steps
    return out


def holt_winters(y: Array, horizon: int, season: int) -> Array:
    s, t = y.shape
    grid = np.array(_HW_GRID)
    g = len(grid)
    a, b, gam, phi = (grid[:, i][None, :] for i in range(4))
    first = y[:, :season]
    slope = (
        (y[:, season : 2 * season].mean(axis=1) - first.mean(axis=1)) / season
        if t >= 2 * season
        else np.zeros(s)
    )
    # The first season minus its mean and its own ramp: left in, the trend would be counted
    # twice (once in the trend, once as a sawtooth in the season) until gamma unlearns it.
    ramp = slope[:, None] * (np.arange(season) - (season - 1) / 2)[None, :]
    # the level at the end of the first season, where the recursion starts
    level = np.repeat((first.mean(axis=1) + slope * (season - 1) / 2)[:, None], g, axis=1)
    trend = np.repeat(slope[:, None], g, axis=1)
    # (season, series, grid): each step's seasonal slice is one contiguous block
    start = first - first.mean(axis=1, keepdims=True) - ramp
    seas = np.ascontiguousarray(np.repeat(start.T[:, :, None], g, axis=2))
    sse = np.zeros((s, g))
    ab, gain = a * b, gam * (1 - a)
    # the recursion is one small numpy call after another: every call saved is time saved
    for i in range(season, t):
        now = seas[i % season]  # a view: updated in place
        damped = phi * trend
        base = level + damped
        err = y[:, i : i + 1] - (base + now)
        sse += err * err
        level = base + a * err
        trend = damped + ab * err
        now += gain * err
    best = np.argmin(sse, axis=1)
    rows = np.arange(s)
    steps = _damped_sum(grid[:, 3], horizon)[best]
    k = (t + np.arange(horizon)) % season
    out: Array = (
        level[rows, best][:, None] + trend[rows, best][:, None] * steps + seas[k][:, rows, best].T
    )
    return out


def detect_season(y: Array, candidates: tuple[int, ...], min_acf: float = 0.3) -> list[int | None]:
    """Per series, the candidate lag with the highest autocorrelation above ``min_acf`` (of the
    series minus its linear trend), or None."""
    t = y.shape[1]
    detrended = y - _fit_line(y)
    detrended -= detrended.mean(axis=1, keepdims=True)
    var = (detrended**2).sum(axis=1)
    best: list[int | None] = [None] * y.shape[0]
    best_acf = np.full(y.shape[0], min_acf)
    for lag in candidates:
        if t < 2 * lag:
            continue
        acf = (detrended[:, lag:] * detrended[:, :-lag]).sum(axis=1) / np.maximum(var, 1e-12)
        for row in np.flatnonzero(acf > best_acf):
            best[row] = lag
            best_acf[row] = acf[row]
    return best


def _fit_line(y: Array) -> Array:
    t = y.shape[1]
    x = np.arange(t, dtype=float)
    xm = x.mean()
    slope = ((y - y.mean(axis=1, keepdims=True)) * (x - xm)).sum(axis=1) / max(
        ((x - xm) ** 2).sum(), 1e-12
    )
    out: Array = y.mean(axis=1, keepdims=True) + slope[:, None] * (x - xm)[None, :]
    return out


def predict(y: Array, horizon: int, model: str, season: int | None) -> Array:
    if model == "level":
        return level(y, horizon)
    if model == "median":
        return median(y, horizon, season or min(y.shape[1], 288))
    if model == "seasonal_naive":
        return seasonal_naive(y, horizon, season)
    if model == "linear":
        return linear(y, horizon, season or min(y.shape[1], 288))
    if model == "holt":
        return holt(y, horizon)
    if model == "holt_winters":
        if not season or y.shape[1] < 2 * season:
            return holt(y, horizon)
        return holt_winters(y, horizon, season)
    raise ValueError(f"unknown model {model!r}")


@dataclass(frozen=True)
class Forecast:
    yhat: Array  # (series, horizon)
    lower: Array
    upper: Array
    model: list[str]  # the model chosen per series
    backtest_mae: Array  # per series, of the chosen model
    backtest_errors: Array  # (series, holdout): the chosen model's absolute error per step


def forecast(y: Array, horizon: int, season: int | None) -> Forecast:
    """One model per series chosen by backtest; bounds at 95% from the backtest's errors."""
    y = fill_gaps(y)
    s, t = y.shape
    # At least a season (or 12 steps) held out, so a short horizon still gets a fair choice and
    # bounds from more than a couple of errors; at most a quarter of the history.
    holdout = min(max(horizon, season or 0, 12), max(t // 4, 1))
    train = y[:, : t - holdout]
    actual = y[:, t - holdout :]
    errors = {}
    for model in MODELS:
        if train.shape[1] < 8:
            break
        errors[model] = np.abs(predict(train, holdout, model, season) - actual)
    if not errors:
        flat = np.repeat(y[:, -1:], horizon, axis=1)
        none = np.zeros((s, 0))
        return Forecast(flat, flat.copy(), flat.copy(), ["seasonal_naive"] * s, np.zeros(s), none)
    names = list(errors)
    mae = np.stack([errors[m].mean(axis=1) for m in names], axis=1)
    choice = np.argmin(mae, axis=1)
    yhat = np.empty((s, horizon))
    spread = np.empty((s, horizon))
    chosen_errors = np.empty((s, holdout))
    for i, model in enumerate(names):
        rows = np.flatnonzero(choice == i)
        if len(rows) == 0:
            continue
        yhat[rows] = predict(y[rows], horizon, model, season)
        # the backtest's absolute error, growing with the horizon like a random walk past it
        err = chosen_errors[rows] = errors[model][rows]
        scale = np.sqrt(np.mean(err**2, axis=1))[:, None]
        spread[rows] = scale * np.sqrt(np.maximum(np.arange(1, horizon + 1) / holdout, 1.0))
    chosen = [names[i] for i in choice]
    return Forecast(
        yhat,
        yhat - Z95 * spread,
        yhat + Z95 * spread,
        chosen,
        mae[np.arange(s), choice],
        chosen_errors,
    )
