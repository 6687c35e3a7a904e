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
(no per-series tuning). The NAB evaluation is in bench/nab_eval.py and docs/sidecar.md.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
import pandas as pd

Array = npt.NDArray[np.float64]
MAD_TO_SIGMA = 1.4826
Z_FULL_SCALE = 1000.0
WEEK = 7 * 86400.0


@dataclass(frozen=True)
class DetectorParams:
    baseline_seconds: float = WEEK  # history the median and MAD come from
    record_seconds: float = WEEK / 2  # a surprise must beat every one in this much history
    short_seconds: float = 1800.0  # the short mean
    warmup_rows: int = 64  # rows that never score: too little history to judge...
    warmup_seconds: float = 43200.0  # ...nor does the first half day of a series


def _robust_z(x: pd.Series, rows: int) -> pd.Series:
    past = x.shift(1)
    med = past.rolling(rows, min_periods=8).median()
    mad = (past - med).abs().rolling(rows, min_periods=8).median()
    # A floor on the scale: a flat series that moves a little is not infinitely surprising.
    floor = 0.01 * past.abs().rolling(rows, min_periods=8).median() + 1e-9
    return ((x - med) / np.maximum(MAD_TO_SIGMA * mad, floor)).abs()


def _rows(seconds: float, step: float) -> int:
    return max(2, round(seconds / step))


def scores(values: Array, step: float, params: DetectorParams = DetectorParams()) -> Array:
    """Anomaly score per row of a regularly spaced series (``step`` seconds apart).

    NaN rows (gaps) take the last value seen; a constant series scores 0 throughout.
    """
    p = params
    baseline = _rows(p.baseline_seconds, step)
    short = _rows(p.short_seconds, step)
    x = pd.Series(np.asarray(values, dtype=float)).ffill().fillna(0.0)
    level = _robust_z(x, baseline)
    shifted = _robust_z(x.rolling(short, min_periods=1).mean(), baseline) * np.sqrt(short)
    z = pd.concat([level, shifted], axis=1).max(axis=1).fillna(0.0)
    record = z.shift(1).rolling(_rows(p.record_seconds, step), min_periods=1).max()
    breaks = (z > record).to_numpy() & (z.to_numpy() > 0)
    score = np.clip(np.log1p(z.to_numpy()) / np.log1p(Z_FULL_SCALE), 0.0, 1.0)
    score = np.where(breaks, score, 0.0)
    score[: max(p.warmup_rows, _rows(p.warmup_seconds, step))] = 0.0
    return score


def step_of(timestamps: npt.NDArray[np.int64] | Array) -> float:
    """The typical spacing of timestamps (the median difference), in seconds."""
    diffs = np.diff(np.asarray(timestamps, dtype=float))
    diffs = diffs[diffs > 0]
    return float(np.median(diffs)) if len(diffs) else 60.0
