"""bench/_nab.py: NAB's scoring as its README states it, on hand-made cases."""

from __future__ import annotations

import numpy as np
import pytest

from bench import _nab as nab

N = 1000  # probation: the first 150 rows


def corpus(windows: list[tuple[int, int]]) -> list[nab.Labelled]:
    return [nab.Labelled("f.csv", np.arange(N), np.zeros(N), windows)]


def score(windows: list[tuple[int, int]], hits: list[int], profile: str = "standard") -> float:
    s = np.zeros(N)
    s[hits] = 1.0
    return nab.corpus_score(corpus(windows), [s], profile).score


def test_perfect_never_and_bounds() -> None:
    w = [(400, 499), (700, 799)]
    assert score(w, [400, 700]) == pytest.approx(100.0)
    assert score(w, []) == 0.0


def test_earlier_detection_scores_more() -> None:
    w = [(400, 499)]
    early, late = score(w, [420]), score(w, [490])
    assert 0 < late < early < 100
    # y = -(499 - 490 + 1) / 100 = -0.1: S(-0.1) / S(-1) of one window, normalised over [-1, 1]
    expected = nab.sigmoid(-0.1) / nab.sigmoid(-1.0)
    assert late == pytest.approx(100 * (float(expected) + 1) / 2)


def test_only_the_earliest_detection_in_a_window_counts() -> None:
    w = [(400, 499)]
    assert score(w, [420, 430, 440]) == score(w, [420])


def test_false_positives_cost_less_just_after_a_window() -> None:
    w = [(400, 499)]
    base = score(w, [400])
    right_after, far, before = score(w, [400, 505]), score(w, [400, 900]), score(w, [400, 200])
    assert base > right_after > far
    # no preceding window: the full fpWeight (0.11 of 2 raw points per window)
    assert before == pytest.approx(base - 100 * 0.11 / 2)


def test_probation_rows_are_not_scored() -> None:
    w = [(400, 499)]
    assert score(w, [400, 100]) == score(w, [400])


def test_the_threshold_is_chosen_for_the_corpus() -> None:
    s = np.zeros(N)
    s[400] = 0.9  # a true detection
    s[[200, 300, 600]] = 0.5  # false ones, lower
    result = nab.corpus_score(corpus([(400, 499)]), [s])
    assert result.threshold == pytest.approx(0.9)
    assert result.score == pytest.approx(100.0)


def test_profiles_weigh_misses_and_false_alarms() -> None:
    w = [(400, 499), (700, 799)]
    s = np.zeros(N)
    s[400] = 1.0
    raw = {
        p: nab.corpus_score(corpus(w), [s], p).per_file["f.csv"]
        for p in ("standard", "reward_low_FN_rate")
    }
    assert raw == pytest.approx({"standard": 0.0, "reward_low_FN_rate": -1.0})  # 1 hit, 1 miss
    assert score(w, [400, 700, 200], "reward_low_FP_rate") < score(w, [400, 700, 200])


def test_outcome_names_each_window_and_false_alarm() -> None:
    f = corpus([(400, 499), (700, 799)])[0]
    s = np.zeros(N)
    s[[100, 200, 450, 460, 900]] = [1.0, 1.0, 1.0, 0.3, 0.5]
    seen = nab.outcome(f, s, 0.5)
    # row 100 is in probation; 460 is under the threshold; window 2 is missed
    assert seen == nab.Outcome(found=[0.5, None], false_rows=[200, 900])
    assert nab.outcome(f, s, 0.2).found == [0.5, None]


def test_a_false_alarm_after_a_window_of_one_row_is_priced_as_after_one_of_two() -> None:
    """width - 1 = 0 would divide by zero (an error under the suite's warnings): the distance
    past a one-row window is taken over 1, so 2 rows after it is d = 2."""
    w = [(400, 400)]
    raw = 1.0 + 0.11 * float(nab.sigmoid(2.0))  # the window found at its start, the alarm at d=2
    assert score(w, [400, 402]) == pytest.approx(100 * (raw + 1) / 2)


def test_derived_files_keep_their_windows_in_time() -> None:
    stamps = 1_400_000_000 + 300 * np.arange(N)
    f = nab.Labelled("f.csv", stamps, np.arange(N, dtype=float), [(400, 499), (700, 710)])
    for thin in nab.thinned([f], keep=0.5, seed=3):
        assert len(thin.values) < N
        for (lo, hi), (a, b) in zip(thin.windows, f.windows, strict=True):
            assert stamps[a] <= thin.timestamps[lo]
            assert thin.timestamps[hi] <= stamps[b]
        assert np.array_equal(thin.values, (thin.timestamps - stamps[0]) / 300)  # rows as read
    stamps_twice = stamps.copy()
    stamps_twice[101] = stamps_twice[100]  # a time written twice (a clock change) stays so
    (moved,) = nab.late([nab.Labelled("f.csv", stamps_twice, f.values, f.windows)])
    assert moved.windows == f.windows
    assert moved.values is f.values
    assert moved.timestamps[101] == moved.timestamps[100]
    assert np.all(np.delete(np.diff(moved.timestamps), 100) > 0)
    assert np.abs(moved.timestamps - stamps_twice).max() <= 0.4 * 300 + 1
    assert np.abs(moved.timestamps - stamps_twice).mean() > 0.1 * 300  # moved, at random
    (hourly,) = nab.coarser([f], 12)
    assert len(hourly.values) == N // 12
    assert hourly.values[0] == np.mean(np.arange(12))
    assert hourly.windows == [(400 // 12, 499 // 12), (700 // 12, 710 // 12)]
