"""Forecasts stay within what a series can be, and the bands hold what they say.

Each guard's test also runs the same history with the guards switched off and checks the
forecast was absurd there: the test would fail if the guard did nothing.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from forecaster_sidecar import guards
from forecaster_sidecar import models as m
from forecaster_sidecar.counters import forecast_series, value_range
from forecaster_sidecar.forecast import forecast_auto
from forecaster_sidecar.guards import Array, Mask
from globalmon.spec.forecast import Forecast as Target

DAY = 288


@contextmanager
def unguarded() -> Iterator[None]:
    def never(y: Array, yhat: Array, season: int | None, *, known: bool = True) -> Mask:
        return np.zeros(y.shape[0], dtype=bool)

    saved = guards.implausible
    guards.implausible = never
    try:
        yield
    finally:
        guards.implausible = saved


def cpu_percent(seed: int, days: int = 7) -> Array:
    rng = np.random.default_rng(seed)
    t = np.arange(days * DAY)
    out: Array = np.clip(30 + 20 * np.sin(2 * np.pi * t / DAY) + rng.normal(0, 3, len(t)), 0, 100)
    return out


def test_a_window_ending_mid_burst_is_not_carried_past_the_range() -> None:
    """A CPU percentage between 10 and 50 all week ramps to 95 % in its last two hours: carried
    on (the burst's level with the day's shape on top), the forecast passes 100 %, which a CPU
    percentage cannot; the guards keep it within the range the week covered, though no limit was
    given."""
    rows = []
    for seed in range(10):
        y = cpu_percent(seed)
        y[-24:] = np.linspace(y[-25], 95, 24) + np.random.default_rng(seed).normal(0, 1, 24)
        rows.append(y)
    y = np.array(rows)
    with unguarded():
        wild = forecast_auto(y, DAY, (DAY,))
    assert (wild.yhat.max(axis=1) > 105).sum() >= 5
    kept = forecast_auto(y, DAY, (DAY,))
    assert np.all(kept.yhat <= 100)


def test_a_level_shift_an_hour_ago_is_followed() -> None:
    """At 10 all week, at 30 for the last hour: the forecast starts at 30, not at the week's
    median."""
    rng = np.random.default_rng(1)
    y = 10 + rng.normal(0, 1, (10, 7 * DAY))
    y[:, -12:] += 20
    with unguarded():
        blind = forecast_auto(y, DAY, (DAY,))
    assert (np.abs(blind.yhat[:, 0] - 10) < 3).sum() >= 3
    kept = forecast_auto(y, DAY, (DAY,))
    assert np.all(np.abs(kept.yhat[:, 0] - 30) < 3)


def test_a_trend_the_whole_history_shows_is_still_extrapolated() -> None:
    """A disk filling steadily all week is forecast past the highest value it has had: the
    range guard allows what the history's own drift supports."""
    rng = np.random.default_rng(2)
    t = np.arange(7 * DAY)
    y = (100 + 10 * t / DAY + rng.normal(0, 0.1, (3, len(t)))) * 1e9  # bytes
    f = forecast_auto(y, DAY, (DAY,))
    assert np.all(f.yhat[:, -1] > y.max(axis=1) + 9e9)


def test_far_from_seasonal_naive_flags_only_the_wild() -> None:
    y = np.array([cpu_percent(3)])
    naive = y[:, -DAY:]
    assert not guards.far_from_seasonal_naive(y, naive + 5, DAY)[0]
    assert guards.far_from_seasonal_naive(y, naive + 50, DAY)[0]
    assert not guards.far_from_seasonal_naive(y, naive + 50, None)[0]  # no season: no test


def _history(kind: str, seed: int, n: int, scale: float) -> Array:
    rng = np.random.default_rng(seed)
    t = np.arange(n, dtype=float)
    base: dict[str, Callable[[], Array]] = {
        "noise": lambda: np.abs(rng.normal(1, 1, n)),
        "seasonal": lambda: 1 + np.sin(2 * np.pi * t / DAY) + np.abs(rng.normal(0, 0.2, n)),
        "falling to zero": lambda: np.maximum(1 - t / n + rng.normal(0, 0.01, n), 0),
        "spikes": lambda: np.where(rng.random(n) < 0.02, rng.exponential(50, n), 0.0),
        "burst at the end": lambda: np.concatenate([np.full(n - 12, 0.1), np.linspace(0, 9, 12)]),
        "drop at the end": lambda: np.concatenate([np.full(n - 12, 5.0), np.linspace(5, 0, 12)]),
    }
    out: Array = base[kind]() * scale
    return out


@settings(max_examples=60, deadline=None)
@given(
    kind=st.sampled_from(
        ["noise", "seasonal", "falling to zero", "spikes", "burst at the end", "drop at the end"]
    ),
    seed=st.integers(0, 1000),
    n=st.integers(30, 4 * DAY),
    scale=st.sampled_from([1e-6, 1.0, 1e9]),
)
def test_a_series_that_never_went_negative_is_never_forecast_below_zero(
    kind: str, seed: int, n: int, scale: float
) -> None:
    y = _history(kind, seed, n, scale)[None, :]
    f = forecast_auto(y, DAY, (DAY,))
    lower95, upper95 = f.band(0.95)
    lower80, upper80 = f.band(0.8)
    assert np.all(np.isfinite(f.yhat))
    assert np.all(lower95 >= 0)
    assert np.all(lower95 <= lower80)
    assert np.all(lower80 <= f.yhat)
    assert np.all(f.yhat <= upper80)
    assert np.all(upper80 <= upper95)


def test_a_ceiling_holds_forecast_and_band() -> None:
    """A ratio climbing to 0.97 with a noisy trend: nothing forecast past 1."""
    rng = np.random.default_rng(4)
    t = np.arange(3 * DAY)
    y = np.clip(0.5 + 0.47 * t / len(t) + rng.normal(0, 0.02, len(t)), 0, 1)[None, :]
    free = forecast_auto(y, DAY, (DAY,))
    assert free.band(0.95)[1].max() > 1  # without the ceiling the band would pass 1
    f = forecast_auto(y, DAY, (DAY,), floor=0.0, ceiling=1.0)
    lower, upper = f.band(0.95)
    assert f.yhat.max() <= 1
    assert upper.max() <= 1
    assert lower.min() >= 0


@settings(max_examples=30, deadline=None)
@given(seed=st.integers(0, 1000), resets=st.integers(0, 4))
def test_a_counter_forecast_never_falls_nor_goes_below_its_value(seed: int, resets: int) -> None:
    rng = np.random.default_rng(seed)
    n = 3 * DAY
    rate = np.abs(5 + 4 * np.sin(2 * np.pi * np.arange(n) / DAY) + rng.normal(0, 2, n))
    raw = np.cumsum(rate)
    for at in np.sort(rng.integers(1, n, resets)):
        raw[at:] = np.cumsum(rate[at:])  # a restart: the counter begins again from zero
    f = forecast_series(raw[None, :], DAY, (DAY,), counter=True)
    assert np.all(np.diff(f.yhat[0]) >= 0)
    assert f.yhat[0, 0] >= raw[-1]
    assert f.band(0.95)[0].min() >= raw[-1]


@pytest.mark.parametrize("level", [0.8, 0.95])
def test_bands_cover_about_their_level_on_a_steady_series(level: float) -> None:
    """A daily season with normal noise, 30 histories of a week: the next day's points fall
    inside each band about as often as it says (the band's scale comes from backtests the
    choice did not see)."""
    inside = []
    for seed in range(30):
        rng = np.random.default_rng(seed)
        t = np.arange(8 * DAY)
        y = 50 + 10 * np.sin(2 * np.pi * t / DAY) + rng.normal(0, 2, len(t))
        # with the step, as the sidecar and the CLI call it (it sets the shape's smoothing)
        f = forecast_auto(y[None, : 7 * DAY], DAY, (DAY,), step=300)
        lower, upper = f.band(level)
        future = y[7 * DAY :]
        inside.append(np.mean((future >= lower[0]) & (future <= upper[0])))
    assert abs(np.mean(inside) - level) < 0.04, np.mean(inside)


@pytest.mark.parametrize(
    ("expr", "given", "expected"),
    [
        ("globalmon_host_disk_used_ratio", {}, (0.0, 1.0)),
        ('node_load_percent{instance="a"}', {}, (0.0, 100.0)),
        ("process_resident_memory_bytes", {}, (0.0, None)),
        ("http_requests_total", {}, (0.0, None)),
        ("rate(http_requests_total[5m])", {}, (None, None)),  # not a bare selector: unknown
        ("temperature_celsius", {}, (None, None)),
        ("globalmon_host_disk_used_ratio", {"max_value": 0.9}, (0.0, 0.9)),
        ("x / y", {"min_value": -1, "max_value": 1}, (-1.0, 1.0)),
    ],
)
def test_what_a_target_can_be(
    expr: str, given: dict[str, float], expected: tuple[float | None, float | None]
) -> None:
    target = Target.model_validate({"name": "t", "expr": expr, **given})
    assert value_range(target) == expected


def test_a_shift_a_day_old_in_a_series_without_a_season_is_followed() -> None:
    """Hourly, flat all week, down by 5 twenty hours ago; no daily season (only tried). The
    previous day is no reference for a series without one: compared with it, the drop looked
    missed by every forecast that followed it, and the fallback (the previous day repeated)
    forecast the old level for four hours."""
    rng = np.random.default_rng(3)
    y = 43.5 + rng.normal(0, 0.2, (6, 7 * 24))
    y[:, -20:] -= 5
    f = forecast_auto(y, 24, (24,), step=3600.0)
    assert np.all(np.abs(f.yhat[:, :4] - 38.5) < 1)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_seasonal_naive_competes_when_every_smoothed_seasonal_model_is_rejected(seed: int) -> None:
    """A CPU percentage on a daily swing whose last two hours jumped 40 points, near its
    ceiling: every smoothed seasonal model carries the jump past the history's range and is
    rejected. The models left compete by their backtest, seasonal naive among them: the
    forecast still swings with the day (it was the flat median of the last day, ranked after
    every other model because seasonal naive is only the smoothed models' fallback)."""
    rng = np.random.default_rng(seed)
    t = np.arange(7 * DAY)
    y = np.clip(60 + 30 * np.sin(2 * np.pi * t / DAY) + rng.normal(0, 5, len(t)), 0, 100)
    y[-24:] = np.minimum(100, y[-24:] + 40)
    history = y[None, :]
    for model in ("seasonal_level", "seasonal_ratio"):  # what the test is about
        guess = m.predict(m.despike(history, DAY), DAY, model, DAY, width=5)
        assert guards.implausible(history, guess, DAY)[0], model
    f = forecast_auto(history, DAY, (DAY,), step=300)
    assert f.model[0] == "seasonal_naive"
    assert np.ptp(f.yhat[0]) > 30  # the day's swing (60 peak to trough), not a flat line
