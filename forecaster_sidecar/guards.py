"""What a forecast may not be, whatever its backtest said.

A backtest judges a model on the last few held-out stretches; it cannot see that a trend fitted
to the end of a burst will carry a CPU series to 328 %, or that a flat median ignores the level
the series moved to an hour ago. ``implausible`` flags such forecasts, and ``forecast`` then takes
the next best model by backtest (seasonal naive, which none of these tests can reject, is always
left). Every threshold is one number for every series, in units of the series' own spread.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

Array = npt.NDArray[np.float64]
Mask = npt.NDArray[np.bool_]

# A forecast may leave the range the history covered by this share of that range, plus twice
# the history's own long-run drift over the horizon: a disk that has filled all week may go on
# filling; a ramp fitted to the last hour of a burst may not.
RANGE_MARGIN = 0.25
DRIFT_FACTOR = 2.0
# A forecast whose mean distance from seasonal naive exceeds this many in-sample seasonal-naive
# errors disagrees "wildly" with what the same time of the previous season did.
SEASONAL_DISAGREEMENT = 5.0
# A flat forecast this many noise sigmas from the median of the last points has missed a shift.
SHIFT_SIGMAS = 6.0
RECENT = 12


def drift(y: Array) -> Array:
    """Per series, the slope (per step) between the medians of the history's first and last
    quarters: robust to a burst at either end."""
    t = y.shape[1]
    q = max(t // 4, 1)
    if t < 2 * q or t < 4:
        return np.zeros(y.shape[0])
    first, last = np.median(y[:, :q], axis=1), np.median(y[:, -q:], axis=1)
    out: Array = (last - first) / (t - q)
    return out


def out_of_range(y: Array, yhat: Array) -> Mask:
    """Rows whose forecast leaves the history's range by more than its margin and drift allow."""
    lo, hi = y.min(axis=1), y.max(axis=1)
    k = np.arange(1, yhat.shape[1] + 1)[None, :]
    allowance = (RANGE_MARGIN * (hi - lo))[:, None] + DRIFT_FACTOR * np.abs(drift(y))[:, None] * k
    out: Mask = ((yhat > hi[:, None] + allowance) | (yhat < lo[:, None] - allowance)).any(axis=1)
    return out


def far_from_seasonal_naive(y: Array, yhat: Array, season: int | None) -> Mask:
    """Rows whose forecast is far from the previous season's values, in in-sample seasonal-naive
    errors (no season or too short a history: none)."""
    t, h = y.shape[1], yhat.shape[1]
    if not season or t < 2 * season:
        return np.zeros(y.shape[0], dtype=bool)
    naive = y[:, t - season + (np.arange(h) % season)]
    scale = np.mean(np.abs(y[:, season:] - y[:, :-season]), axis=1)
    distance = np.mean(np.abs(yhat - naive), axis=1)
    out: Mask = distance > SEASONAL_DISAGREEMENT * np.maximum(scale, 1e-12)
    return out


def missed_shift(y: Array, yhat: Array, season: int | None) -> Mask:
    """Rows whose forecast ignores where the series has just gone. Without a season: the last
    RECENT points all on one side of the forecast's start, farther than SHIFT_SIGMAS one-step
    noises, and the start back toward where the series was before them (a forecast with a
    trend may rightly start beyond them; before, only flat forecasts were judged, and a
    seasonal model tried on a series without a season passed at the old level). With one: the
    last RECENT points all on one side of where the same points of the previous season were,
    farther than SHIFT_SIGMAS seasonal-difference noises, and the forecast's first RECENT steps
    keeping under half that offset from the previous season's (so it forecasts yesterday, not
    today)."""
    t = y.shape[1]
    recent = y[:, -RECENT:]
    if not season or t < season + RECENT:
        noise = 1.4826 * np.median(np.abs(np.diff(y, axis=1)), axis=1) / np.sqrt(2)
        start = yhat[:, :1]
        now = np.median(recent, axis=1)
        before = np.median(y[:, :-RECENT], axis=1) if t > RECENT else now
        same_side = (recent > start).all(axis=1) | (recent < start).all(axis=1)
        gap = np.abs(now - start[:, 0])
        back = np.sign(now - start[:, 0]) == np.sign(now - before)  # where it came from
        out: Mask = back & same_side & (gap > SHIFT_SIGMAS * np.maximum(noise, 1e-12))
        return out
    noise = 1.4826 * np.median(np.abs(y[:, season:] - y[:, :-season]), axis=1)
    offset = recent - y[:, t - season - RECENT : t - season]
    n = min(RECENT, yhat.shape[1], season)
    carried = np.median(yhat[:, :n] - y[:, t - season : t - season + n], axis=1)
    shift = np.median(offset, axis=1)
    same_side = (offset > 0).all(axis=1) | (offset < 0).all(axis=1)
    far = np.abs(shift) > SHIFT_SIGMAS * np.maximum(noise, 1e-12)
    out = same_side & far & (np.abs(carried - shift) > np.abs(shift) / 2)
    return out


def implausible(y: Array, yhat: Array, season: int | None, *, known: bool = True) -> Mask:
    """Per row of ``y`` (the raw history, no gaps) and its forecast ``yhat`` (made with
    ``season``): True when the forecast should not be believed. ``known``: the season is the
    series' own, not only tried, so the previous season is a fair reference for the next (for
    both tests that use it: with a season only tried, a shift the previous day already held
    made every forecast that followed it look like one that missed it)."""
    out: Mask = (
        out_of_range(y, yhat)
        | far_from_seasonal_naive(y, yhat, season if known else None)
        | missed_shift(y, yhat, season if known else None)
    )
    return out
