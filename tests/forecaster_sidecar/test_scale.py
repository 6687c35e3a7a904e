"""Rows near float's limit are scaled by a power of two, exactly, and only those."""

from __future__ import annotations

import math

import numpy as np
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from forecaster_sidecar.scale import LARGE, down, exponents, up

cells = st.one_of(
    st.floats(allow_nan=True, allow_infinity=True),
    st.sampled_from([1e306, -1.7e308, 1e99, 1e100, 0.0]),
)


@given(arrays(np.float64, st.tuples(st.integers(0, 4), st.integers(0, 6)), elements=cells))
def test_only_large_rows_are_scaled_and_exactly_back(values: np.ndarray) -> None:
    by = exponents(values)
    assert by.shape == (values.shape[0],)
    for row, k in zip(values, by, strict=True):
        finite = np.abs(row[np.isfinite(row)])
        peak = float(finite.max(initial=0.0))
        if peak < LARGE:
            assert k == 0  # the usual case: left exactly as it is
        else:
            assert 0.5 <= math.ldexp(peak, -int(k)) < 1  # its largest value lands in [0.5, 1)
    scaled = down(values, by)
    assert np.all(np.abs(scaled[np.isfinite(scaled)]) <= max(1.0, LARGE))
    back = up(scaled, by)
    for row, got, k in zip(values, back, by, strict=True):
        if k == 0:
            np.testing.assert_array_equal(got, row)  # untouched
        else:
            # a power of two: exact, but for values so much smaller than the row's largest
            # that they fall under float's least (2**-1074) once divided
            np.testing.assert_allclose(got, row, rtol=0, atol=2.0 ** (int(k) - 1000))
