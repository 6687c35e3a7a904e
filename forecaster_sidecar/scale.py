"""Series near float's limit (1e308): their sums and squares overflow the detector's and the
models' arithmetic (a moving sum of values around 1e306 is inf, and inf - inf is NaN). Such a
row is divided by a power of two first, which is exact, and what comes back is multiplied by
it: the detector's scores do not depend on the scale, and a forecast's values scale with it."""

from __future__ import annotations

import math

import bottleneck as bn
import numpy as np
import numpy.typing as npt

LARGE = 1e100  # rows whose largest finite magnitude is at least this are scaled


def exponents(values: npt.NDArray[np.float64]) -> npt.NDArray[np.int64]:
    """Per row of a (series x time) matrix, the power of two to divide it by: 0 for a row
    under ``LARGE`` (the usual case, left exactly as it is), else its largest finite
    magnitude's binary exponent, so that value lies in [0.5, 1) once divided."""
    if values.shape[1] == 0:
        return np.zeros(values.shape[0], dtype=np.int64)
    # bottleneck's max and min allocate nothing: a (10,000 x week) matrix is 160 MB a copy
    peak = np.fmax(np.abs(bn.nanmax(values, axis=1)), np.abs(bn.nanmin(values, axis=1)))
    out = np.zeros(values.shape[0], dtype=np.int64)
    for row in np.flatnonzero(peak >= LARGE):  # few: only these are looked at again
        finite = values[row][np.isfinite(values[row])]
        top = float(np.abs(finite).max(initial=0.0))
        out[row] = math.frexp(top)[1] if top >= LARGE else 0
    return out


def down(values: npt.NDArray[np.float64], by: npt.NDArray[np.int64]) -> npt.NDArray[np.float64]:
    """``values`` (rows, or a per-row vector) divided by 2**by, row by row."""
    shaped = by.reshape(by.shape + (1,) * (values.ndim - 1))
    out: npt.NDArray[np.float64] = np.ldexp(values, -shaped)
    return out


def up(values: npt.NDArray[np.float64], by: npt.NDArray[np.int64]) -> npt.NDArray[np.float64]:
    """``values`` times 2**by, row by row (rows along the first axis); past float's range it
    is inf, as the forecast of such a series is."""
    shaped = by.reshape(by.shape + (1,) * (values.ndim - 1))
    with np.errstate(over="ignore"):
        out: npt.NDArray[np.float64] = np.ldexp(values, shaped)
    return out
