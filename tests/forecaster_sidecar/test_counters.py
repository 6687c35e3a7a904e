"""Counter targets: resets undone, forecasts on the raw counter's scale, scores on its rate."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from forecaster_sidecar.analyse import FLAG_THRESHOLD, Sample, analyse
from forecaster_sidecar.anomaly import scores
from forecaster_sidecar.counters import counter_hint, is_counter, undo_resets, watched
from forecaster_sidecar.prometheus import Matrix
from globalmon import conventions as c
from globalmon.spec.forecast import Forecast

STEP = 60.0


def target(expr: str, **kw: object) -> Forecast:
    return Forecast.model_validate(
        {"name": "t", "expr": expr, "horizons": ["1h"], "seasonality": "none", **kw}
    )


@pytest.mark.parametrize(
    ("expr", "kind", "counter"),
    [
        ("http_requests_total", "auto", True),
        ('http_requests_total{job="api", code=~"5.."}', "auto", True),
        ("request_duration_seconds_count", "auto", True),
        ("rate(http_requests_total[5m])", "auto", False),  # already a rate
        ("sum(http_requests_total)", "auto", False),
        ("node_memory_used_bytes", "auto", False),
        ("node_memory_used_bytes", "counter", True),
        ("http_requests_total", "gauge", False),
    ],
)
def test_counters_by_name_or_by_kind(expr: str, kind: str, counter: bool) -> None:
    assert is_counter(target(expr, kind=kind)) is counter


def test_resets_are_undone_and_gaps_stay_gaps() -> None:
    raw = np.array([[5.0, 7.0, 2.0, 4.0, np.nan, 1.0, 3.0]])
    corrected, offset = undo_resets(raw)
    # 7 -> 2 is a reset (the 2 is new), 4 -> (gap) -> 1 another (the 1 is new)
    assert corrected[0, :4].tolist() == [5.0, 7.0, 9.0, 11.0]
    assert np.isnan(corrected[0, 4])
    assert corrected[0, 5:].tolist() == [12.0, 14.0]
    assert offset.tolist() == [11.0]  # the raw 3 stands 11 below the corrected 14
    rate = watched(raw, 2.0, counter=True)
    assert np.isnan(rate[0, 0])
    assert rate[0, 1:4].tolist() == [1.0, 1.0, 1.0]  # per second, the resets included


def values(samples: list[Sample], name: str) -> list[float]:
    return [s.value for s in samples if s.name == name]


def restarting_counter(n: int = 2000, per_step: float = 3.0, every: int = 600) -> np.ndarray:
    """A counter that rises by ``per_step`` and restarts from zero every ``every`` steps."""
    rng = np.random.default_rng(4)
    increase = per_step + rng.normal(0, 0.3, n).clip(-per_step, None)
    raw = np.empty(n)
    total = 0.0
    for i in range(n):
        total = increase[i] if i and i % every == 0 else total + increase[i]
        raw[i] = total
    return raw


def yhat_and_band(samples: list[Sample]) -> tuple[float, float]:
    bounds = {s.labels[c.LABEL_BOUND]: s.value for s in samples if s.name == c.FORECAST.name}
    return bounds["yhat"], bounds["yhat_upper"] - bounds["yhat_lower"]


def test_a_restarting_counter_forecasts_on_from_its_raw_value_and_never_looks_anomalous() -> None:
    raw = restarting_counter()
    matrix = Matrix([{"instance": "a"}], 0.0, STEP, raw[None, :])
    samples, _ = analyse(target("http_requests_total"), matrix)
    yhat, band = yhat_and_band(samples)
    # an hour on from the raw value at 3 a minute: on the raw counter's scale, not the corrected
    assert yhat == pytest.approx(raw[-1] + 60 * 3.0, rel=0.02)
    [slope] = values(samples, c.TREND_SLOPE.name)
    assert abs(slope) < 1e-4  # the rate is steady: no trend of the rate
    assert values(samples, c.TREND_DIRECTION.name) == [0.0]
    # the resets score nothing: the rate never changed (a plain difference sees a plunge)
    rate = watched(raw[None, :], STEP, counter=True)
    assert scores(rate, STEP).max() < FLAG_THRESHOLD
    plain = np.concatenate([[np.nan], np.diff(raw)]) / STEP
    assert scores(plain[None, :], STEP)[0, 1800] >= FLAG_THRESHOLD
    # read as a gauge, the sawtooth's forecast stays flat in a band hundreds wide
    gauge_yhat, gauge_band = yhat_and_band(analyse(target("x_total", kind="gauge"), matrix)[0])
    assert gauge_yhat < raw[-1] + 30
    assert gauge_band > 20 * band


@settings(max_examples=200, deadline=None)
@given(
    values=st.lists(st.floats(allow_nan=True, allow_infinity=True), max_size=50),
    counter=st.booleans(),
)
def test_the_counter_note_reads_any_values_without_a_warning(
    values: list[float], counter: bool
) -> None:
    """The offline commands' --counter note runs on every file read: values near float's limit,
    infinite or missing must give a note or none, never an overflow warning (warnings fail the
    suite)."""
    hint = counter_hint(np.array(values, dtype=float), counter)
    assert hint is None or "counter" in hint
