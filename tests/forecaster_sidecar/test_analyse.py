"""The sidecar's outputs for one target: capacity by polarity, trend direction, shards."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from forecaster_sidecar.analyse import STALE_SECONDS, Sample, analyse, kept, shard_of
from forecaster_sidecar.app import render
from forecaster_sidecar.prometheus import Matrix
from globalmon import conventions as c
from globalmon.spec.forecast import Forecast

STEP = 300.0


def target(**kw: object) -> Forecast:
    return Forecast.model_validate(
        {"name": "t", "expr": "x", "horizons": ["1h", "24h"], "seasonality": "none", **kw}
    )


def matrix(*rows: np.ndarray) -> Matrix:
    labels = [{"instance": f"h{i}", "job": "j"} for i in range(len(rows))]
    return Matrix(labels, 0.0, STEP, np.stack(rows))


def values(samples: list[Sample], name: str, instance: str) -> list[float]:
    return [s.value for s in samples if s.name == name and s.labels["instance"] == instance]


def test_capacity_and_trend_follow_the_polarity() -> None:
    n = 2000
    rising = np.linspace(0.1, 0.5, n)  # reaches 0.6 about 500 steps (42 h) on: beyond 24h
    fast = np.linspace(0.1, 0.55, n)  # within the day
    falling = np.linspace(0.9, 0.7, n)
    samples, count = analyse(target(limit=0.6), matrix(rising, fast, falling))
    assert count == 3
    assert values(samples, c.CAPACITY_EXHAUSTION.name, "h0") == []  # not within the horizon
    [left] = values(samples, c.CAPACITY_EXHAUSTION.name, "h1")
    assert 0 < left < 86400
    # already past the limit: zero, not absent
    assert values(samples, c.CAPACITY_EXHAUSTION.name, "h2") == [0.0]
    assert values(samples, c.TREND_DIRECTION.name, "h0") == [1.0]
    assert values(samples, c.TREND_DIRECTION.name, "h2") == [-1.0]
    samples, _ = analyse(target(limit=0.2, polarity="lower_is_worse"), matrix(falling))
    assert values(samples, c.TREND_DIRECTION.name, "h0") == [1.0]  # falling is degrading here


def test_flat_series_are_stable_and_empty_series_are_skipped() -> None:
    flat = np.full(500, 3.0)
    empty = np.full(500, np.nan)
    samples, count = analyse(target(), matrix(flat, empty))
    assert count == 1
    assert values(samples, c.TREND_DIRECTION.name, "h0") == [0.0]
    assert values(samples, c.ANOMALY_FLAG.name, "h0") == [0.0]
    assert not [s for s in samples if s.labels.get("instance") == "h1"]
    bands = [s for s in samples if s.name == c.FORECAST.name]
    assert {(s.labels["horizon"], s.labels["bound"]) for s in bands} == {
        (h, b)
        for h in ("1h", "24h")
        for b in ("yhat", "yhat_lower", "yhat_upper", "yhat_lower_80", "yhat_upper_80")
    }


def test_shards_are_stable_and_cover_every_series() -> None:
    labels = [{"instance": f"host-{i}:9100", "job": "node"} for i in range(300)]
    first = [shard_of(lab, 3) for lab in labels]
    assert first == [shard_of(dict(reversed(list(lab.items()))), 3) for lab in labels]
    assert set(first) == {0, 1, 2}
    assert min(first.count(s) for s in range(3)) > 60


def test_render_escapes_label_values() -> None:
    text = render([Sample(c.ANOMALY_SCORE.name, {"path": 'a"b\\c\nd', "target": "t"}, 0.5)])
    assert 'path="a\\"b\\\\c\\nd"' in text
    assert text.startswith(f"# HELP {c.ANOMALY_SCORE.name} ")


def test_chunks_give_the_same_samples_and_report_progress() -> None:
    rng = np.random.default_rng(2)
    rows = [np.cumsum(rng.normal(0, 1, 600)) + 100 for _ in range(5)]
    whole, n = analyse(target(limit=150.0), matrix(*rows))
    calls: list[tuple[int, int]] = []
    parts, m = analyse(
        target(limit=150.0), matrix(*rows), chunk=2, progress=lambda d, t: calls.append((d, t))
    )
    assert n == m == 5
    assert calls == [(2, 5), (4, 5), (5, 5)]
    key = [(s.name, sorted(s.labels.items())) for s in whole]
    assert key == [(s.name, sorted(s.labels.items())) for s in parts]
    assert np.allclose([s.value for s in whole], [s.value for s in parts])


def test_chunks_in_threads_give_what_one_thread_gives() -> None:
    rng = np.random.default_rng(3)
    rows = [np.cumsum(rng.normal(0, 1, 700)) + 50 for _ in range(9)]
    one, _ = analyse(target(limit=80.0), matrix(*rows), chunk=2, workers=1)
    three, _ = analyse(target(limit=80.0), matrix(*rows), chunk=2, workers=3)
    assert [(s.name, s.labels, s.value) for s in one] == [
        (s.name, s.labels, s.value) for s in three
    ]


def test_series_near_floats_limit_are_forecast_and_scored_on_their_own_scale() -> None:
    """A series around 1e306 beside an ordinary one: the models' and the detector's sums would
    overflow (NaN forecasts before), so the row is scaled by a power of two inside; the other
    row's figures are exactly what they are alone."""
    rng = np.random.default_rng(3)
    n = 2000
    wave = 1 + 0.3 * np.sin(2 * np.pi * np.arange(n) / 288) + 0.02 * rng.normal(size=n)
    wave[1500] = 3.0  # a spike the detector should still see
    huge, ordinary = 1e306 * wave, 10 * wave
    samples, count = analyse(target(), matrix(huge, ordinary))
    assert count == 2
    alone, _ = analyse(target(), matrix(ordinary))
    for name in (c.FORECAST.name, c.ANOMALY_SCORE.name, c.TREND_SLOPE.name):
        big = np.array(values(samples, name, "h0"))
        assert big.size, name
        assert np.isfinite(big).all(), name
        assert values(samples, name, "h1") == values(alone, name, "h0"), name
    forecast = np.array(values(samples, c.FORECAST.name, "h0"))
    # the same forecast as the ordinary row's, on the other scale (up to the noise's rounding)
    ratio = forecast / np.array(values(samples, c.FORECAST.name, "h1"))
    assert np.allclose(ratio, 1e305, rtol=1e-6)


def test_infinite_values_are_gaps_to_the_models_and_news_to_the_detector() -> None:
    """Prometheus answers +Inf for a quantile past the last bucket and for a division by zero.
    No model forecasts infinity and no trend follows it: to them such a point is a gap. To the
    detector it is as unusual as a value can be. A series that is only +Inf is skipped, like
    one with no points."""
    rng = np.random.default_rng(5)
    n = 2016
    clean = 10 + rng.normal(size=n)
    spiky = clean.copy()
    spiky[[100, 900, 1500]] = np.inf  # now and then, earlier
    now = clean.copy()
    now[-1] = np.inf  # at the newest point
    never = np.full(n, np.inf)
    samples, count = analyse(target(), matrix(spiky, now, never, clean))
    assert count == 3
    assert all(np.isfinite(s.value) for s in samples)
    assert not [s for s in samples if s.labels.get("instance") == "h2"]
    assert values(samples, c.ANOMALY_FLAG.name, "h1") == [1.0]
    assert values(samples, c.ANOMALY_FLAG.name, "h0") == [0.0]
    # the points filled from their neighbours: a forecast beside the clean series'
    ours = np.array(values(samples, c.FORECAST.name, "h0"))
    theirs = np.array(values(samples, c.FORECAST.name, "h3"))
    assert np.allclose(ours, theirs, atol=1.0)
    for name in (c.TREND_SLOPE.name, c.TREND_DIRECTION.name):
        assert values(samples, name, "h1")  # a trend, not NaN


def test_series_gone_for_half_an_hour_are_not_analysed() -> None:
    """A retired host's series stays in Prometheus' history for weeks: forecasting it, or
    flagging its disk as filling, would speak for something that is not there. A scrape missed
    now and then (the newest points NaN for less than STALE_SECONDS) is not gone."""
    rng = np.random.default_rng(7)
    n = 2000
    live = 10 + rng.normal(size=n)
    missed = live.copy()
    gone = live.copy()
    recent = int(STALE_SECONDS // STEP)  # the points within STALE_SECONDS of the end
    missed[-(recent - 1) :] = np.nan  # the last finite point is just inside it
    gone[-recent:] = np.nan  # every point inside it missing
    samples, count = analyse(target(limit=100.0), matrix(live, missed, gone))
    assert count == 2
    assert values(samples, c.FORECAST.name, "h1")
    assert not [s for s in samples if s.labels.get("instance") == "h2"]


@given(
    st.dictionaries(
        st.sampled_from(["target", "horizon", "bound", "exported_target", "instance", "job"]),
        st.text(max_size=3),
        min_size=1,
    )
)
def test_source_labels_named_like_ours_are_kept_as_exported(labels: dict[str, str]) -> None:
    """A blackbox or SNMP exporter's series carry a `target` label of their own. Overwritten,
    two series that differ only there would be one output series twice, each with the other's
    forecast; kept as `exported_target` (as Prometheus keeps a clashing target label) every
    source label survives under a name of its own, and no name of ours is taken."""
    out = kept(labels)
    assert not set(out) & {"target", "horizon", "bound"}
    assert sorted(out.values()) == sorted(labels.values())  # nothing lost
    for name, value in labels.items():
        if name not in ("target", "horizon", "bound"):
            assert out[name] == value  # the others keep their names
        else:
            renamed = [k for k in out if k.endswith(name) and k.startswith("exported_")]
            assert any(out[k] == value for k in renamed)


def test_series_that_differ_only_in_a_target_label_stay_two() -> None:
    rng = np.random.default_rng(8)
    a, b = 10 + rng.normal(size=500), 50 + rng.normal(size=500)
    labels = [
        {"instance": "probe", "target": "https://a"},
        {"instance": "probe", "target": "https://b"},
    ]
    samples, count = analyse(target(), Matrix(labels, 0.0, STEP, np.stack([a, b])))
    assert count == 2
    yhat = [s for s in samples if s.name == c.FORECAST.name and s.labels["bound"] == "yhat"]
    keys = [tuple(sorted(s.labels.items())) for s in yhat]
    assert len(keys) == len(set(keys)) == 4  # two series x two horizons, none twice
    by_site = {(s.labels["exported_target"], s.labels["horizon"]): s.value for s in yhat}
    assert by_site[("https://a", "1h")] < 20 < by_site[("https://b", "1h")]
    assert all(s.labels["target"] == "t" for s in yhat)


def test_the_detector_reads_its_own_finer_week_when_given_one() -> None:
    """A 14-day history is read at 10 minutes; the detector's week is read again at 5. A
    five-minute burst in the last row of the finer read is flagged from it; the coarse read
    (its 10-minute means: the burst halved, and the hour's usual noise) is not what flags.
    A series the finer read lacks gets a score of 0, not an error."""
    rng = np.random.default_rng(9)
    fine_rows, coarse_rows = 2016, 2016
    fine = 100 + rng.normal(0, 1, (2, fine_rows))
    fine[0, -1] += 15  # the burst, in the newest 5 minutes
    coarse = 100 + rng.normal(0, 1 / np.sqrt(2), (2, coarse_rows))
    labels = [{"instance": "a"}, {"instance": "b"}]
    long = Matrix(labels, 0.0, 600.0, coarse)
    week = Matrix(labels[:1], 0.0, 300.0, fine[:1])  # b is missing from the finer read
    with_week, count = analyse(target(), long, recent=week)
    alone, _ = analyse(target(), long)
    assert count == 2
    assert values(with_week, c.ANOMALY_FLAG.name, "a") == [1.0]
    assert values(alone, c.ANOMALY_FLAG.name, "a") == [0.0]
    assert values(with_week, c.ANOMALY_SCORE.name, "b") == [0.0]
    # the forecasts are the long read's either way
    assert values(with_week, c.FORECAST.name, "a") == values(alone, c.FORECAST.name, "a")


ROW_KINDS = ["noise", "flat", "empty", "young", "gone", "inf", "huge", "tiny", "negative", "steps"]


def _row(kind: str, n: int, rng: np.random.Generator) -> np.ndarray:
    """One source series of a class real Prometheus answers hold."""
    x = 100 + 10 * np.sin(np.arange(n) * 2 * np.pi / 288) + rng.normal(0, 2, n)
    if kind == "flat":
        x = np.full(n, 7.0)
    elif kind == "empty":
        x = np.full(n, np.nan)
    elif kind == "young":  # a new pod: nothing before its first point
        x[: int(rng.integers(1, n))] = np.nan
    elif kind == "gone":  # a retired host: nothing in its last hours
        x[int(rng.integers(0, n - 12)) :] = np.nan
    elif kind == "inf":  # a quantile past its last bucket now and then
        x[rng.integers(0, n, 5)] = np.inf
    elif kind == "huge":
        x = x * 1e300
    elif kind == "tiny":
        x = x * 1e-300
    elif kind == "negative":
        x = x - 1000
    elif kind == "steps":  # a counter that restarts
        x = np.cumsum(np.abs(x)) % 5000
    gaps = rng.random(n) < 0.05
    x[gaps] = np.nan
    return x


@settings(max_examples=40, deadline=None)
@given(
    kinds=st.lists(st.sampled_from(ROW_KINDS), min_size=1, max_size=8),
    kind=st.sampled_from(["auto", "gauge", "counter"]),
    limit=st.sampled_from([None, 150.0]),
    seed=st.integers(0, 2**16),
)
def test_any_mix_of_series_gives_finite_unique_outputs(
    kinds: list[str], kind: str, limit: float | None, seed: int
) -> None:
    """Every class of source series at once: no error, no warning (the suite turns them into
    errors), every output finite, no output series twice, and exactly the series with a finite
    point in the last STALE_SECONDS analysed."""
    rng = np.random.default_rng(seed)
    n = 2016
    rows = np.stack([_row(k, n, rng) for k in kinds])
    labels = [{"instance": f"h{i}", "kind": k} for i, k in enumerate(kinds)]
    recent = int(STALE_SECONDS // STEP)
    expected = int(np.isfinite(rows[:, -recent:]).any(axis=1).sum())
    spec = target(kind=kind, limit=limit, seasonality="auto")
    samples, count = analyse(spec, Matrix(labels, 0.0, STEP, rows))
    assert count == expected
    assert all(np.isfinite(s.value) for s in samples)
    keys = [(s.name, tuple(sorted(s.labels.items()))) for s in samples]
    assert len(keys) == len(set(keys))
    assert all(0 <= s.value <= 1 for s in samples if s.name == c.ANOMALY_SCORE.name)


def test_a_young_series_trend_is_its_own_points() -> None:
    """A disk on a host started 6 hours ago, filling fast: its trend over the last day is
    its 6 hours' slope, not a day's least squares over a flat stretch made up in front."""
    n = 2016
    young = np.full(n, np.nan)
    hours = 72  # 6 hours of 5-minute points
    young[-hours:] = 0.2 + 0.01 * np.arange(hours)  # +0.01 a step: 1/30000 a second
    samples, _ = analyse(target(), matrix(young))
    [slope] = values(samples, c.TREND_SLOPE.name, "h0")
    assert slope == pytest.approx(0.01 / STEP, rel=1e-6)
