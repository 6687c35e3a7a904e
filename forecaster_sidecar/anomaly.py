"""Causal anomaly scores in [0, 1]: the score at row t uses rows up to t only.

Two views of "unusual", each a robust z-score against the series' own past (median and MAD of
the ``baseline`` before t, so an outlier never moves the baseline it is judged against):

- level: the value itself (spikes, drops);
- short mean: the mean over ``short`` (level shifts and drifts a single point does not show),
  scaled by the square root of its length.

The larger is the surprise ``z``. A surprise only counts when it breaks the record of the
last ``record`` (half the baseline): a series that is always jumpy then fires once per new
extreme, not on every jump, and one anomaly is one alert. The score is ``log(1 + z)`` scaled
so that z = 1000 is 1.0; rows that break no record score 0.

Windows are durations, turned into rows by the series' step; one parameter set for every series
(no per-series tuning). The moving medians, means and maxima are bottleneck's, over a whole
(series x time) matrix at once: pandas' rolling windows, one series at a time, cost 3-5x as
much (bench/sidecar_speed.py prints both). The NAB evaluation is in bench/nab_eval.py and
docs/sidecar.md.
"""

from __future__ import annotations

from dataclasses import dataclass

import bottleneck as bn
import numpy as np
import numpy.typing as npt

Array = npt.NDArray[np.float64]
MAD_TO_SIGMA = 1.4826
Z_FULL_SCALE = 1000.0
RECORD_TOLERANCE = 1e-9
WEEK = 7 * 86400.0


@dataclass(frozen=True)
class DetectorParams:
    baseline_seconds: float = WEEK  # history the median and MAD come from
    record_seconds: float = WEEK / 2  # a surprise must beat every one in this much history
    short_seconds: float = 1800.0  # the short mean
    warmup_rows: int = 64  # rows that never score: too little history to judge...
    warmup_seconds: float = 43200.0  # ...nor does the first half day of a series


def _shift(x: Array) -> Array:
    """Each row one step later: column t holds column t - 1, the first column NaN."""
    out = np.empty_like(x)
    out[:, 0] = np.nan
    out[:, 1:] = x[:, :-1]
    return out


def _median(x: Array, rows: int) -> Array:
    # a window longer than the series is the whole past (bottleneck refuses it)
    out: Array = bn.move_median(x, min(rows, x.shape[1]), min_count=min(8, x.shape[1]), axis=1)
    return out


def _robust_z(x: Array, rows: int) -> Array:
    past = _shift(x)
    med = _median(past, rows)
    mad = _median(np.abs(past - med), rows)
    # A floor on the scale: a flat series that moves a little is not infinitely surprising.
    floor = 0.01 * _median(np.abs(past), rows) + 1e-9
    out: Array = np.abs((x - med) / np.maximum(MAD_TO_SIGMA * mad, floor))
    return out


def _rows(seconds: float, step: float) -> int:
    return max(2, round(seconds / step))


def _ffill(x: Array) -> Array:
    """Gaps (NaN) take the last value seen in their row; leading gaps become 0."""
    seen = np.where(np.isnan(x), 0, np.arange(x.shape[1]))
    np.maximum.accumulate(seen, axis=1, out=seen)
    filled = np.take_along_axis(x, seen, axis=1)
    out: Array = np.nan_to_num(filled, nan=0.0, posinf=np.inf, neginf=-np.inf)
    return out


def scores(values: Array, step: float, params: DetectorParams = DetectorParams()) -> Array:
    """Anomaly score per row of a regularly spaced series (``step`` seconds apart); ``values``
    may also be a (series x time) matrix, scored row by row in one pass.

    NaN rows (gaps) take the last value seen; a constant series scores 0 throughout.
    """
    x = np.asarray(values, dtype=float)
    if x.ndim == 1:
        one: Array = scores(x[None, :], step, params)[0]
        return one
    p = params
    baseline = _rows(p.baseline_seconds, step)
    short = _rows(p.short_seconds, step)
    x = _ffill(x)
    level = _robust_z(x, baseline)
    n = x.shape[1]
    mean = bn.move_mean(x, min(short, n), min_count=1, axis=1)
    shifted = _robust_z(mean, baseline) * np.sqrt(short)
    z = np.nan_to_num(np.fmax(level, shifted), nan=0.0, posinf=np.inf)
    with np.errstate(invalid="ignore"):  # the first column's record is NaN: never broken
        record = bn.move_max(_shift(z), min(_rows(p.record_seconds, step), n), min_count=1, axis=1)
        # by more than float noise: a periodic series repeats its records exactly, and a tie
        # must not depend on the order a moving sum added its terms in
        breaks = (z > record * (1 + RECORD_TOLERANCE)) & (z > 0)
    score = np.clip(np.log1p(z) / np.log1p(Z_FULL_SCALE), 0.0, 1.0)
    score = np.where(breaks, score, 0.0)
    score[:, : max(p.warmup_rows, _rows(p.warmup_seconds, step))] = 0.0
    return score


def step_of(timestamps: npt.NDArray[np.int64] | Array) -> float:
    """The typical spacing of timestamps (the median difference), in seconds."""
    diffs = np.diff(np.asarray(timestamps, dtype=float))
    diffs = diffs[diffs > 0]
    return float(np.median(diffs)) if len(diffs) else 60.0
