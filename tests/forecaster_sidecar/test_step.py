"""The live sidecar's step divides a day: on any other a season is no whole number of steps,
and the seasonal models were silently never used (seven days over 2,000 points is 302 s)."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from forecaster_sidecar.app import Sidecar, SidecarConfig
from forecaster_sidecar.forecast import DAY, DAY_DIVISORS, POINTS, seasons_for, step_for
from globalmon.spec.forecast import Forecast
from globalmon.spec.types import duration_seconds


@given(
    history=st.floats(min_value=60.0, max_value=3 * 365 * DAY),
    min_step=st.sampled_from([1.0, 5.0, 7.0, 10.0, 15.0, 30.0, 45.0, 60.0, 100.0]),
)
def test_the_step_is_the_finest_that_divides_a_day_within_the_points(
    history: float, min_step: float
) -> None:
    step = step_for(history, min_step)
    assert step >= min_step  # never finer than the scrape
    assert history / step <= POINTS * (1 + 1e-12)  # never more points than the budget
    want = max(min_step, history / POINTS)
    if want <= DAY:
        assert DAY % step == 0
        assert seasons_for(step, "daily") == (round(DAY / step),)
        assert seasons_for(step, "weekly") == (round(7 * DAY / step),)
        # the finest such: the next finer divisor breaks one of the two bounds
        finer = [s for s in DAY_DIVISORS if s < step]
        assert not finer or finer[-1] < want
    else:
        assert step == want  # years of history: the step that fits


def test_a_default_target_is_read_at_five_minutes_with_its_day_and_week() -> None:
    target = Forecast.model_validate({"name": "t", "expr": "x"})  # history 7d, seasonality auto
    sidecar = Sidecar(SidecarConfig((target,), "http://127.0.0.1:9090"), clock=lambda: 0.0)
    step = sidecar._step(duration_seconds(target.history))
    assert step == 300.0
    assert seasons_for(step, target.seasonality) == (288, 2016)


def test_a_season_of_a_fractional_number_of_steps_is_rounded_while_it_drifts_little() -> None:
    # 11 minutes: a day is 130.9 steps, a week 916.4; over 28 days the day drifts 1.9% of itself
    assert seasons_for(660.0, points=28 * 86400 // 660) == (131, 916)
    # 58 minutes over 14 days: the day drifts 9.7% of itself, within the 25% allowed; the week
    # is not held twice
    assert seasons_for(3480.0, points=14 * 86400 // 3480) == (25,)
    # ... but over 56 days 39%: only the week (which drifts 1%) is kept
    assert seasons_for(3480.0, points=56 * 86400 // 3480) == (174,)
    # without the history's length, or on two-day steps (a week of 3.5), whole seasons only
    assert seasons_for(660.0) == ()
    assert seasons_for(2 * 86400.0, points=100) == ()
    assert seasons_for(2 * 86400.0, points=6) == ()  # drifts little, but holds no two weeks
    # whole seasons are always kept, whatever the history
    assert seasons_for(300.0, points=10**6) == (288, 2016)
