"""The anomaly detector: causal, bounded, quiet on noise and constant series, loud on anomalies."""

from __future__ import annotations

import numpy as np
import numpy.typing as npt
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bench._pandas_detector import scores as reference
from bench.detector_classes import flag_events
from forecaster_sidecar import anomaly
from forecaster_sidecar.ages import starts
from forecaster_sidecar.analyse import FLAG_THRESHOLD
from forecaster_sidecar.anomaly import DetectorParams, scores, step_of

STEP = 300.0
DAY_ROWS = 288


def noisy(n: int, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    t = np.arange(n)
    return 50 + 10 * np.sin(2 * np.pi * t / 288) + rng.normal(0, 2, n)


def test_scores_are_causal() -> None:
    x = noisy(1500)
    full = scores(x, STEP)
    for cut in (100, 700, 1499):
        changed = x.copy()
        changed[cut + 1 :] = 1e6  # a wild future must not change the past
        assert np.array_equal(scores(x[: cut + 1], STEP), full[: cut + 1])
        assert np.array_equal(scores(changed, STEP)[: cut + 1], full[: cut + 1])


@settings(max_examples=40, deadline=None)
@given(st.lists(st.one_of(st.floats(-1e12, 1e12), st.just(float("nan"))), min_size=1, max_size=400))
def test_scores_are_in_range_for_any_input(values: list[float]) -> None:
    s = scores(np.array(values), STEP)
    assert s.shape == (len(values),)
    assert np.all((s >= 0) & (s <= 1))


def test_constant_series_never_scores() -> None:
    assert not scores(np.full(3000, 42.0), STEP).any()


def test_a_spike_scores_highest_and_once() -> None:
    x = noisy(3000)
    x[2500] += 80
    s = scores(x, STEP)
    assert int(np.argmax(s)) == 2500
    assert np.sort(s[2000:])[-2] < s[2500] / 2  # nothing else near it after the warm-up


def test_a_level_shift_is_seen_within_the_short_window() -> None:
    x = noisy(3000, seed=1)
    x[2600:] += 15  # under 2 standard deviations of the daily swing, a shift all the same
    s = scores(x, STEP)
    assert s[2600:2607].max() > s[2000:2600].max()


def test_step_of_is_the_median_spacing() -> None:
    assert step_of(np.array([0, 300, 600, 1200, 1500])) == 300
    assert step_of(np.array([5])) == 60.0
    # scrape jitter: the 15 s it is (a day a whole number of steps), within 1%
    assert step_of(np.array([0.0, 14.998, 30.001, 45.003, 59.999])) == 15.0
    assert step_of(np.array([0.0, 302.0, 604.0])) == 300.0
    # a spacing that is no such step, or not close to one, stays as it is
    assert step_of(np.array([0.0, 420.0, 840.0])) == 420.0
    assert step_of(np.array([0.0, 310.0, 620.0])) == 310.0


@pytest.mark.parametrize("seed", range(5))
@pytest.mark.parametrize("jitter", [0.0, 0.2, 0.4])
def test_step_of_rows_missing_and_late_is_their_grid(seed: int, jitter: float) -> None:
    """Two rows in five lost, each row up to ``jitter`` of a step early or late: the median
    spacing (about 400 s for a 5-minute collector at 0.4) is no step, the grid the rows lie
    around is. A step that divides no day (7 minutes) is found on an exact grid only. Times at
    random lie around none: their median spacing stays."""
    rng = np.random.default_rng(seed)
    for step in (300.0, 60.0) if jitter else (300.0, 420.0, 60.0):
        k = np.flatnonzero(rng.random(4000) < 0.6)
        stamps = 1.6e9 + step * (k + rng.uniform(-jitter, jitter, len(k)))
        assert step_of(stamps) == step
        fewer = k[rng.random(len(k)) < 0.5]  # four rows in five lost: the median is 2 steps
        assert step_of(1.6e9 + step * (fewer + rng.uniform(-jitter, jitter, len(fewer)))) == step
    random = 1.6e9 + np.cumsum(rng.exponential(300.0, 3000))
    assert step_of(random) == float(np.median(np.diff(random)))


@pytest.mark.parametrize("n", [1, 2, 10])
def test_short_history_scores_zero(n: int) -> None:
    assert not scores(noisy(n), STEP).any()


@pytest.mark.parametrize("seed", range(16))
def test_the_matrix_scorer_equals_the_plain_reference(seed: int) -> None:
    rng = np.random.default_rng(seed)
    n = int(rng.integers(5, 3000))  # shorter and longer than every window
    x = rng.normal(0, 1, n).cumsum() * rng.uniform(0.1, 10) + rng.uniform(-100, 100)
    if seed % 3 == 0:
        x[rng.integers(0, n, n // 10 + 1)] = np.nan  # gaps
    if seed % 4 == 0:
        x[: n // 5] = np.nan  # a series that starts late
    if seed % 5 == 0:
        x = np.round(x)  # ties in the medians
    x[rng.integers(0, n, 3)] += 50  # spikes
    step = float(rng.choice([60.0, 300.0, 3600.0]))
    if seed % 2:  # a daily swing on noise: the time of day's context at work
        t = np.arange(n) * step
        x = rng.uniform(0, 20) * np.sin(2 * np.pi * t / 86400) + rng.normal(50, 2, n)
    if seed % 3 != 2:  # a value that stops changing for a while, gaps and all
        at = int(rng.integers(0, n))
        x[at : at + int(rng.integers(2, 200))] = x[at]
    assert np.allclose(scores(x, step), reference(x, step), atol=1e-9)


@pytest.mark.parametrize("seed", range(6))
def test_the_matrix_scorer_equals_the_plain_reference_on_strong_seasons(seed: int) -> None:
    """Series whose residuals are new (spikes inside a strong daily swing), with gaps: the
    seeds above have too weak a season or too little of it for that part (nor the residuals'
    short mean) to score."""
    rng = np.random.default_rng(100 + seed)
    step = float(rng.choice([300.0, 1800.0, 3600.0]))
    day = round(86400 / step)
    n = int(rng.integers(8 * day, 14 * day))
    t = np.arange(n) * step
    x = 50 + 20 * np.sin(2 * np.pi * t / 86400) + rng.normal(0, 2, n)
    x[rng.integers(7 * day, n, 4)] += rng.choice([-16.0, 16.0], 4)
    if seed % 2:
        x[rng.integers(0, n, n // 20)] = np.nan
    without = scores(x, step, DetectorParams(seasonal_novelty_strength=2.0))
    full = scores(x, step)
    assert not np.array_equal(full, without)  # the part under test scored
    assert not np.array_equal(full, scores(x, step, DetectorParams(seasonal_short_weight=0)))
    assert np.allclose(full, reference(x, step), atol=1e-9)
    at = int(np.argmax(full != without)) + 1  # the live sidecar's newest rows, exact
    assert np.array_equal(scores(x[:at], step, last=3)[-3:], full[at - 3 : at])


def test_a_matrix_is_scored_row_by_row() -> None:
    matrix = np.stack([noisy(800, seed) for seed in range(5)])
    matrix[2, 400] += 80
    each = np.stack([scores(row, STEP) for row in matrix])
    assert np.array_equal(scores(matrix, STEP), each)
    assert each[2].max() > 0


def test_a_daily_spike_is_expected_at_its_hour_and_not_at_another() -> None:
    day = 288
    t = np.arange(10 * day)
    x = 50 + 10 * np.sin(2 * np.pi * t / day) + np.random.default_rng(4).normal(0, 0.5, len(t))
    for d in range(10):
        x[d * day + 100] += 100  # the nightly job, every day at the same time
    odd = 9 * day + 44  # another time of day where the swing is at the same height...
    x[odd] += 100  # ...so the same spike there is no new value, only out of its hour
    s = scores(x, STEP)
    assert s[odd] >= FLAG_THRESHOLD
    # from the second day on the job is only as surprising as its height's noise
    assert s[[d * day + 100 for d in range(1, 10)]].max() < FLAG_THRESHOLD
    # without the time of day, the nightly spikes are no less surprising than the odd one
    blind = scores(x, STEP, DetectorParams(context_days=()))
    assert blind[odd] <= 0.5  # at most equal to the nightly record (r = 1): no new extreme


def test_a_job_that_runs_on_some_days_is_expected_at_its_hour() -> None:
    day = 288
    t = np.arange(12 * day)
    x = 50 + np.random.default_rng(6).normal(0, 0.5, len(t))
    runs = [d * day + 100 + k for d in range(0, 12, 3) for k in range(6)]  # every third day
    x[runs] = 50 + np.tile(np.linspace(20, 30, 6), 4)  # the same shape each time
    s = scores(x, STEP)
    assert s[runs[6:]].max() < FLAG_THRESHOLD  # seen at that hour three days before
    # with yesterday and a week ago only, the days between leave each run unexcused
    sparse = scores(x, STEP, DetectorParams(context_days=(1, 7)))
    assert sparse[runs[6:12]].max() >= FLAG_THRESHOLD


def test_a_new_value_counts_below_the_record() -> None:
    """A bump halfway up to a larger spike half a day before: no record broken, but a value
    the series never took in the past week."""
    x = noisy(3000, seed=7)  # 50 +- 10 over the day, noise 2
    x[2400] += 200  # the record of the week
    x[2550:2553] += 70  # above every value but that spike: z far below the spike's
    s = scores(x, STEP)
    assert s[2550:2553].max() >= FLAG_THRESHOLD
    without = scores(x, STEP, DetectorParams(novelty_min_z=np.inf))
    assert without[2550:2553].max() < 0.5  # below the spike's record (r < 1)
    assert np.count_nonzero(s[2550:2553]) == 1  # one detection: the bump's first row


@pytest.mark.parametrize("last", [1, 6, 40])
def test_last_rows_are_exact(last: int) -> None:
    matrix = np.stack([noisy(2500, seed) for seed in range(6)])
    rng = np.random.default_rng(last)
    for row in matrix:
        # a record, then smaller spikes that are new values, one in the refractory hour of
        # another, near and at the newest row
        where = [-30, *np.sort(rng.choice(np.arange(-14, -1), 2, replace=False)), -1]
        row[where] += [100, 70, 55, 40]
    full = scores(matrix, STEP)
    assert np.array_equal(scores(matrix, STEP, last=last)[:, -last:], full[:, -last:])
    # the newest rows owe their scores to the novelty test, the costly part `last` limits
    blind = scores(matrix, STEP, DetectorParams(novelty_min_z=np.inf))
    assert not np.array_equal(blind[:, -last - 13 :], full[:, -last - 13 :])


def test_a_rising_spike_is_one_detection() -> None:
    x = noisy(3000, seed=5)
    x[2500:2506] += np.array([40.0, 48, 56, 64, 72, 80])  # each row a new record
    s = scores(x, STEP)
    assert s[2500] > 0
    # The first row is far from the same time's median on the days before (the seasonal view:
    # a daily swing's series), far past the record; the five after it rise by less than a
    # quarter: the same event, not scored. (Without that view the first row's z, under the
    # daily swing's spread, passed the record only a little, and the second scored again as a
    # new value: two detections.)
    assert s[2500] >= FLAG_THRESHOLD
    assert np.count_nonzero(s[2500:2506]) == 1
    without = scores(x, STEP, DetectorParams(seasonal_weight=0))
    assert np.count_nonzero(without[2500:2506]) == 2
    assert np.count_nonzero(without[2500:2506] >= FLAG_THRESHOLD) == 1  # one flag either way
    plain = scores(x, STEP, DetectorParams(refractory_seconds=0))
    assert np.count_nonzero(plain[2500:2506]) == 6


def test_nothing_scores_before_there_is_a_record() -> None:
    """The first surprise after the warm-up sets the record; it is not infinitely far past a
    record of 0 (which would score 1 for every new series a day after it appears)."""
    x = noisy(600, seed=9)
    s = scores(x, STEP)
    first = DAY_ROWS + int(np.argmax(s[DAY_ROWS:] > 0))  # the first row that scores at all
    assert not s[: DAY_ROWS + 1].any()
    assert s[first] < 1.0
    assert s[DAY_ROWS : DAY_ROWS + 12].max() < FLAG_THRESHOLD


def test_a_value_far_from_anything_seen_outscores_one_just_new() -> None:
    """Both under the week's record (a larger spike the day before), both new values: the one
    four times as far from the nearest value seen counts for more."""
    scored = []
    for bump in (16.0, 80.0):
        x = noisy(3000, seed=11)  # 50 +- 10 over the day, noise 2
        x[2300] += 300  # the week's record
        x[2700] = 75 + bump  # above anything but that spike, 8 hours from its time of day
        scored.append(scores(x, STEP)[2700])
    near, far = scored
    assert FLAG_THRESHOLD <= near < far


def test_a_new_series_noise_rarely_flags_in_its_first_week() -> None:
    """A record of a day or two is passed far more easily than a week's (the largest of k values
    grows like log k): it counts for what a week's would be. Without that, 8 of these 30 noisy
    series flagged in their first week."""
    flagged = [
        int((scores(noisy(7 * DAY_ROWS, seed), STEP) >= FLAG_THRESHOLD).sum()) for seed in range(30)
    ]
    assert sum(flagged) <= 2


def test_a_young_series_is_scored_from_its_first_point() -> None:
    """A pod started 3.5 days ago, in a 7-day read. Filled, its first week-half was a flat
    made-up stretch, and the jump from it to the first real value set a record no later
    event passed (6 of 8 spikes at the newest point scored 0). Scored from its first point
    (rounded up to a sixteenth of the read), a spike twelve noise units high is one."""
    rng = np.random.default_rng(3)
    week = 2016
    x = 100 + rng.normal(0, 1, (8, week))
    x[:, -1] += 12
    born = 1000
    x[:, :born] = np.nan
    got = scores(x, 300.0)
    start = int(starts(x)[0])
    assert born <= start < born + week // 16
    assert not got[:, :start].any()
    np.testing.assert_array_equal(got[:, start:], scores(x[:, start:], 300.0))
    assert (got[:, -1] >= FLAG_THRESHOLD).all()


@pytest.mark.parametrize("seed", range(6))
def test_a_daily_jump_that_does_not_come_scores(seed: int) -> None:
    """Business hours at 80, the rest of the day at 20, at 30-minute steps; on the tenth day
    the jump does not come. Every value of that day is one the series takes each night and
    lies near its median, so neither the value's z nor the time of day's range raised it
    (before the short mean was compared with the range of the short means at the same time on
    the past days it scored 0.29-0.44, under the noise of the days before in half the seeds;
    now 0.79-0.83)."""
    step = 1800.0
    day = 48
    t = np.arange(12 * day)
    busy = (t % day >= 18) & (t % day < 36)
    rng = np.random.default_rng(seed)
    x = np.where(busy, 80.0, 20.0) + rng.normal(0, 1.5, len(t))
    skipped = (t // day == 9) & busy
    x[skipped] = 20 + rng.normal(0, 1.5, skipped.sum())
    s = scores(x, step)
    assert s[skipped].max() >= 0.6
    assert s[skipped].max() > s[2 * day : 9 * day].max()  # the noise of the ordinary days


@pytest.mark.parametrize("seed", range(4))
def test_a_weekday_drop_is_seen_in_a_load_with_weekends(seed: int) -> None:
    """A daily swing at half its height on weekends, five weeks; a Wednesday afternoon drops by
    a fifth for two hours. Compared with the median of the past week's days at its time (five
    weekdays), every Saturday was a surprise: that set the week's record, and the drop scored
    0.44-0.46. Against their range (last Saturday in it) Saturdays are ordinary."""
    day = DAY_ROWS
    t = np.arange(35 * day)
    swing = 100 + 40 * np.sin(2 * np.pi * (t % day) / day - np.pi / 2)
    load = np.where((t // day) % 7 >= 5, swing / 2, swing)
    x = load + np.random.default_rng(seed).normal(0, 3, len(t))
    at = 30 * day + 150
    x[at : at + 24] *= 0.8
    s = scores(x, STEP)
    assert s[at : at + 30].max() >= FLAG_THRESHOLD
    assert (s[8 * day : at] >= FLAG_THRESHOLD).sum() == 0  # no weekend flagged


@pytest.mark.parametrize("step", [300, 3600])
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_a_spike_wrong_only_for_its_time_of_day_flags_in_a_strongly_seasonal_series(
    step: int, seed: int
) -> None:
    """A daily sine (amplitude 20, noise 3) with a spike at its trough to the height of its peak:
    no value the series never took, and within the range the hour held on no day. The value's z
    measures it against the whole swing; the seasonal view against the same time on the days
    before, trusted as far as the season explains the series (docs/sidecar.md)."""
    day = 86400 // step
    rng = np.random.default_rng(seed)
    t = np.arange(21 * day)
    x = 50 + 20 * np.sin(2 * np.pi * t / day) + rng.normal(0, 3, len(t))
    at = 15 * day + 3 * day // 4  # the trough
    x[at] += 40
    s = scores(x, float(step))
    elsewhere = np.delete(s[8 * day :], np.arange(at - 8 * day, at - 8 * day + 3))
    assert s[at] >= FLAG_THRESHOLD
    assert s[at] > elsewhere.max()
    without = scores(x, float(step), DetectorParams(seasonal_weight=0))
    assert s[at] > without[at : at + 3].max()  # the view raised it (0.44-0.70 without it)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_daily_rows_are_judged_against_more_than_a_week_of_values(seed: int) -> None:
    """Two years of daily values (a weekly pattern and noise): a week of them is 7 values, and
    every few days one would be a new extreme of its week, flagged. Windows hold at least
    ``min_window_rows``: a few noise flags a year, not one every two weeks."""
    rng = np.random.default_rng(seed)
    days = np.arange(730)
    x = 1000 + 300 * (days % 7 >= 5) + rng.normal(0, 30, len(days))
    flags = np.count_nonzero(scores(x, 86400.0)[120:] >= FLAG_THRESHOLD)
    week_only = np.count_nonzero(
        scores(x, 86400.0, DetectorParams(min_window_rows=2))[120:] >= FLAG_THRESHOLD
    )
    assert flags <= 10  # 610 days
    assert week_only > 2 * flags  # what the longer windows take away


@pytest.mark.parametrize(
    ("before", "after"),
    [(1.0, 0.0), (0.0, 1.0), (5.0, 50.0), (5.0, 5.2)],
    ids=["up-goes-down", "first-error", "gauge-jumps", "four-percent"],
)
def test_a_series_of_one_value_for_a_week_scores_its_first_other_value(
    before: float, after: float
) -> None:
    """A gauge that never moved (`up` at 1, an error count at 0, a replica count) has no range
    to measure a new value by and no surprise to set a record: its first other value scored 0.
    It is as new as a value can be, and flags; the rows after it are the same event. A move of
    a thousandth of the level is a move too (it was not, with the scale's floor at a hundredth
    of the level), and one within a float32's rounding is none: the floor is a millionth of the
    level, and novelty needs a z of 3."""
    x = np.full(10 * 288, before)
    x[9 * 288 :] = after
    s = scores(x, STEP)
    assert s[9 * 288] >= FLAG_THRESHOLD
    assert np.count_nonzero(s[9 * 288 : 9 * 288 + 12]) == 1
    assert np.count_nonzero(s[: 9 * 288]) == 0
    if before:
        x[9 * 288 :] = before * 1.001
        assert scores(x, STEP)[9 * 288] >= FLAG_THRESHOLD
        x[9 * 288 :] = before * (1 + 1e-7)
        assert scores(x, STEP).max() < FLAG_THRESHOLD


def test_where_a_series_sits_and_its_unit_change_no_flag(monkeypatch: pytest.MonkeyPatch) -> None:
    """A temperature in kelvin or in celsius, a disk's bytes or gigabytes, a value or its
    negative: the same flags. With the scale's floor at 1% of the level, white noise at 1,000
    was measured against a floor of 10 instead of its own spread of 2, and a spike of 8 noise
    units went unflagged."""
    step, day = 300.0, 288
    t = np.arange(12 * day) * step
    found = found_before = 0
    for seed in range(8):
        rng = np.random.default_rng(seed)
        x = 20 * np.sin(2 * np.pi * t / 86400) * (seed % 2) + rng.normal(0, 2, len(t))
        at = 10 * day + int(rng.integers(0, day))
        x[at] += 16.0
        flags = scores(x, step) >= FLAG_THRESHOLD
        found += flags[at]
        for times, plus in ((1.0, 1e3), (1.0, 1e6), (1e-6, 0.0), (1e6, 0.0), (-1.0, 0.0)):
            assert np.array_equal(scores(times * x + plus, step) >= FLAG_THRESHOLD, flags)
        with monkeypatch.context() as before:
            before.setattr(anomaly, "LEVEL_FLOOR", 0.01)
            found_before += scores(x + 1e3, step)[at] >= FLAG_THRESHOLD
    assert found == 8
    assert found_before == 4  # the white noise's spikes missed (0.59-0.66), the sines' not


def test_one_absurd_reading_does_not_quiet_the_week_after_it() -> None:
    """An exporter's misread value (1,000,000 in a series at 50) flags, and then was the week's
    record and stretched its range: a spike of 8 noise units three days later flagged in none
    of 10 series, white noise or a daily sine. A reading more than ten ranges of the week
    outside it, whose next row is back inside, now leaves the history once it is over: all 10
    flag. A jump that stays is no such reading, and changes nothing."""
    step, day = 300.0, 288
    t = np.arange(14 * day) * step
    plain = DetectorParams(glitch_ranges=0)
    found = found_before = glitch_flags = 0
    for seed in range(10):
        rng = np.random.default_rng(seed)
        x = 50 + rng.normal(0, 2, len(t)) + 20 * np.sin(2 * np.pi * t / 86400) * (seed % 2)
        at = 11 * day + int(rng.integers(0, day))
        x[at] += 16
        misread = x.copy()
        misread[8 * day + 100] = 1e6
        s = scores(misread, step)
        glitch_flags += s[8 * day + 100] >= FLAG_THRESHOLD
        found += s[at : at + 12].max() >= FLAG_THRESHOLD
        found_before += scores(misread, step, plain)[at : at + 12].max() >= FLAG_THRESHOLD
        assert np.allclose(s, reference(misread, step), atol=1e-9)
        assert np.array_equal(scores(misread[: at + 1], step, last=3)[-3:], s[at - 2 : at + 1])
        stays = x.copy()
        stays[8 * day + 100 :] += 1e6
        assert np.array_equal(scores(stays, step), scores(stays, step, plain))
    assert glitch_flags == 10
    assert found == 10
    assert found_before == 0
    # a series younger than the matrix: its own first two days hold no glitch
    for its_day, found_at in ((1, []), (5, [8 * day])):  # its second day, its sixth
        young = np.concatenate([np.full(3 * day, np.nan), x[: 11 * day]])
        young[3 * day + its_day * day] = 1e6
        odd = np.flatnonzero(anomaly.glitches(young[None, :], step, DetectorParams())[0])
        assert odd.tolist() == found_at
        assert np.allclose(scores(young, step), reference(young, step), atol=1e-9)


@pytest.mark.parametrize("step", [60.0, 300.0, 1800.0])
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_a_value_that_stops_changing_flags_once(step: float, seed: int) -> None:
    """A frozen exporter or a sensor gone flat sends values that are all ordinary: the same
    value, row after row. Three hours of it in a series that never repeated a value flags once,
    at twice the longest run of the week before (30 minutes, at steps of 15 minutes or finer);
    missing rows are not a repeated value, and a series that is mostly one value (a disk's
    writes, 0 between bursts) is flat by nature."""
    rng = np.random.default_rng(seed)
    day = round(86400 / step)
    t = np.arange(12 * day) * step
    x = 50 + 10 * np.sin(2 * np.pi * t / 86400) + rng.normal(0, 2, len(t))
    at, rows = 10 * day + int(rng.integers(0, day // 2)), round(3 * 3600 / step)
    stuck = x.copy()
    stuck[at : at + rows] = x[at - 1]
    # the stuck view alone: the lasting shift of the residuals (a frozen value's residuals
    # no longer average out) can see it first at 1-minute steps
    alone = scores(stuck, step, DetectorParams(seasonal_short_weight=0))
    hit = np.flatnonzero(alone[at : at + rows] >= FLAG_THRESHOLD)
    assert len(hit) == 1
    assert hit[0] + 2 == max(2 * 900 / step, 4)  # the run began at the row it repeats
    both = np.flatnonzero(scores(stuck, step)[at : at + rows] >= FLAG_THRESHOLD)
    assert len(both) == 1
    assert both[0] <= hit[0]
    assert scores(x, step)[at : at + rows].max() < FLAG_THRESHOLD
    # the same rows missing: no value is repeated
    gone = x.copy()
    gone[at : at + rows] = np.nan
    assert np.array_equal(scores(gone, step), scores(gone, step, DetectorParams(stuck_ratio=0)))
    # mostly 0, with bursts: its quiet stretches vary in length, one twice the week's longest
    # is not stuck
    quiet = np.where(rng.random(len(t)) < 0.2, rng.exponential(100, len(t)), 0.0)
    long = 3 * day // 2  # a day and a half
    quiet[at : at + long] = 0.0
    assert np.array_equal(scores(quiet, step), scores(quiet, step, DetectorParams(stuck_ratio=0)))
    ungated = scores(quiet, step, DetectorParams(stuck_max_share=1.0))
    assert ungated[at : at + long].max() >= FLAG_THRESHOLD  # what the share keeps quiet


def test_a_stuck_value_is_scored_live_as_in_full() -> None:
    """The live sidecar scores the newest rows only (``last``): a run that began hours before
    them still counts."""
    x = noisy(12 * DAY_ROWS, seed=3)
    x[-40:] = x[-41]
    full = scores(x, STEP)
    assert full[-40:].max() >= FLAG_THRESHOLD
    assert np.array_equal(scores(x, STEP, last=3)[-3:], full[-3:])
    assert np.array_equal(scores(x, STEP, last=35)[-35:], full[-35:])


@pytest.mark.parametrize("step", [300.0, 1800.0])
def test_a_slow_drift_in_a_daily_swing_flags(step: float) -> None:
    """A drift of 8 noise units over six hours in a daily swing of 20: each row passes the rows
    before it by little, so against a record that held those rows, and with the refractory hour
    taking every row for the same event rising, it flagged in 1 of 8 series at 5 minutes. The
    record now leaves out the last three hours, and the first row of an hour to reach the flag
    is let through (and a new residual counts: ``before`` has neither). The series without the
    drift flag a tenth as often as their noise alone at most (none, before new residuals)."""
    day = round(86400 / step)
    rows = round(6 * 3600 / step)
    before = DetectorParams(
        record_gap_seconds=0, rising_pass_ratio=np.inf, seasonal_novelty_strength=2.0
    )
    flagged = flagged_before = clean = noise_alone = 0
    for seed in range(8):
        rng = np.random.default_rng(seed)
        t = np.arange(12 * day) * step
        noise = rng.normal(0, 2, len(t))
        x = 50 + 20 * np.sin(2 * np.pi * t / 86400) + noise
        at = 10 * day + int(rng.integers(0, day // 2))
        drift = x.copy()
        drift[at : at + rows] += 16 * np.arange(1, rows + 1) / rows
        drift[at + rows :] += 16
        flagged += scores(drift, step)[at : at + rows].max() >= FLAG_THRESHOLD
        flagged_before += scores(drift, step, before)[at : at + rows].max() >= FLAG_THRESHOLD
        clean += flag_events(scores(x, step)[day:], step)
        noise_alone += flag_events(scores(50 + noise, step)[day:], step)
    assert flagged >= 6
    assert flagged_before <= 3
    assert noise_alone >= 10  # 14 and 26 flags in 88 days
    assert clean <= noise_alone / 10  # 0 and 2


def test_a_level_shift_inside_a_daily_swing_flags() -> None:
    """A level shift of 4 noise units for six hours in a daily sawtooth (a disk filled and
    cleaned) and in a daily sine: each residual lies about as far out as the week's noise, so
    without the residuals' short mean it flagged within two hours in 14 of 24 series (5 of 12
    sawtooths); with it in all 24. The series without the shift raise no flag either way."""
    step, day = 300.0, 288
    without = DetectorParams(seasonal_short_weight=0)
    flagged = flagged_without = clean = 0
    for seed in range(12):
        for saw in (True, False):
            rng = np.random.default_rng(seed)
            t = np.arange(12 * day) * step
            if saw:
                x, unit = 20 + 60 * (t % 86400) / 86400 + rng.normal(0, 1, len(t)), 1.0
            else:
                x, unit = 50 + 20 * np.sin(2 * np.pi * t / 86400) + rng.normal(0, 2, len(t)), 2.0
            at = 10 * day + int(rng.integers(0, day))
            shifted = x.copy()
            shifted[at : at + 72] += 4 * unit
            flagged += scores(shifted, step)[at : at + 24].max() >= FLAG_THRESHOLD
            flagged_without += scores(shifted, step, without)[at : at + 24].max() >= FLAG_THRESHOLD
            clean += flag_events(scores(x, step)[day:], step)
    assert flagged >= 22
    assert flagged_without <= 16
    assert clean == 0


def test_a_day_without_its_swing_flags() -> None:
    """A daily swing that does not come (the day flat at the series' median): the day moves away
    from what its hours should be from midnight on, a little more each row, as a drift does. It
    never flagged before the record left out its last hours; now it does, in 11 of 12 series.
    The series with their swing flag a tenth as often as their noise alone at most."""
    before = DetectorParams(
        record_gap_seconds=0, rising_pass_ratio=np.inf, seasonal_novelty_strength=2.0
    )
    flagged = flagged_before = clean = noise_alone = 0
    for step in (300.0, 1800.0):
        day = round(86400 / step)
        for seed in range(6):
            rng = np.random.default_rng(seed)
            t = np.arange(12 * day) * step
            noise = rng.normal(0, 2, len(t))
            x = 50 + 20 * np.sin(2 * np.pi * t / 86400) + noise
            flat = x.copy()
            flat[10 * day : 11 * day] = 50 + rng.normal(0, 2, day)
            flagged += scores(flat, step)[10 * day : 11 * day].max() >= FLAG_THRESHOLD
            flagged_before += (
                scores(flat, step, before)[10 * day : 11 * day].max() >= FLAG_THRESHOLD
            )
            clean += flag_events(scores(x, step)[day:], step)
            noise_alone += flag_events(scores(50 + noise, step)[day:], step)
    assert flagged >= 11
    assert flagged_before == 0
    assert noise_alone >= 10
    assert clean <= noise_alone / 10


def test_a_spike_inside_a_strong_daily_swing_flags() -> None:
    """A spike or dip of 8 noise units at any time of day in a daily sine or a sawtooth: a value
    the series takes every day, whose seasonal surprise is measured against a record the noise
    set. Its residual (the value less the median of the same time on the days before) is new
    as the same spike in white noise is: flagged in 32 of 32 series, 21 without that."""
    without = DetectorParams(seasonal_novelty_strength=2.0)  # no season is that strong
    flagged = flagged_before = 0
    for shape in ("sine", "sawtooth"):
        for step in (300.0, 1800.0):
            day = round(86400 / step)
            for seed in range(8):
                rng = np.random.default_rng(seed)
                t = np.arange(12 * day) * step
                swing = (
                    20 * np.sin(2 * np.pi * t / 86400)
                    if shape == "sine"
                    else 60 * (t % 86400) / 86400
                )
                x = 50 + swing + rng.normal(0, 2, len(t))
                at = 10 * day + int(rng.integers(day // 10, 9 * day // 10))
                x[at] += 16 if seed % 2 else -16
                flagged += scores(x, step)[at] >= FLAG_THRESHOLD
                flagged_before += scores(x, step, without)[at] >= FLAG_THRESHOLD
    assert flagged >= 30
    assert flagged_before <= 24


def test_a_load_with_lower_weekends_read_a_week_at_a_time_rarely_flags() -> None:
    """The live sidecar scores the last week (residuals from its third day on): on a weekend's
    first morning no weekend is among the residuals before it, and a load whose weekends peak
    lower (60 for 80) has new residuals then. They count only where the value lies outside
    what every day of the week held around its hour, which the Sunday before did: read every
    30 minutes for three weeks, 1 tick of 3,027 flags (7 without that)."""
    step, day = 300.0, 288
    t = np.arange(28 * day) * step
    hour = (t % 86400) / 3600
    working = np.clip(hour - 8, 0, 1) * np.clip(18 - hour, 0, 1)
    weekday = (t // 86400) % 7 < 5
    week, tick = 7 * day, 6
    ticks = flagged = 0
    for seed in range(3):
        x = 30 + np.where(weekday, 50, 30) * working
        x = x + np.random.default_rng(seed).normal(0, 3, len(t))
        ends = np.arange(week, len(x) + 1, tick)
        reads = np.stack([x[end - week : end] for end in ends])
        newest = scores(reads, step, last=tick)[:, -tick:]
        ticks += len(ends)
        flagged += int((newest >= FLAG_THRESHOLD).any(axis=1).sum())
    assert ticks == 3 * (21 * 48 + 1)
    assert flagged <= 2


def test_a_steady_trend_is_taken_out() -> None:
    """A line rising 1.5 noise units a day, alone and in a daily swing, makes a new high every
    few hours: against the week's own values it flagged 86 times in 240 days, and a spike or
    dip of 8 noise units on it flagged in 8 of 48 cases (a dip lands on the level of some
    days before, which the hour's range and the week's spread hold). With the trend taken out
    (the week's values a day apart rise three times in four or more): 31 times, and 48 of 48."""
    without = DetectorParams(trend_agree=2.0)  # no window's pairs agree that often
    flags = flags_before = spikes = spikes_before = 0
    for step in (300.0, 1800.0):
        day = round(86400 / step)
        for seed in range(6):
            rng = np.random.default_rng(seed)
            t = np.arange(21 * day) * step
            x = 50 + 3 * t / 86400 + rng.normal(0, 2, len(t))
            if seed % 2:
                x += 10 * np.sin(2 * np.pi * t / 86400)
            flags += flag_events(scores(x, step)[day:], step)
            flags_before += flag_events(scores(x, step, without)[day:], step)
            for k in range(4):
                at = (12 + 2 * k) * day + int(rng.integers(0, day))
                y = x.copy()
                y[at] += 16 if k % 2 else -16
                spikes += scores(y, step)[at] >= FLAG_THRESHOLD
                spikes_before += scores(y, step, without)[at] >= FLAG_THRESHOLD
    assert flags_before >= 60
    assert flags <= flags_before / 2
    assert spikes_before <= 16
    assert spikes >= 44


def test_a_shift_in_the_week_is_no_trend() -> None:
    """Two level shifts of 5 noise units four days apart: the first shift's pairs a day apart
    all rise, the rest rise as often as they fall, so no week is a trend and every score is
    what it was without trends taken out."""
    step, day = 300.0, 288
    without = DetectorParams(trend_agree=2.0)
    for seed in range(4):
        rng = np.random.default_rng(seed)
        x = 50 + rng.normal(0, 2, 16 * day)
        x[9 * day :] += 10
        at = 13 * day + int(rng.integers(0, day))
        x[at:] += 10
        assert np.array_equal(scores(x, step), scores(x, step, without))


def _trending(seed: int) -> tuple[npt.NDArray[np.float64], float]:
    """A rising or falling line, some younger than a week, some in a daily swing, with spikes
    and gaps."""
    rng = np.random.default_rng(200 + seed)
    step = float(rng.choice([300.0, 1800.0, 3600.0]))
    day = round(86400 / step)
    n = int(rng.integers(4 * day, 12 * day))
    t = np.arange(n) * step
    x = 50 + rng.choice([-1.0, 1.0]) * rng.uniform(2, 6) * t / 86400 + rng.normal(0, 2, n)
    if seed % 2:
        x += 10 * np.sin(2 * np.pi * t / 86400)
    x[rng.integers(3 * day, n, 4)] += rng.choice([-16.0, 16.0], 4)
    if seed % 3 == 0:
        x[rng.integers(0, n, n // 20)] = np.nan
    return x, step


@pytest.mark.parametrize("seed", range(6))
def test_the_matrix_scorer_equals_the_plain_reference_on_trends(seed: int) -> None:
    """The trend taken out as the plain reference does, and the newest rows as the full
    computation's."""
    x, step = _trending(seed)
    full = scores(x, step)
    assert np.allclose(full, reference(x, step), atol=1e-9)
    without = scores(x, step, DetectorParams(trend_agree=2.0))
    if not np.array_equal(full, without):  # where the part under test scored
        at = int(np.argmax(full != without)) + 1
        assert np.array_equal(scores(x[:at], step, last=3)[-3:], full[at - 3 : at])


def test_the_trend_part_is_under_test() -> None:
    """The seeds above take a trend out somewhere: else their equality says nothing of it."""
    without = DetectorParams(trend_agree=2.0)
    series = [_trending(seed) for seed in range(6)]
    differ = sum(not np.array_equal(scores(x, s), scores(x, s, without)) for x, s in series)
    assert differ >= 3


def test_a_steady_trend_read_a_week_at_a_time_rarely_flags() -> None:
    """The live sidecar scores the newest rows of a week's read: a line rising 1.5 noise units a
    day (alone, and in a daily swing) read every 30 minutes for two weeks flagged 30 of 2,019
    reads in three seeds without the trend taken out, 3 with it (its first days in each read
    have no trend known yet: the slope needs half a week of pairs a day apart)."""
    step, day = 300.0, 288
    t = np.arange(21 * day) * step
    week, tick = 7 * day, 6
    without = DetectorParams(trend_agree=2.0)
    flagged = flagged_before = 0
    for seed in range(3):
        rng = np.random.default_rng(seed)
        x = 50 + 3 * t / 86400 + rng.normal(0, 2, len(t))
        if seed % 2:
            x += 10 * np.sin(2 * np.pi * t / 86400)
        reads = np.stack([x[end - week : end] for end in range(week, len(x) + 1, tick)])
        flagged += int((scores(reads, step, last=tick)[:, -tick:] >= FLAG_THRESHOLD).any(1).sum())
        before = scores(reads, step, without, last=tick)[:, -tick:]
        flagged_before += int((before >= FLAG_THRESHOLD).any(axis=1).sum())
    assert flagged_before >= 15
    assert flagged <= flagged_before / 4
