"""Rows that are not evenly spaced: the CLI scores and forecasts them on a time grid, so that a
day is a day of columns wherever rows are missing (as the live sidecar's Prometheus reads are)."""

from __future__ import annotations

import csv
import io
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from forecaster_sidecar.analyse import FLAG_THRESHOLD
from forecaster_sidecar.anomaly import scores, step_of
from forecaster_sidecar.csvio import GRID_BUDGET, MAX_GAP_SECONDS, regular
from globalmon.cli import main

STEP = 300.0
DAY = 288


@settings(max_examples=200, deadline=None)
@given(
    st.lists(st.floats(0.001, 1e7), min_size=0, max_size=300),  # gaps between rows, seconds
    st.floats(1, 3600),
    st.lists(st.booleans(), min_size=301, max_size=301),  # rows that hold no value
)
def test_every_row_has_a_column_at_its_time_in_order(
    gaps: list[float], step: float, empty: list[bool]
) -> None:
    stamps = 1.6e9 + np.concatenate([[0.0], np.cumsum(gaps)])
    values = np.where(empty[: len(stamps)], np.nan, np.arange(len(stamps), dtype=float))
    grid = regular(stamps, values, step)
    assert grid.columns[0] == 0
    steps = np.diff(grid.columns)
    assert np.all(steps >= 0)  # in order, none lost
    # a column holds the last of its rows with a value; the rest are gaps
    last = {int(c): v for c, v in zip(grid.columns, values, strict=True) if not np.isnan(v)}
    assert [grid.values[c] for c in last] == list(last.values())
    assert np.isnan(np.delete(grid.values, list(last))).all()
    assert len(grid.values) <= GRID_BUDGET * len(values) + 1_000_000
    week = max(1, round(MAX_GAP_SECONDS / step))
    fits = (stamps[-1] - stamps[0]) / step + len(stamps) + 1 <= GRID_BUDGET * len(values) + 1e6
    if (np.diff(stamps) < step * (week - 1)).all() and fits:
        # no gap capped: a column is a row's time, a step early or two late at most (its own
        # grid point, and one column late when the row before took that one), however many rows
        late = grid.columns - (stamps - stamps[0]) / step
        assert (late > -1.5).all()
        assert (late < 2.5).all()
        # rows share a column only when they come within a step of each other
        assert (np.diff(stamps)[steps == 0] < step).all()
    else:  # a gap of more than a week leaves a week of columns, or fewer at the budget
        assert steps.max() <= week


@settings(max_examples=200, deadline=None)
@given(
    st.lists(st.integers(1, 3), min_size=100, max_size=400),  # steps between rows
    st.floats(0, 1),  # where the grid lies within a step
    st.floats(0, 0.45),  # how far a row may be from its point of the grid, in steps
    st.integers(0, 2**32 - 1),
    st.sampled_from([15.0, 60.0, 300.0, 3600.0]),
)
def test_rows_jittered_around_a_grid_stay_at_their_time(
    between: list[int], phase: float, most: float, seed: int, step: float
) -> None:
    """A collector whose rows come 5 minutes apart give or take two: each row within two steps
    of its point of the grid, however many rows (rounded a spacing at a time, two short spacings
    were a column each, and the columns drifted from the times without bound)."""
    k = np.concatenate([[0], np.cumsum(between)])
    jitter = np.random.default_rng(seed).uniform(-most, most, len(k))
    stamps = 1.6e9 + step * (k + phase + jitter)
    grid = regular(stamps, np.zeros(len(stamps)), step)
    assert np.abs(grid.columns - (k - k[0])).max() <= 2
    # within a quarter of a step of the grid, each row is in its own column exactly
    calm = 1.6e9 + step * (k + phase + jitter * min(1.0, 0.25 / max(most, 1e-9)))
    assert np.array_equal(regular(calm, np.zeros(len(k)), step).columns, k)


def test_evenly_spaced_rows_are_their_own_grid() -> None:
    stamps = 1.6e9 + STEP * np.arange(1000, dtype=np.float64)
    values = np.random.default_rng(0).normal(size=1000)
    grid = regular(stamps, values, step_of(stamps))
    assert grid.step == STEP
    assert np.array_equal(grid.columns, np.arange(1000))
    assert np.array_equal(grid.values, values)


def test_a_file_of_seconds_with_a_gap_of_years_stays_within_the_budget() -> None:
    stamps = np.concatenate([np.arange(100_000.0), 1e9 + np.arange(100_000.0)])
    grid = regular(stamps, np.ones(len(stamps)), 1.0)
    assert len(grid.values) <= GRID_BUDGET * len(stamps) + 1_000_000


def nightly(days: int, seed: int) -> np.ndarray:
    t = np.arange(days * DAY)
    x = 50 + 10 * np.sin(2 * np.pi * t / DAY)
    x += np.random.default_rng(seed).normal(0, 0.5, len(t))
    for d in range(days):
        x[d * DAY + 100 : d * DAY + 103] += 100  # the nightly job, every day at the same time
    return x


def write(path: Path, stamps: np.ndarray, values: np.ndarray) -> None:
    lines = ["timestamp,value"] + [
        f"{datetime.fromtimestamp(int(t), UTC):%Y-%m-%d %H:%M:%S},{float(v)!r}"
        for t, v in zip(stamps, values, strict=True)
    ]
    path.write_text("\n".join(lines) + "\n")


@pytest.mark.parametrize("seed", range(3))
@pytest.mark.parametrize("jitter", [0.0, 0.4])
def test_a_nightly_job_is_expected_at_its_hour_when_rows_are_missing(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], seed: int, jitter: float
) -> None:
    """Two rows in five lost at random: counted as rows, yesterday would be about 170 rows back
    and the job at a different hour every day; on the time grid it is where it always was. So
    too when each row comes up to two minutes early or late (``jitter`` of a 5-minute step)."""
    x = nightly(10, seed)
    odd = 9 * DAY + 44  # another time of day where the swing is at the same height
    x[odd : odd + 3] += 100
    rng = np.random.default_rng(seed)
    keep = rng.random(len(x)) < 0.6
    jobs = [d * DAY + 100 + k for d in range(10) for k in range(3)]
    keep[jobs] = keep[odd : odd + 3] = True  # the rows the assertions read
    late = rng.uniform(-jitter, jitter, len(x))[keep]
    stamps = np.round(1.6e9 + STEP * (np.flatnonzero(keep) + late))
    path = tmp_path / "irregular.csv"
    write(path, stamps, x[keep])
    assert main(["sidecar", "detect", str(path)]) == 0
    got = np.array(
        [float(r["anomaly_score"]) for r in csv.DictReader(io.StringIO(capsys.readouterr().out))]
    )
    row = {int(c): i for i, c in enumerate(np.flatnonzero(keep))}
    assert max(got[row[c]] for c in range(odd, odd + 3)) >= FLAG_THRESHOLD
    assert max(got[row[c]] for c in jobs[2 * 3 :]) < 0.5  # under the record from the third day
    # the same rows taken as evenly spaced lose the time of day: the jobs pass the week's record
    # (they look out of place) and the spike out of its hour is not flagged
    as_rows = scores(x[keep], STEP)
    assert max(as_rows[row[c]] for c in jobs[2 * 3 :]) > 0.5
    assert max(as_rows[row[c]] for c in range(odd, odd + 3)) < FLAG_THRESHOLD


@pytest.mark.parametrize("jitter", [0.0, 0.4])
def test_forecasts_of_a_file_with_missing_rows_keep_the_daily_season(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], jitter: float
) -> None:
    t = np.arange(14 * DAY)
    x = 50 + 10 * np.sin(2 * np.pi * t / DAY) + np.random.default_rng(1).normal(0, 0.3, len(t))
    keep = np.random.default_rng(2).random(len(t)) < 0.6
    keep[-1] = True
    late = np.random.default_rng(3).uniform(-jitter, jitter, len(t))
    late[-1] = 0.0  # the forecast's times follow the last row's
    path = tmp_path / "irregular.csv"
    write(path, np.round(1.6e9 + STEP * (t + late))[keep], x[keep])
    assert main(["sidecar", "forecast", str(path), "--horizon", "1d"]) == 0
    rows = list(csv.DictReader(io.StringIO(capsys.readouterr().out)))
    assert len(rows) == DAY
    ahead = t[-1] + 1 + np.arange(DAY)
    truth = 50 + 10 * np.sin(2 * np.pi * ahead / DAY)
    yhat = np.array([float(r["yhat"]) for r in rows])
    assert np.abs(yhat - truth).mean() < 1.0  # the swing is 10 either side


@pytest.mark.parametrize("seed", range(3))
def test_rows_that_come_faster_than_the_grid_stay_at_their_time(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], seed: int
) -> None:
    """Ten days of 5-minute rows, then two of 1-minute rows (a collector's interval changed):
    the grid is 5 minutes, and each fast row in a column of its own ran 8 days ahead of its
    time by the end, its daily swing at the wrong hour (2-4 false flags in those two days). Now
    the fast rows share their columns, which stay at their time: no flag, and a spike where a
    column reads it (its last row) is flagged."""
    fast_from = 10 * DAY * STEP
    t = np.concatenate([np.arange(0, fast_from, STEP), np.arange(fast_from, 12 * DAY * STEP, 60)])
    rng = np.random.default_rng(seed)
    x = 50 + 20 * np.sin(2 * np.pi * t / (DAY * STEP)) + rng.normal(0, 2, len(t))
    path = tmp_path / "faster.csv"
    write(path, 1.6e9 + t, x)
    assert main(["sidecar", "detect", str(path)]) == 0
    rows = list(csv.DictReader(io.StringIO(capsys.readouterr().out)))
    assert len(rows) == len(t)  # a score for every row
    got = np.array([float(r["anomaly_score"]) for r in rows])
    assert got[t >= fast_from].max() < FLAG_THRESHOLD
    grid = regular(1.6e9 + t, x, step_of(1.6e9 + t))
    assert grid.step == STEP
    assert np.abs(grid.columns - t / STEP).max() <= 1.5  # its time, or a column late at most
    # a spike of 8 noise units where its column reads it (the last of the column's rows) flags
    fast = np.flatnonzero(t >= fast_from)
    last = fast[np.diff(grid.columns[fast], append=-1) != 0]  # each column's last row
    at = last[len(last) // 2 + 7 * seed]
    x[at] += 16
    write(path, 1.6e9 + t, x)
    assert main(["sidecar", "detect", str(path)]) == 0
    spiked = [
        float(r["anomaly_score"]) for r in csv.DictReader(io.StringIO(capsys.readouterr().out))
    ]
    assert spiked[at] >= FLAG_THRESHOLD
