"""Series younger than the history read: where each one's own points begin.

A pod started two days ago, in a 7-day read, is NaN before its first point. Filled, that
stretch is a flat made-up history: the models fit it and the backtest judges them on it, and
the detector takes its end for a jump and its flatness for the series' noise. So a series is
analysed from its first point, rounded up to a sixteenth of the history, so that series of
about the same age are analysed together (vectorised, a few groups at most): a few of its
oldest points are left out rather than any made up. A series younger than a sixteenth starts
at the last sixteenth, its few missing points filled with its first value.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

BUCKETS = 16


def first_points(y: npt.NDArray[np.float64]) -> npt.NDArray[np.int64]:
    """Per row, its first column that is not NaN (0 for a row with none)."""
    seen = ~np.isnan(y)
    out: npt.NDArray[np.int64] = np.where(seen.any(axis=1), np.argmax(seen, axis=1), 0)
    return out


def starts(y: npt.NDArray[np.float64]) -> npt.NDArray[np.int64]:
    """Per row of a (series x time) matrix, the column its analysis starts from: its first
    non-NaN value's, rounded up to a multiple of a ``BUCKETS``-th of the columns and at most
    the last such multiple; 0 for a row there from the first column or with no value."""
    t = y.shape[1]
    first = first_points(y)
    bucket = max(1, t // BUCKETS)
    last = max(0, (t - 1) // bucket * bucket)
    out: npt.NDArray[np.int64] = np.minimum(-(-first // bucket) * bucket, last).astype(np.int64)
    return out
