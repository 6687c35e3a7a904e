"""Where times lie within a step: the mean of their phases on the circle.

Times on a grid of ``step`` seconds have one phase (``t mod step``); times early or late around
it have phases that cluster; times of another grid, or at random, wrap round the circle. The
mean of the phases as unit vectors says both where the grid is (its angle) and whether there is
one (its length: 1 on the grid, about 1 / sqrt(n) for n times at random). ``step_of`` uses the
length to find the step, ``regular`` the angle to place each row at its nearest grid point.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

SAMPLE = 100_000  # times the mean is taken over at most, evenly through them: a mean needs no more


def mean_phase(t: npt.NDArray[np.float64], step: float) -> complex:
    """The mean of ``exp(2 pi i (t - t[0]) / step)`` over (at most ``SAMPLE`` of) the times."""
    sample = t[:: max(1, len(t) // SAMPLE)] - t[0]
    angle = (2 * np.pi / step) * np.mod(sample, step)
    return complex(float(np.cos(angle).mean()), float(np.sin(angle).mean()))


def sampled(t: npt.NDArray[np.float64]) -> int:
    """How many times ``mean_phase`` takes its mean over (for the length chance gives)."""
    return len(t[:: max(1, len(t) // SAMPLE)])
