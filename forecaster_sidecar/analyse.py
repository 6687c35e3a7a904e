"""One forecast target's history in, the sidecar's output series out.

For every source series (its labels kept, plus ``target``): forecast bands per horizon, the
anomaly score and flag, time to exhaustion when the target has a limit, the trend's slope and
direction; per target, the backtest MASE per horizon. Names come from globalmon/conventions.py,
the ones the generated rules and boards query.
"""

from __future__ import annotations

import hashlib
import math
import os
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from forecaster_sidecar.ages import first_points
from forecaster_sidecar.anomaly import scores
from forecaster_sidecar.counters import forecast_series, is_counter, value_range, watched
from forecaster_sidecar.forecast import DAY, seasons_for
from forecaster_sidecar.interleave import interleaved
from forecaster_sidecar.models import LEVELS, Array, Forecast, fill_gaps
from forecaster_sidecar.prometheus import Matrix
from forecaster_sidecar.scale import down, exponents, up
from globalmon import conventions as c
from globalmon.spec.forecast import Forecast as Target
from globalmon.spec.types import duration_seconds

# r >= 2: twice the week's largest surprise, or any new value. A steady series' noise passes
# its record (r a little over 1, score 0.5) now and then; NAB's corpus threshold sits there
# (bench/nab_eval.py), which an operator would find noisy.
FLAG_THRESHOLD = 2 / 3
FLAG_HOLD_SECONDS = 1800.0  # a detection keeps the flag up this long, so alert `for:` can see it
# A series none of whose points in this long is a finite value is not analysed: six times
# Prometheus' 5-minute lookback, so a scrape that fails now and then does not blink its outputs.
STALE_SECONDS = 1800.0
# The detector's windows (its baseline, record, novelty and time-of-day context) reach back a
# week at most: a target with a longer history is read a second time over the last week at
# that week's step, so its flags are as sharp as a 7-day target's (a 14-day history's
# 10-minute step cost NAB's subset 4.8 points at the flag's threshold: docs/sidecar.md).
DETECTOR_SECONDS = 7 * 86400.0
STABLE_PER_DAY = 0.01  # a trend under 1% of the level per day counts as stable
WORKERS = min(4, os.cpu_count() or 1)


@dataclass(frozen=True)
class Sample:
    name: str
    labels: dict[str, str]
    value: float


def shard_of(labels: dict[str, str], shards: int) -> int:
    """A stable shard for a series: the same on every sidecar and every run."""
    key = "\x00".join(f"{k}={v}" for k, v in sorted(labels.items()))
    return int.from_bytes(hashlib.sha1(key.encode()).digest()[:8], "big") % shards


def _slope(y: Array, step: float, window: int) -> Array:
    """Least-squares slope per second over each row's last ``window`` points that are not NaN
    (a series younger than the window: over its own points only); NaN with fewer than two."""
    tail = y[:, -window:]
    seen = ~np.isnan(tail)
    n = seen.sum(axis=1)
    x = np.where(seen, np.arange(tail.shape[1], dtype=float) * step, 0.0)
    values = np.where(seen, tail, 0.0)
    with np.errstate(invalid="ignore", divide="ignore"):
        xm = x.sum(axis=1) / n
        ym = values.sum(axis=1) / n
        dx = np.where(seen, x - xm[:, None], 0.0)
        out: Array = (dx * (values - ym[:, None])).sum(axis=1) / (dx**2).sum(axis=1)
    out[n < 2] = np.nan
    return out


OWN_LABELS = (c.LABEL_TARGET, c.LABEL_HORIZON, c.LABEL_BOUND)


def kept(labels: dict[str, str]) -> dict[str, str]:
    """A source series' labels beside the sidecar's own: one that has the name of ours (a
    blackbox or SNMP exporter's `target`) is kept as `exported_<name>`, as Prometheus keeps a
    target label a scraped series also has. Overwritten, two series that differ only there
    would be one output series twice (a scrape error), each with the other's forecast."""
    if not any(name in labels for name in OWN_LABELS):
        return labels
    out = {k: v for k, v in labels.items() if k not in OWN_LABELS}
    taken = set(out) | set(OWN_LABELS)
    for name in OWN_LABELS:
        if name in labels:
            new = f"exported_{name}"
            while new in taken:  # the source has that name too: prefixed again, as Prometheus
                new = f"exported_{new}"
            taken.add(new)
            out[new] = labels[name]
    return out


def _row_mean(a: Array) -> Array:
    """Each row's mean over its non-NaN values; NaN for a row with none (numpy's nanmean warns:
    a counter with one point in its history has no increase yet)."""
    count = np.count_nonzero(~np.isnan(a), axis=1)
    total = np.nansum(a, axis=1)
    out: Array = np.full(a.shape[0], np.nan)
    np.divide(total, count, out=out, where=count > 0)
    return out


def analyse(
    target: Target,
    matrix: Matrix,
    *,
    recent: Matrix | None = None,
    chunk: int = 500,
    workers: int = WORKERS,
    progress: Callable[[int, int], None] | None = None,
) -> tuple[list[Sample], int]:
    """Samples for every series with a finite value in the last ``STALE_SECONDS``, and how many
    series that was. Series are analysed ``chunk`` at a time (bounded memory) in ``workers``
    threads, a chunk's forecasts and its anomaly scores as two units of work, never two
    chunks' forecasts at once (``interleaved``), at most ``workers`` chunks ahead of the one
    whose samples are taken; ``progress(done, total)`` is called after each chunk, in order.
    ``recent``: the same series read over the detector's week at a finer step, which the
    anomaly score and flag are taken from (``DETECTOR_SECONDS``); without it, from
    ``matrix``."""
    # A series with no finite value in the last STALE_SECONDS is gone (a host retired, a pod
    # replaced: its history stays in Prometheus for weeks) or only NaN or +/-Inf (a quantile
    # always past its last bucket): nothing to forecast, follow or judge. Its samples are not
    # served, so Prometheus marks them stale, as it did the source series.
    last = max(1, math.ceil(STALE_SECONDS / matrix.step)) if matrix.step > 0 else 1
    has_data = np.asarray(np.isfinite(matrix.values[:, -last:]).any(axis=1), dtype=bool)
    labels = [lab for lab, ok in zip(matrix.labels, has_data, strict=True) if ok]
    values = matrix.values[has_data]
    parts = [
        Matrix(
            labels[first : first + chunk], matrix.start, matrix.step, values[first : first + chunk]
        )
        for first in range(0, len(labels), chunk)
    ]

    rows_of = {_key(lab): i for i, lab in enumerate(recent.labels)} if recent else {}

    def forecasted(part: Matrix) -> _Forecasted:
        return _forecasted(target, part)

    def judge(part: Matrix) -> Array:
        fine = None
        if recent is not None:
            # the same series' rows of the finer read; NaN (no score) for one it lacks
            rows = np.full((len(part.labels), recent.values.shape[1]), np.nan)
            for j, lab in enumerate(part.labels):
                i = rows_of.get(_key(lab))
                if i is not None:
                    rows[j] = recent.values[i]
            fine = Matrix(part.labels, recent.start, recent.step, rows)
        return _judged(target, part, fine)

    out: list[Sample] = []
    totals: dict[str, list[float]] = {h: [0.0, 0.0] for h in target.horizons}  # MASE sum, count

    # the forecasts never two at once (thousands of small numpy calls fighting over the GIL),
    # the detector's long calls beside them (interleave.py)
    for i, (part, forecast, judged) in enumerate(interleaved(parts, forecasted, judge, workers)):
        out.extend(_samples(target, part, forecast, judged))
        for h, (total, count) in forecast.sums.items():
            totals[h][0] += total
            totals[h][1] += count
        if progress is not None:
            progress(min((i + 1) * chunk, len(labels)), len(labels))
    for h, (total, count) in totals.items():
        if count:
            mase_labels = {c.LABEL_TARGET: target.name, c.LABEL_HORIZON: h}
            out.append(Sample(c.FORECAST_MASE.name, mase_labels, total / count))
    return out, len(labels)


def _key(labels: dict[str, str]) -> tuple[tuple[str, str], ...]:
    return tuple(sorted(labels.items()))


@dataclass(frozen=True)
class _Forecasted:
    """A chunk's forecasts, trend and backtest figures: all but the detector's scores."""

    result: Forecast
    horizons: dict[str, int]  # horizon -> steps
    last: Array  # each series' last value (gaps filled)
    slope: Array  # per second, NaN with no trend yet
    direction: Array  # 1 worse, -1 better, 0 stable
    sums: dict[str, list[float]]  # horizon -> [MASE sum, count]


def _forecasted(target: Target, matrix: Matrix) -> _Forecasted:
    step = matrix.step
    counter = is_counter(target)
    horizons = {h: max(1, round(duration_seconds(h) / step)) for h in target.horizons}
    longest = max(horizons.values())
    seasons = seasons_for(step, target.seasonality)
    floor, ceiling = value_range(target)
    result = forecast_series(
        matrix.values,
        longest,
        seasons,
        counter,
        floor=floor,
        ceiling=ceiling,
        levels=LEVELS,
        step=step,
    )
    y = fill_gaps(matrix.values)  # the raw series: where the forecast starts from
    # a counter's trend is its increase's: its level only ever rises
    followed = watched(matrix.values, step, counter)
    trend_of = fill_gaps(followed)  # (a gauge's: the series itself, as y)
    # a young series' trend over its own points: not the flat stretch filled in front of them
    trend_of[np.arange(trend_of.shape[1]) < first_points(followed)[:, None]] = np.nan
    worse = 1.0 if target.polarity == "higher_is_worse" else -1.0
    # a row near float's limit is fitted scaled down (its sums would overflow), then put back
    by = exponents(trend_of)
    slope_down = _slope(down(trend_of, by), step, min(y.shape[1], round(DAY / step)))
    size = np.abs(_row_mean(down(trend_of, by)))
    stable = np.abs(slope_down) * DAY < STABLE_PER_DAY * np.maximum(size, 1e-12)
    slope = up(slope_down, by)
    direction = np.where(stable, 0.0, np.sign(slope) * worse)
    # the in-sample naive error of what was forecast (a counter's: its increase per step)
    # (both scaled down alike where near float's limit: the ratio is the same, the sums finite)
    by = exponents(y)
    naive = np.abs(down(followed, by)) * step if counter else np.abs(np.diff(down(y, by), axis=1))
    scale = _row_mean(naive)
    errors = down(result.backtest_errors, by)
    ok = scale > 0
    sums: dict[str, list[float]] = {h: [0.0, 0.0] for h in target.horizons}
    for h, k in horizons.items():
        if errors.shape[1] and ok.any():
            within = errors[ok, : min(k, errors.shape[1])].mean(axis=1)
            sums[h][0] += float(np.sum(within / scale[ok]))
            sums[h][1] += int(ok.sum())
    return _Forecasted(result, horizons, y[:, -1], slope, direction, sums)


def _judged(target: Target, matrix: Matrix, fine: Matrix | None) -> Array:
    """The anomaly scores of the rows the flag reads (``FLAG_HOLD_SECONDS``): of the detector's
    own read when there is one (a finer step over its week), else of this one; a counter's are
    its increase's (its level only ever rises). Every series at once, and only these rows need
    be exact."""
    counter = is_counter(target)
    judged, every = (matrix, matrix.step) if fine is None else (fine, fine.step)
    hold = max(1, round(FLAG_HOLD_SECONDS / every))
    out: Array = scores(watched(judged.values, every, counter), every, last=hold)[:, -hold:]
    return out


def _samples(
    target: Target,
    matrix: Matrix,
    fc: _Forecasted,
    score: Array,
) -> list[Sample]:
    """A chunk's samples from its forecasts (``_forecasted``) and scores (``_judged``)."""
    now = matrix.end
    worse = 1.0 if target.polarity == "higher_is_worse" else -1.0
    result = fc.result
    bounds = [(c.BOUND_YHAT, result.yhat)]
    for level in LEVELS:
        lower, upper = result.band(level)
        bounds += [(c.BAND_BOUNDS[level][0], lower), (c.BAND_BOUNDS[level][1], upper)]
    out: list[Sample] = []
    for i, lab in enumerate(matrix.labels):
        own = {**kept(lab), c.LABEL_TARGET: target.name}
        for h, k in fc.horizons.items():
            for bound, values in bounds:
                bound_labels = {**own, c.LABEL_HORIZON: h, c.LABEL_BOUND: bound}
                out.append(Sample(c.FORECAST.name, bound_labels, float(values[i, k - 1])))
        out.append(Sample(c.ANOMALY_SCORE.name, own, float(score[i, -1])))
        flagged = bool((score[i] >= FLAG_THRESHOLD).any())
        out.append(Sample(c.ANOMALY_FLAG.name, own, 1.0 if flagged else 0.0))
        if np.isfinite(fc.slope[i]):  # else no trend yet (a counter's one point): absent
            out.append(Sample(c.TREND_SLOPE.name, own, float(fc.slope[i])))
            out.append(Sample(c.TREND_DIRECTION.name, own, float(fc.direction[i])))
        if target.limit is not None:
            crossed = np.flatnonzero((result.yhat[i] - target.limit) * worse >= 0)
            if (fc.last[i] - target.limit) * worse >= 0:
                seconds: float | None = 0.0
            elif len(crossed):
                seconds = float((crossed[0] + 1) * matrix.step)
            else:
                seconds = None  # not within the horizon: the series is absent
            if seconds is not None:
                out.append(Sample(c.CAPACITY_EXHAUSTION.name, own, seconds))
                out.append(Sample(c.CAPACITY_EXHAUSTION_AT.name, own, now + seconds))
    return out
