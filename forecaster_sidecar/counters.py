"""Counter targets: resets undone, so a restart is neither a forecast's cliff nor an anomaly.

A forecast target may be a raw counter (``http_requests_total``). Prometheus counts any drop in
a counter as a reset to zero and the value after it as the increase since (what ``increase()``
and ``rate()`` do); the sidecar does the same across the whole history, forecasts the corrected
series, and hands the forecast back on the current counter's own scale (the corrected forecast
less every reset's lost value), so ``yhat`` sits on the raw series in a Grafana panel. The
anomaly score and trend of a counter are those of its increase per step: a counter always rises,
so its level says nothing about whether the traffic is unusual.
"""

from __future__ import annotations

import re
from dataclasses import replace

import numpy as np

from forecaster_sidecar import scale
from forecaster_sidecar.forecast import forecast_auto
from forecaster_sidecar.models import LEVELS, Array, Forecast, fill_gaps
from globalmon.spec.forecast import Forecast as Target

# A bare instant selector: a metric name with optional label matchers, nothing applied to it.
_SELECTOR = re.compile(r"\s*([A-Za-z_:][A-Za-z0-9_:]*)\s*(\{[^{}]*\})?\s*")
COUNTER_SUFFIXES = ("_total", "_count", "_sum", "_bucket")


def is_counter(target: Target) -> bool:
    if target.kind != "auto":
        return target.kind == "counter"
    bare = _SELECTOR.fullmatch(target.expr)
    return bare is not None and bare.group(1).endswith(COUNTER_SUFFIXES)


# What a series named by its unit suffix can be (Prometheus' base-unit naming).
_RANGES = {
    "_ratio": (0.0, 1.0),
    "_percent": (0.0, 100.0),
    "_bytes": (0.0, None),
    "_seconds": (0.0, None),
    "_total": (0.0, None),
}


def value_range(target: Target) -> tuple[float | None, float | None]:
    """What the target's series cannot go below and above: its min_value and max_value, else
    what the name of a bare selector says (None: not known; the history may still say 0)."""
    bare = _SELECTOR.fullmatch(target.expr)
    name = bare.group(1) if bare is not None else ""
    floor, ceiling = next(
        (r for suffix, r in _RANGES.items() if name.endswith(suffix)), (None, None)
    )
    if target.min_value is not None:
        floor = target.min_value
    if target.max_value is not None:
        ceiling = target.max_value
    return floor, ceiling


def undo_resets(values: Array) -> tuple[Array, Array]:
    """The series with every reset undone (gaps stay NaN), and per series how far the corrected
    series stands above the raw one at its end (the sum of the values lost at resets)."""
    filled = fill_gaps(values)
    # near float's limit a difference or a sum may pass it: inf, as float arithmetic says
    with np.errstate(over="ignore", invalid="ignore"):
        step = np.diff(filled, axis=1)
        increase = np.where(step < 0, filled[:, 1:], step)  # after a reset: the value itself
        corrected = np.empty_like(filled)
        corrected[:, :1] = filled[:, :1]
        np.cumsum(increase, axis=1, out=corrected[:, 1:])
        corrected[:, 1:] += filled[:, :1]
        offset = corrected[:, -1] - filled[:, -1]
    corrected[np.isnan(values)] = np.nan
    return corrected, offset


# A series read without --counter looks like a counter when it rises on most steps and falls
# only rarely, each time to less than half of where it was (a restart starts again from 0).
COUNTER_RISING_SHARE = 0.5
COUNTER_MAX_DROP_SHARE = 0.01


def counter_hint(values: Array, counter: bool) -> str | None:
    """What the offline commands say on stderr when ``--counter`` looks wrong either way: a
    series that only rises but for a few drops toward zero read as a gauge (its restarts are
    cliffs to the forecast and anomalies to the detector), or a series that falls often read
    as a counter (every fall is taken for a restart). None when nothing looks wrong."""
    x = values[np.isfinite(values)]
    if len(x) < 3:
        return None
    before, after = x[:-1], x[1:]  # compared, not subtracted: near float's limit that overflows
    falls = after < before
    drops, steps = int(falls.sum()), len(after)
    if counter:
        if drops > max(1, COUNTER_MAX_DROP_SHARE * steps):
            return (
                f"--counter: the values fall on {drops} of {steps} steps; a counter falls "
                "only when it restarts, and each fall is taken for one"
            )
        return None
    resets = falls & (after < before / 2)
    if (
        0 < drops == int(resets.sum())
        and drops <= COUNTER_MAX_DROP_SHARE * steps
        and (after > before).mean() >= COUNTER_RISING_SHARE
        and x.min() >= 0
    ):
        return (
            f"the values only rise but for {drops} fall(s) toward zero, as a counter's do when "
            "it restarts: if it is a counter, pass --counter (its restarts are undone first)"
        )
    return None


def increase_per_step(corrected: Array) -> Array:
    """Each row's increase since the row before (NaN for the first row and next to gaps)."""
    out = np.full_like(corrected, np.nan)
    with np.errstate(over="ignore", invalid="ignore"):  # inf past float's limit, as in undo_resets
        out[:, 1:] = np.diff(corrected, axis=1)
    return out


def forecast_series(
    values: Array,
    horizon: int,
    seasons: tuple[int, ...],
    counter: bool,
    *,
    floor: float | Array | None = None,
    ceiling: float | Array | None = None,
    levels: tuple[float, ...] = LEVELS,
    step: float | None = None,
) -> Forecast:
    """``forecast_auto`` of the series within ``floor``/``ceiling``, a counter's on its own raw
    scale (see the module), never below its last value and never falling. Series near float's
    limit are forecast scaled down (``scale.py``)."""
    by = scale.exponents(values)
    if by.any():
        s = values.shape[0]
        down = [
            None if b is None else scale.down(np.broadcast_to(b, (s,)), by)
            for b in (floor, ceiling)
        ]
        return forecast_series(
            scale.down(values, by),
            horizon,
            seasons,
            counter,
            floor=down[0],
            ceiling=down[1],
            levels=levels,
            step=step,
        ).scaled(by)
    if not counter:
        return forecast_auto(
            values, horizon, seasons, floor=floor, ceiling=ceiling, levels=levels, step=step
        )
    corrected, offset = undo_resets(values)
    last = fill_gaps(corrected)[:, -1]
    lowest = last if floor is None else np.maximum(last, floor + offset)
    high = None if ceiling is None else ceiling + offset
    result = forecast_auto(
        corrected, horizon, seasons, floor=lowest, ceiling=high, levels=levels, step=step
    )
    rising = replace(result, yhat=np.maximum.accumulate(result.yhat, axis=1))
    raw = rising.shifted(-offset)
    # exactly the current value at least: the shift back may round a bit below it
    at_least = np.maximum(raw.floor, fill_gaps(values)[:, -1])
    return replace(raw, yhat=np.maximum(raw.yhat, at_least[:, None]), floor=at_least)


def watched(values: Array, step: float, counter: bool) -> Array:
    """What the detector scores and the trend follows: the series, or a counter's increase per
    second (gaps stay NaN)."""
    if not counter:
        return values
    return increase_per_step(undo_resets(values)[0]) / step
