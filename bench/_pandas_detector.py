"""The anomaly detector of forecaster_sidecar/anomaly.py written plainly with pandas' rolling
windows, one series at a time: the tests' reference for the vectorised scorer, and the baseline
bench/sidecar_speed.py times it against.

The two agree to float precision except where a series' scale collapses (a median of |x| of 0,
so the scale floor is 1e-9): there a moving mean's rounding residue, which pandas and bottleneck
accumulate differently, is itself "surprising" and can decide a record. 2 of the 28 NAB files
have such stretches (bench/nab_eval.py scores the vectorised detector).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from forecaster_sidecar.anomaly import (
    MAD_TO_SIGMA,
    RECORD_TOLERANCE,
    Z_FULL_SCALE,
    Array,
    DetectorParams,
)


def scores(values: Array, step: float) -> Array:
    """The detector written plainly with pandas' rolling windows, one series at a time: the
    vectorised scorer must give the same scores."""
    p = DetectorParams()

    def rows(seconds: float) -> int:
        return max(2, round(seconds / step))

    def robust_z(x: pd.Series[float], n: int) -> pd.Series[float]:
        past = x.shift(1)
        med = past.rolling(n, min_periods=8).median()
        mad = (past - med).abs().rolling(n, min_periods=8).median()
        floor = 0.01 * past.abs().rolling(n, min_periods=8).median() + 1e-9
        return ((x - med) / np.maximum(MAD_TO_SIGMA * mad, floor)).abs()

    baseline, short = rows(p.baseline_seconds), rows(p.short_seconds)
    x = pd.Series(values).ffill().fillna(0.0)
    level = robust_z(x, baseline)
    shifted = robust_z(x.rolling(short, min_periods=1).mean(), baseline) * np.sqrt(short)
    z = pd.concat([level, shifted], axis=1).max(axis=1).fillna(0.0)
    record = z.shift(1).rolling(rows(p.record_seconds), min_periods=1).max()
    breaks = (z > record * (1 + RECORD_TOLERANCE)).to_numpy() & (z.to_numpy() > 0)
    score = np.clip(np.log1p(z.to_numpy()) / np.log1p(Z_FULL_SCALE), 0.0, 1.0)
    score = np.where(breaks, score, 0.0)
    score[: max(p.warmup_rows, rows(p.warmup_seconds))] = 0.0
    return score
