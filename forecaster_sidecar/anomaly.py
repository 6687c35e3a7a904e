"""Causal anomaly scores in [0, 1]: the score at row t uses rows up to t only.

Two views of "unusual", each a robust z-score against the series' own past (median and MAD of
the ``baseline`` before t, so an outlier never moves the baseline it is judged against):

- level: the value itself (spikes, drops);
- short mean: the mean over ``short`` (level shifts and drifts a single point does not show),
  weighted ``short_weight`` times a single value's deviation.

The larger is the surprise ``z``, unless the time of day excuses it: when the value lies within
(or near) the range the series had around the same time on any day of the past week
(``context`` either side), it is only as surprising as its distance from the nearest such range,
in units of such distances over the baseline (at least a tenth of the level's). A nightly
backup's spike is then expected at night and not at noon, and so is a job that runs only on some
days. The first day of a series (no time of day yet) is not scored. A third view can raise the
surprise where the excuse cannot: the short mean's distance from the range of the short means at
the same time on the context days (``same_time_weight`` times it; a daily jump that did not come,
whose values are all ordinary ones, only at the wrong time).

The score says how the surprise compares with the largest of the past ``record`` (a week): the
ratio r of the two, scored ``r / (1 + r)``, so 0.5 is a surprise equal to the week's largest and
0.75 one three times as large. The ratio, not the surprise itself, is what carries over from one
series to another: how large a surprise is usual depends on the series (its noise, its bursts,
its step), how far it passes what the series did last week much less so. A record under 1 counts
as 1 (a fraction of a standard deviation is never a multiple of anything), and before the first
surprise after the warm-up there is no record and no score. A record of less than a week of rows
counts for what a week's would be: the largest of k values grows like log k, so it is scaled by
log(week) / log(k). A series that is always jumpy then
scores high once per new extreme, not on every jump.

A value that is new counts as at least three times the record: none of the last ``novelty`` (a
week) came within ``novelty_fraction`` (4 %) of the range that stretch covered, it is at least
``novelty_min_z`` surprising, and the series is at least ``novelty_after`` (two days) old; twice
as far from the nearest of them counts twice as much. So a value the series never takes (a bump
halfway up its daily spikes, a spike between the levels it lives on) counts even after a larger
event set the record. A ratio that another one in the previous ``refractory`` nearly matched (at
least ``refractory_ratio`` of it) is the same event rising, and is not scored again, unless
it is the first of that time to reach ``rising_pass_ratio`` (the flag's). The record leaves
out the last ``record_gap_seconds`` (three hours): a slow rise is compared with the week before
it, not with its own first rows, and flags once when it gets to the flag.

A residual that is new counts so too, times the season's strength: the value less the median
of the same time on the context days (the seasonal view's), where the season is at least
``seasonal_novelty_strength`` strong and the value lies outside what every day held around its
hour, from ``seasonal_novelty_far`` (three) times as far out as a value must be. A spike inside
a strong daily swing is no new value, but its residual is new.

A steady trend is taken out where a value is compared with its past: where the week's values a
day apart rise (or fall) three times in four (``trend_agree``), the same time on the past days
(the excuse's ranges, the same-time and seasonal views) and the novelty week are moved to where
the trend carries them by now (the median of those differences, per day). A line that rises
otherwise makes a new value every few hours, and a dip on it lands on the level of some day
before, which every view takes for normal.

A value repeated, row after row, twice as long as any run of one value in the week before the
run began (30 minutes at least) is stuck, and counts as that multiple of the record: a frozen
exporter sends only ordinary values. Not in a series that repeats its value on half its rows or
more (flat by nature), and a filled row is no repeat.

Windows are durations, turned into rows by the series' step; one parameter set for every series
(no per-series tuning). The moving medians, means, minima and maxima are bottleneck's, over a
whole (series x time) matrix at once: pandas' rolling windows, one series at a time, cost
several times as much (bench/sidecar_speed.py prints both; bench/_pandas_detector.py is that
plain version, the tests' reference). The novelty test compares a row with a week of rows, so it
runs only where it can matter (rows at least ``novelty_min_z`` surprising) and, in the live
sidecar, only on the newest rows (``last``). The NAB evaluation is in bench/nab_eval.py and
docs/sidecar.md.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import bottleneck as bn
import numpy as np
import numpy.typing as npt
from numpy.lib.stride_tricks import sliding_window_view

from forecaster_sidecar.ages import starts
from forecaster_sidecar.forecast import DAY_DIVISORS
from forecaster_sidecar.phases import mean_phase, sampled
from forecaster_sidecar.scale import down, exponents

Array = npt.NDArray[np.float64]
MAD_TO_SIGMA = 1.4826
MEAN_ABS_TO_SIGMA = 1.2533
NOVEL_RATIO = 3.0  # a value just new counts as this many times the week's record
# A record under one standard deviation counts as one: in a calm week (every value within its
# hour's usual range, z mostly 0) a deviation of a fraction of one must not pass as a multiple
# of the record. The ratio then never exceeds the surprise itself.
RECORD_FLOOR = 1.0
TIE = 1e-9  # relative: ratios this close are equal
# The scale's floor: a millionth of the level (a float32's rounding, or a moving mean's rounding
# residue, is no move), and 1e-9 where the level is 0. No more: at 1% of the level the detector
# depended on where a series sits (a temperature in kelvin, a disk's bytes in use, a timestamp):
# white noise at 1000 flagged a spike of 8 noise units in 10% of bench/detector_classes' cases
# (at 0, and now at both, in 100%).
LEVEL_FLOOR = 1e-6
SCALE_FLOOR = 1e-9
MAX_RATIO = 1e12  # an infinite surprise (an infinite value) scores 1, not NaN
DAY = 86400.0
WEEK = 7 * DAY


@dataclass(frozen=True)
class DetectorParams:
    baseline_seconds: float = WEEK  # history the median and MAD come from
    record_seconds: float = WEEK  # a surprise must beat every one in this much history...
    # ...unless its value is new: no row of the last novelty_seconds came within
    # novelty_fraction of the range (max - min) those rows covered, and z >= novelty_min_z
    novelty_seconds: float = WEEK
    novelty_fraction: float = 0.04
    novelty_min_z: float = 3.0
    # ...and only after this much history: a day's range says little about what is new in a week
    novelty_after_seconds: float = 2 * DAY
    short_seconds: float = 1800.0  # the short mean
    # A shift of the short mean weighs this many times a single value's deviation (the mean's
    # own MAD already allows for the averaging; a fixed weight keeps 15 s and 5 min samples
    # alike, where the square root of the mean's length in rows would not).
    short_weight: float = 2.5
    context_seconds: float = 3600.0  # either side of the same time on each day of the past week
    context_days: tuple[int, ...] = (1, 2, 3, 4, 5, 6, 7)
    # The short mean's distance from the range of the short means at the same time on the
    # context days (at least same_time_min_days of them), weighted: a daily jump that did not come
    same_time_weight: float = 0.25
    same_time_min_days: int = 3
    # The value's distance from the median of the same time on the context days, weighted by
    # how much of the series the season is, and this
    seasonal_weight: float = 0.5
    # That distance, signed, is new as a value is (novelty_*) where the season is at least this
    # strong (a spike inside the daily swing), and counts from this many times as far out
    seasonal_novelty_strength: float = 0.85
    seasonal_novelty_far: float = 3.0
    # The distance's short mean (short_seconds), in units of its own spread, weighted by the
    # season's strength and this: a shift that lasts inside a daily swing
    seasonal_short_weight: float = 1.0
    refractory_seconds: float = 3600.0  # a record this close after a near-equal one is the same
    refractory_ratio: float = 0.8
    # ...unless it is the first in that time to reach this ratio (the flag's: 2/3 is a ratio of
    # 2), so an event that rises slowly flags once when it gets there...
    rising_pass_ratio: float = 2.0
    # ...against a record that leaves out the last few hours: a rising event is compared with
    # the week before it, not with its own first rows
    record_gap_seconds: float = 3 * 3600.0
    # A baseline, record or novelty window holds at least this many rows (a coarse step: daily
    # rows, whose week is 7 values)
    min_window_rows: int = 64
    warmup_rows: int = 64  # rows that never score: too little history to judge...
    warmup_seconds: float = DAY  # ...nor does a series's first day (it has no time of day yet)
    # A value repeated stuck_ratio times as long as any run of one value in the week before
    # (counted as stuck_min_seconds and two rows at least) is stuck: a frozen exporter, a
    # sensor gone flat. Not in a series that repeats its value on stuck_max_share of its rows
    # or more: flat by nature, its quiet stretches vary in length.
    stuck_ratio: float = 2.0
    stuck_min_seconds: float = 900.0
    stuck_max_share: float = 0.5
    # A week whose values a day apart rise (or fall) this much more often than not, (rises -
    # falls) / pairs, holds a steady trend, taken out where the series is compared with its past
    # days and its past week: 0.5 is three pairs in four; more than 1, never
    trend_agree: float = 0.5
    # A value this many times the record week's range outside it, the next back inside it, is a
    # glitch: scored, then left out of the history (``glitches``)
    glitch_ranges: float = 10.0


def _shift(x: Array, by: int = 1) -> Array:
    """Each row ``by`` steps later: column t holds column t - by, the first ``by`` columns NaN."""
    out = np.empty_like(x)
    out[:, :by] = np.nan
    if by < x.shape[1]:
        out[:, by:] = x[:, : x.shape[1] - by]
    return out


def _median(x: Array, rows: int) -> Array:
    # a window longer than the series is the whole past (bottleneck refuses it)
    window = min(rows, x.shape[1])
    # a daily or weekly series has a baseline of a few rows: it needs fewer to start with
    out: Array = bn.move_median(x, window, min_count=min(8, window), axis=1)
    return out


def _robust_z(x: Array, rows: int) -> tuple[Array, Array]:
    """|x - median| over the scale, and the scale (for other distances of the series). The scale
    has a floor of ``LEVEL_FLOOR`` of the level, so a flat series whose values differ by float
    rounding only is not infinitely surprising (|median| is the median of |x| for a series of one
    sign, and one moving median cheaper)."""
    # in place where it can be: over a (series x week) matrix each temporary is memory traffic
    past = _shift(x)
    med = _median(past, rows)
    dev = np.abs(np.subtract(past, med, out=past), out=past)
    mad = _median(dev, rows)
    mad *= MAD_TO_SIGMA
    scale = np.abs(med)
    scale *= LEVEL_FLOOR
    scale += SCALE_FLOOR
    np.maximum(mad, scale, out=scale)
    z: Array = np.subtract(x, med, out=med)
    z /= scale
    np.abs(z, out=z)
    return z, scale


def _context_distance(x: Array, step: float, p: DetectorParams, trend: Trend | None) -> Array:
    """How far each value lies outside the range of the values within ``context_seconds`` of
    the same time ``context_days`` ago (the nearest such day); NaN with no such history."""
    n = x.shape[1]
    half = round(p.context_seconds / step)
    width = min(2 * half + 1, n)
    lo = bn.move_min(x, width, min_count=1, axis=1)  # column i: x[i - width + 1 .. i]
    hi = bn.move_max(x, width, min_count=1, axis=1)
    out = np.full_like(x, np.inf)
    below, above = np.empty_like(x), np.empty_like(x)  # reused for every day: memory traffic
    for days in p.context_days:
        lag = round(days * DAY / step)
        back = lag - half  # the window centred `lag` columns back ends `back` columns back
        if back < 1 or lag >= n:  # it would reach the row itself, or the series is younger
            continue
        now, nearest = x[:, lag:], out[:, lag:]
        gap, over = below[:, : n - lag], above[:, : n - lag]
        np.subtract(lo[:, half : n - back], now, out=gap)
        np.subtract(now, hi[:, half : n - back], out=over)
        if trend is not None:  # that day's range where a steady trend carries it by now
            carried = trend.slope[:, lag:] * lag
            gap[trend.rows] += carried
            over[trend.rows] -= carried
        np.maximum(gap, over, out=gap)  # signed: negative inside the range
        np.minimum(nearest, gap, out=nearest)
    np.maximum(out, 0.0, out=out)  # the nearest day's distance, 0 inside its range
    out[np.isinf(out)] = np.nan
    return out


def _same_time_surprise(
    mean: Array, scale: Array, step: float, p: DetectorParams, baseline: int, trend: Trend | None
) -> Array:
    """How far the short mean lies outside the range of the short means at exactly the same
    time on the ``context_days`` (NaN with fewer than ``same_time_min_days`` of them; ``mean`` is
    NaN where it held a gap's filled rows, whose copies of a value make its time of day differ
    from day to day: NAB's files with two rows in five missing scored 63.0 without that, 65.8
    with it), in units of such distances over the baseline (at least a tenth of the level's
    ``scale``), times
    ``same_time_weight``. A business day whose jump does not come stays at the night's level,
    which the value's z (whose scale holds the whole daily swing) hardly sees and the excuse
    (the values within an hour, the jump's own edge included) cannot raise. A range and not a
    median of the days: against the median, every Saturday of a weekday/weekend load was a
    surprise, and it set a record that hid a weekday's 20% drop (a test)."""
    n = mean.shape[1]
    lags = [lag for lag in (round(d * DAY / step) for d in p.context_days) if 1 <= lag < n]
    if len(lags) < p.same_time_min_days:
        return np.full_like(mean, np.nan)
    # The days' range as it grows, one day at a time: fmin and fmax pass over a NaN (no such
    # day, or a gap) and keep it only where every day is NaN, as nanmin and nanmax do, and a
    # range is the same in any order, so this is the days' range exactly without the days'
    # copies side by side (a third less time: 500 series of a week, 66 -> 44 ms)
    lo, hi = np.full_like(mean, np.nan), np.full_like(mean, np.nan)
    known = np.zeros(mean.shape, dtype=np.int8)  # how many of the days are there
    carried = np.empty_like(mean) if trend is not None else None
    for lag in lags:
        day = mean[:, : n - lag]
        if trend is not None and carried is not None:  # carried by a steady trend to now
            then = carried[:, : n - lag]
            np.copyto(then, day)
            then[trend.rows] += trend.slope[:, lag:] * lag
            day = then
        np.fmin(lo[:, lag:], day, out=lo[:, lag:])
        np.fmax(hi[:, lag:], day, out=hi[:, lag:])
        known[:, lag:] += ~np.isnan(day)
    few = known < p.same_time_min_days
    lo[few] = np.nan
    hi[few] = np.nan
    off = np.fmax(lo - mean, mean - hi)  # NaN stays: too few days
    np.maximum(off, 0.0, out=off)
    spread = _median(_shift(off), baseline)
    spread *= MAD_TO_SIGMA
    np.maximum(spread, 0.1 * scale, out=spread)  # NaN stays: no spread known yet
    off /= spread
    off *= p.same_time_weight
    return off


def _seasonal_surprise(
    x: Array,
    level: Array,
    scale: Array,
    gaps: Array,
    step: float,
    p: DetectorParams,
    baseline: int,
    trend: Trend | None,
) -> tuple[Array, Array | None, Array | None, Array | None]:
    """How far each value lies from the median of the values at exactly the same time on the
    ``context_days`` (a seasonal model of normal; NaN with fewer than ``same_time_min_days`` of
    them), in units of such distances over the baseline, times ``seasonal_weight`` and the
    season's strength: 1 - (those distances' spread / the value's own spread)^2, 0 where the
    median of the days says no more than the series' median does (a noisy series without a
    season), near 1 where the season is most of what the series does. The value's z measures a
    strongly seasonal series against its whole daily swing, and the excuse lets through any
    value the hour held on some day: a spike at the daily trough to the height of the daily
    peak scored 0.44-0.70, under the noise's highest elsewhere in 3 of 12 series (a test). Both
    spreads are mean absolute distances, not medians: a weekday/weekend load, whose weekends are
    two days in seven far from the median of the days, has a wide spread and no strength, where
    a median would have called every Saturday a surprise. Filled rows (``gaps``) are neither
    scored nor one of the days: a copy of a value is not what that time of day looked like.

    Also the signed distance (the residual, NaN where not known) and, for ``_seasonal_novelty``,
    the season's strength where a new residual may count (a distance at least
    ``novelty_min_z`` units, before weights, in a season at least
    ``seasonal_novelty_strength`` strong), 0 elsewhere; and the lasting shift (``_lasting``),
    times that strength and ``seasonal_short_weight``, in such a season only (0 elsewhere: a
    weekday/weekend load's Saturdays are a lasting shift every week, and set a record that hid a
    weekday's drop, a test). The three None where there is no view (the last also with no
    weight)."""
    n = x.shape[1]
    lags = [lag for lag in (round(d * DAY / step) for d in p.context_days) if 1 <= lag < n]
    if p.seasonal_weight <= 0 or len(lags) < p.same_time_min_days:
        return np.full_like(x, np.nan), None, None, None
    known = np.where(gaps, np.nan, x)
    med = np.empty_like(x)
    block = 256  # the days side by side a block of columns at a time, as in the same-time view
    days = np.empty((len(lags), x.shape[0], block))
    for a in range(0, n, block):
        b = min(n, a + block)
        for i, lag in enumerate(lags):
            cut = min(max(lag - a, 0), b - a)  # columns of this block with no such day yet
            days[i, :, :cut] = np.nan
            days[i, :, cut : b - a] = known[:, a + cut - lag : b - lag]
            if trend is not None:  # carried by a steady trend to now
                days[i, trend.rows, cut : b - a] += trend.slope[:, a + cut : b] * lag
        both = days[:, :, : b - a]
        few = (~np.isnan(both)).sum(axis=0) < p.same_time_min_days
        med[:, a:b] = np.where(few, np.nan, bn.nanmedian(both, axis=0))
    residual = np.subtract(known, med, out=med)  # NaN: a gap, or too few days
    del known
    off = np.abs(residual)
    window = min(baseline, n)
    least = min(8, window)
    # Mean absolute distances as standard deviations (sqrt(pi / 2) for normal values). In
    # place where it can be: the sidecar scores 500 series of a week at a time in two threads.
    spread = bn.move_mean(_shift(off), window, min_count=least, axis=1)
    spread *= MEAN_ABS_TO_SIGMA
    own = np.multiply(level, scale)
    own = bn.move_mean(_shift(own), window, min_count=least, axis=1)
    own *= MEAN_ABS_TO_SIGMA
    # A flat week then a jump divides by next to nothing: inf, and inf times no strength NaN
    # (nothing known), as float arithmetic says
    with np.errstate(invalid="ignore", divide="ignore", over="ignore"):
        floor = 0.1 * own
        floor += 1e-300
        np.maximum(spread, floor, out=spread)  # NaN stays: nothing known yet
        lasting = _lasting(residual, floor, step, p, window) if p.seasonal_short_weight else None
        del floor
        off /= spread
        np.divide(spread, own, out=own)  # the strength: 1 - that squared, within [0, 1]
        np.square(own, out=own)
        np.subtract(1.0, own, out=own)
        np.clip(own, 0.0, 1.0, out=own)
        novel = spread  # its memory is free again
        novel[:] = 0.0
        np.copyto(novel, own, where=(off >= p.novelty_min_z) & (own >= p.seasonal_novelty_strength))
        off *= own
        off *= p.seasonal_weight
        if lasting is not None:
            lasting[own < p.seasonal_novelty_strength] = 0.0  # in a strong season only
            lasting *= own
            lasting *= p.seasonal_short_weight
    return off, residual, novel, lasting


def _lasting(residual: Array, floor: Array, step: float, p: DetectorParams, window: int) -> Array:
    """How far the residuals' short mean (all of its rows known) lies from 0, in units of such
    distances over the baseline (mean absolute distances as standard deviations, at least
    ``floor``). A level shift of 4 noise units inside a daily swing moves each residual about
    as far out as the week's noise did, but their half-hour mean twice as far as any such mean
    of the week: without this view it flagged in 25% of the classes' cases in a sawtooth, 70%
    in a daily sine (bench/detector_classes; 70% and 90% with it)."""
    rows = min(_rows(p.short_seconds, step), residual.shape[1])
    mean: Array = bn.move_mean(residual, rows, min_count=rows, axis=1)
    np.abs(mean, out=mean)
    spread = bn.move_mean(_shift(mean), window, min_count=min(8, window), axis=1)
    spread *= MEAN_ABS_TO_SIGMA
    np.maximum(spread, floor, out=spread)
    mean /= spread
    return mean


def _rows(seconds: float, step: float) -> int:
    return max(2, round(seconds / step))


def _window(seconds: float, step: float, p: DetectorParams) -> int:
    """The rows of a baseline, record or novelty window: its duration, and at least
    ``min_window_rows`` at a step so coarse that the duration holds fewer (a week of daily rows
    is 7 values: every few days one of them would be a new extreme)."""
    return max(_rows(seconds, step), p.min_window_rows)


def _ffill(x: Array) -> Array:
    """Gaps (NaN) take the last value seen in their row; leading gaps the row's first value
    (``scores`` starts a young series at its first point, so these are few), a row with none
    0."""
    known = ~np.isnan(x)
    first = np.argmax(known, axis=1)[:, None]
    seen = np.where(known, np.arange(x.shape[1]), first)
    np.maximum.accumulate(seen, axis=1, out=seen)
    filled = np.take_along_axis(x, seen, axis=1)
    out: Array = np.nan_to_num(filled, nan=0.0, posinf=np.inf, neginf=-np.inf)
    return out


def _stuck(
    x: Array, gaps: npt.NDArray[np.bool_], step: float, p: DetectorParams, first: int
) -> Array:
    """How many times as long as any run of the past week the value has been repeated: the
    observed rows since it last changed, over the longest such run of the week before this one
    began (``stuck_min_seconds`` and two rows at least); 0 under ``stuck_ratio``, for a run
    that began before column ``first``, and in a series that repeats its value on
    ``stuck_max_share`` of its rows or more (flat by nature: a disk's writes, mostly 0, whose
    quiet stretches vary in length). A frozen exporter or a sensor gone flat sends values that
    are all ordinary, so no other view sees it. Filled rows (``gaps``) neither score nor lengthen
    a run: a missing value is not a repeated one."""
    out = np.zeros(x.shape)
    n = x.shape[1]
    if p.stuck_ratio <= 0 or n < 2:
        return out
    changed = np.ones(x.shape, dtype=bool)
    np.not_equal(x[:, 1:], x[:, :-1], out=changed[:, 1:])  # a filled row copies the last value
    repeats = ~changed
    repeats &= ~gaps
    floor = max(2.0, p.stuck_min_seconds / step)
    # Only a series with enough repeated rows for one stuck run is looked at: most gauges of
    # floats never repeat a value, and this view would otherwise cost the detector a seventh
    rows = np.flatnonzero(np.count_nonzero(repeats, axis=1) >= p.stuck_ratio * floor - 1)
    if not len(rows):
        return out
    changed, repeats, gaps = changed[rows], repeats[rows], gaps[rows]
    # the run's first column, and the observed rows in it so far
    began = np.maximum.accumulate(np.where(changed, np.arange(n), 0), axis=1)
    seen = np.cumsum(~gaps, axis=1, dtype=np.float64)
    run = seen - np.take_along_axis(seen, began, axis=1) + 1
    week = min(_window(p.record_seconds, step, p), n)
    # the longest run and the share of repeated rows in the week before each column, read where
    # the run began: the run's own rows would otherwise be its record
    longest = np.take_along_axis(bn.move_max(_shift(run), week, min_count=1, axis=1), began, 1)
    share = bn.move_mean(_shift(repeats.astype(float)), week, min_count=1, axis=1)
    share = np.take_along_axis(share, began, 1)
    with np.errstate(invalid="ignore"):  # a run from the first column has no week before it
        ratio = run / np.maximum(longest, floor)
        ok = (ratio >= p.stuck_ratio) & (share < p.stuck_max_share)
    ok &= ~gaps & (began >= first)
    out[rows] = np.where(ok, ratio, 0.0)
    return out


def _novelty(
    x: Array,
    candidate: npt.NDArray[np.bool_],
    step: float,
    p: DetectorParams,
    first: int,
    *,
    min_known: float = 0.0,
    trend: Trend | None = None,
) -> Array:
    """How new each value from column ``first`` on is: its distance from the nearest value of
    the previous ``novelty_seconds`` (moved by a steady ``trend`` to where it carries them),
    in units of ``novelty_fraction`` of those rows' range; 0
    where it is not new (a distance under 1). Only ``candidate`` rows are tested (those at least
    ``novelty_min_z`` surprising: the only ones where it can matter, and each test reads a whole
    window). With ``min_known`` (residuals, NaN where not known) NaN is no value: a NaN row is
    not tested, a window's NaN are left out, and a window that knows less than that share of its
    rows finds nothing new; without it ``x`` holds no NaN (the values, gaps filled)."""
    out = np.zeros(x.shape)
    window = min(_window(p.novelty_seconds, step, p), x.shape[1])
    candidate = candidate & ~np.isnan(x)
    candidate[:, : max(first, 1)] = False  # the first row has no past
    rows, cols = np.nonzero(candidate)
    if not len(rows):
        return out
    # Windows from the earliest tested row's on, as a view. One that would reach before the
    # series starts with copies of its first value instead: that value is in the past of every
    # later row already, so neither the range nor the test changes.
    lo = int(cols.min())
    base = x[:, max(0, lo - window) : -1]
    if lo < window:
        base = np.concatenate([np.repeat(x[:, :1], window - lo, axis=1), base], axis=1)
    windows = sliding_window_view(base, window, axis=1)  # [:, t - lo]: x[t - window .. t - 1]
    per_chunk = max(1, 2**22 // window)  # a few tens of MB of windows at a time
    for i in range(0, len(rows), per_chunk):
        r, c = rows[i : i + per_chunk], cols[i : i + per_chunk]
        past = windows[r, c - lo]
        slope = trend.at(r, c) if trend is not None else None
        if slope is not None and (moving := slope != 0).any():
            # each value moved to where the trend carries it by the column tested; a window
            # from before the series began starts with copies of its first value (c steps back)
            ahead = np.minimum(np.arange(window, 0, -1, dtype=float)[None, :], c[moving, None])
            past[moving] += slope[moving, None] * ahead
        with np.errstate(invalid="ignore", divide="ignore"):  # an infinite value or range...
            if min_known:  # NaN-aware only where NaN can be: the plain ones are faster
                top, bottom = bn.nanmax(past, axis=1), bn.nanmin(past, axis=1)
                nearest = bn.nanmin(np.abs(past - x[r, c, None]), axis=1)
            else:
                top, bottom = past.max(axis=1), past.min(axis=1)
                nearest = np.abs(past - x[r, c, None]).min(axis=1)
            near = p.novelty_fraction * (top - bottom)
            far = nearest / near
            # A week of one value, then another (a gauge that never moved, an idle service's
            # first request): no range to measure by, and as new as a value can be
            flat = (near == 0) & (nearest > 0)
        new = np.where((near > 0) & (far > 1), far, 0.0)  # an infinite range (NaN): nothing new
        new = np.where(flat, np.inf, new)
        if min_known:
            new[np.count_nonzero(~np.isnan(past), axis=1) < min_known * window] = 0.0
        out[r, c] = new
    return out


@dataclass(frozen=True)
class Trend:
    """The series with a steady trend somewhere (``rows`` of the matrix, ascending) and its
    slope per step at each of their columns (0 where there is none)."""

    rows: npt.NDArray[np.intp]
    slope: Array  # (len(rows), columns)

    def at(self, r: npt.NDArray[np.intp], c: npt.NDArray[np.intp]) -> Array:
        """The slope at each (row, column) of the matrix, 0 in a row without a trend."""
        where = np.minimum(np.searchsorted(self.rows, r), len(self.rows) - 1)
        out: Array = np.where(self.rows[where] == r, self.slope[where, c], 0.0)
        return out


def _trend(x: Array, step: float, p: DetectorParams) -> Trend | None:
    """Per row and column, the slope (per step) of a steady trend in the week before it, 0 where
    there is none; None where there is none anywhere. Steady: the week's own values a day apart
    (half a week's pairs at least) rise, or fall, ``trend_agree`` more often than not (the rises
    less the falls over the pairs); the slope is the median of those differences over a day.
    Pairs a day apart, so a daily season is no trend; the median and three pairs in four, so a
    level shift in the week (a day's pairs of six) is none, nor a slow rise in a noisy series:
    one of NAB's rds_cpu files, whose pairs a day apart rise two times in three, lost its window
    once it was taken for one. Counted by moving sums and medians over the series."""
    n = x.shape[1]
    span = _window(p.novelty_seconds, step, p)
    day = round(DAY / step)
    if p.trend_agree > 1 or not 1 <= day < span or n <= day + 1:  # rows more than 2 days apart
        return None
    with np.errstate(invalid="ignore"):  # inf - inf: neither a rise nor a fall
        diffs = x[:, day:] - x[:, :-day]  # [:, t - day]: x[t] against x[t - day]
        sign = np.nan_to_num(np.sign(diffs), nan=0.0)
    pairs = min(span - day, n - day)
    # column c reads the pairs that end before it: [:, c - 1 - day]
    lean = np.zeros(x.shape)
    lean[:, day + 1 :] = bn.move_sum(sign, pairs, min_count=1, axis=1)[:, : n - day - 1]
    del sign
    own = np.clip(np.arange(n) - day, 0, span - day).astype(float)
    steady = (np.abs(lean) >= p.trend_agree * own) & (2 * own >= span - day)
    del lean
    rows = np.flatnonzero(steady.any(axis=1))
    if not len(rows):
        return None
    out = np.zeros((len(rows), n))
    slope = bn.move_median(diffs[rows], pairs, min_count=1, axis=1)[:, : n - day - 1] / day
    out[:, day + 1 :] = np.nan_to_num(slope, nan=0.0, posinf=0.0, neginf=0.0)  # inf - inf
    out[~steady[rows]] = 0.0
    return Trend(rows, out)


def _seasonal_novelty(
    residual: Array, strength: Array, step: float, p: DetectorParams, first: int
) -> Array:
    """How new each residual (``_seasonal_surprise``'s: the value less the median of the same
    time on the context days) is where ``strength`` is above 0, as ``_novelty`` measures a
    value, from ``seasonal_novelty_far`` on (0 nearer), times that strength; in a week at least
    half of whose residuals are known. A spike inside a strong daily swing is no new value, and
    the seasonal view measures it against a record its own noise set: an 8-unit spike there
    flagged in 65-75% of the classes' cases, in a sawtooth 30-35% (bench/detector_classes). Its
    residual is new as the same spike in white noise is new. Three times as far out as a value
    must be: a season's residuals are near-normal noise, whose new extremes pass the old ones by
    a little, and from 1 a clean daily swing flagged 0.1 times a day where it had never flagged
    (and an AIOps KPI whose level fell by half over a week, every day's residual a new low, 10
    times); from 3, 0.016 times."""
    out = np.zeros(residual.shape)
    rows = np.flatnonzero((strength[:, first:] > 0).any(axis=1))
    if not len(rows):
        return out
    new = _novelty(residual[rows], strength[rows] > 0, step, p, first, min_known=0.5)
    new[new < p.seasonal_novelty_far] = 0.0
    out[rows] = new * strength[rows]
    return out


def scores(
    values: Array,
    step: float,
    params: DetectorParams = DetectorParams(),
    *,
    last: int | None = None,
) -> Array:
    """Anomaly score per row of a regularly spaced series (``step`` seconds apart); ``values``
    may also be a (series x time) matrix, scored row by row in one pass.

    NaN rows (gaps) take the last value seen; a constant series scores 0 throughout. A series
    NaN in its first columns (younger than the matrix) is scored from its first value
    (``ages.starts``), 0 before: as a series it is, not as one that jumped from a made-up flat
    stretch. With ``last``, only the newest ``last`` rows' scores are needed (the live sidecar
    reads no others): they are exact, older rows may miss their novelty (its test, the costly
    part, runs on those rows and the refractory period before them only). A glitch
    (``glitches``) is scored as read and is a gap for the rows after it.
    """
    x = np.asarray(values, dtype=float)
    if x.ndim == 1:
        one: Array = scores(x[None, :], step, params, last=last)[0]
        return one
    if params.glitch_ranges > 0:
        odd = glitches(x, step, params)
        if odd.any():
            plain = replace(params, glitch_ranges=0.0)
            out = scores(x, step, plain, last=last)
            rows = np.flatnonzero(odd.any(axis=1))
            cleaned = x[rows].copy()
            cleaned[odd[rows]] = np.nan
            again = scores(cleaned, step, plain, last=last)
            out[rows] = np.where(odd[rows], out[rows], again)
            return out
    begin = starts(x)
    # An infinite value (a quantile past its last bucket) meets another in a median or a range
    # now and then: inf - inf is NaN, which every step here already takes for "nothing known"
    # (and the infinite value itself scores 1).
    with np.errstate(invalid="ignore"):
        if not begin.any():  # the usual case: every series there from the first column
            return _scores(x, step, params, last)
        out = np.zeros(x.shape)
        for start in np.unique(begin):
            rows = np.flatnonzero(begin == start)
            out[rows, start:] = _scores(x[rows, start:], step, params, last)
    return out


def glitches(x: Array, step: float, p: DetectorParams) -> npt.NDArray[np.bool_]:
    """Glitches: rows more than ``glitch_ranges`` times the record week's range outside that
    range whose next row is back inside it, from the novelty test's first row of the series on
    (a day's range says little). An exporter's misread value (1,000,000 in a series at 50) was
    the record for the week after it and stretched the novelty test's range: a spike of 8 noise
    units three days later flagged in none of 10 series (a test). ``scores`` scores a glitch as
    read and leaves it out of the history of the rows after it (a gap), so a glitch flags once
    and quiets nothing. A jump that stays is none; nor is any row of NAB's or the AIOps KPIs'
    files but one (a network burst 140 million bytes high), whose corpus did not move."""
    n = x.shape[1]
    week = min(_window(p.record_seconds, step, p), n)
    past = _shift(x)
    # near float's limit ten ranges are inf: no glitch
    with np.errstate(invalid="ignore", over="ignore"):
        lo = bn.move_min(past, week, min_count=1, axis=1)
        hi = bn.move_max(past, week, min_count=1, axis=1)
        width = hi - lo
        out = np.fmax(x - hi, lo - x)
        odd: npt.NDArray[np.bool_] = (width > 0) & (out > p.glitch_ranges * width)
        back = np.zeros(x.shape, dtype=bool)
        back[:, :-1] = (x[:, 1:] >= lo[:, :-1]) & (x[:, 1:] <= hi[:, :-1])
    odd &= back
    # from each series' own first value (a young series starts late in the matrix)
    odd &= np.arange(n) >= (starts(x) + _rows(p.novelty_after_seconds, step))[:, None]
    return odd


def _scores(x: Array, step: float, p: DetectorParams, last: int | None) -> Array:
    """``scores`` of a matrix whose series all start in its first column."""
    baseline = _window(p.baseline_seconds, step, p)
    short = _rows(p.short_seconds, step)
    gaps = np.isnan(x)
    x = _ffill(x)
    by = exponents(x)
    if by.any():  # near float's limit: sums and squares would overflow (scale.py)
        x = down(x, by)
    n = x.shape[1]
    level, scale = _robust_z(x, baseline)
    mean = bn.move_mean(x, min(short, n), min_count=1, axis=1)
    shifted = _robust_z(mean, baseline)[0] * p.short_weight
    z = np.fmax(level, shifted)
    # The distance from what this time of day looked like, in the units of such distances over
    # the baseline (mostly 0: a value usually lies within the range around its hour), and at
    # least a tenth of the level's: an hour's values that repeat but for noise stay excused.
    trend = _trend(x, step, p)
    gap = _context_distance(x, step, p, trend)
    gap_scale = np.maximum(MAD_TO_SIGMA * _median(_shift(gap), baseline), 0.1 * scale)
    excused = gap / gap_scale
    z = np.fmin(z, np.where(np.isnan(excused), np.inf, excused))  # no context: z as it is
    if gaps.any():  # a mean with filled rows in it (a spike's copy, say) is not compared
        filled = bn.move_max(gaps.astype(float), min(short, n), min_count=1, axis=1) > 0
        mean = np.where(filled, np.nan, mean)
    z = np.fmax(z, _same_time_surprise(mean, scale, step, p, baseline, trend))  # NaN: none known
    warmup = max(p.warmup_rows, _rows(p.warmup_seconds, step))
    refractory = min(_rows(p.refractory_seconds, step), n) if p.refractory_seconds > 0 else 0
    first = max(warmup, _rows(p.novelty_after_seconds, step))
    tested = first if last is None else max(first, n - last - refractory)
    seasonal, residual, strength, lasting = _seasonal_surprise(
        x, level, scale, gaps, step, p, baseline, trend
    )
    z = np.fmax(z, seasonal)
    del seasonal
    # The rows whose value may be new: surprising as values, not as a lasting shift (at the
    # trough of a daily swing, two low rows in a row opened the test for a value that was only
    # the week's lowest, and it flagged)
    candidate = z >= p.novelty_min_z
    if lasting is not None:
        z = np.fmax(z, lasting)
        del lasting
    novel = None  # new residuals, tested at once: the residuals are a matrix the size of x
    if residual is not None and strength is not None:
        # Only a value no day held around its hour (the excuse's range): in the live sidecar's
        # week a weekend's first morning has no weekend among the residuals before it (they start
        # on the read's third day), but the Sunday before holds its values: a load whose
        # weekends peak lower flagged 0.11 times a day without this, 0.016 with it and before
        strength[gap == 0] = 0.0
        novel = _seasonal_novelty(residual, strength, step, p, tested)
        del residual, strength
    z = np.nan_to_num(z, nan=0.0, posinf=np.inf)
    z[:, :warmup] = 0.0  # too little history: neither a score nor a record to beat
    week = _window(p.record_seconds, step, p)
    # The record: the largest surprise of the week before the row but its last few hours (a
    # slowly rising event set it otherwise, row by row, and never passed it by much: a drift of
    # 8 noise units over 6 hours in a daily swing flagged in 1 of 20 series, now in 10)
    left_out = min(max(0, round(p.record_gap_seconds / step)), week - 1)
    record = bn.move_max(_shift(z, 1 + left_out), min(week - left_out, n), min_count=1, axis=1)
    # A record of fewer rows than a week's is passed more easily: the largest of k values grows
    # like log k (exponential tails; surprises are heavy-tailed, so no less), so it is scaled up
    # by log(week) / log(k) until a week of rows is behind it.
    behind = np.clip(np.arange(n) - warmup - left_out, 1, week).astype(float)
    young = np.log(week + 1.0) / np.log(behind + 1.0)
    with np.errstate(divide="ignore", invalid="ignore"):
        # no record yet (the first surprise after the warm-up sets it): nothing to compare with
        ratio = np.where(
            (z > 0) & (record > 0), z / (np.maximum(record, RECORD_FLOOR) * young), 0.0
        )
    new = _novelty(x, candidate, step, p, tested, trend=trend)
    ratio = np.maximum(ratio, NOVEL_RATIO * new)
    if novel is not None:
        ratio = np.maximum(ratio, NOVEL_RATIO * novel)
    ratio = np.maximum(ratio, _stuck(x, gaps, step, p, first))
    ratio = np.nan_to_num(ratio, nan=0.0, posinf=MAX_RATIO)  # an infinite value, or record
    score = ratio / (1.0 + ratio)
    if not refractory:
        return score
    recent = bn.move_max(_shift(ratio), refractory, min_count=1, axis=1)
    with np.errstate(invalid="ignore"):
        # within float noise: a series of whole numbers has ratios like 4:5 exactly, and a tie
        # must not depend on the order a moving sum added its terms in
        again = (recent > 0) & (recent >= p.refractory_ratio * ratio * (1 - TIE))
        # the first row of the refractory time to reach the flag is let through
        again &= ~((ratio >= p.rising_pass_ratio) & (recent < p.rising_pass_ratio))
    out: Array = np.where(again, 0.0, score)
    return out


SNAP = 0.01  # a median spacing this close to a step that divides a day is that step
# The rows' times lie around a grid of a step when the mean of their phases on it is at least
# this long (1 on the grid; rows up to 40% of a step early or late, at random, 0.23; times at
# random, about 1 / sqrt(rows)): see ``_grid_step``
ON_GRID = 0.15


def step_of(timestamps: npt.NDArray[np.int64] | Array) -> float:
    """The step of the grid the timestamps lie around (``_grid_step``), else their typical
    spacing (the median difference), in seconds; within ``SNAP`` of a step that divides a day
    (``DAY_DIVISORS``), that step. Scrape times jitter by milliseconds (14.998 s for a 15 s
    scrape), and on a step that does not divide a day no season is a whole number of steps:
    the forecast would have none."""
    t = np.asarray(timestamps, dtype=float)
    diffs = np.diff(t)
    diffs = diffs[diffs > 0]
    if not len(diffs):
        return 60.0
    step = _grid_step(t, diffs)
    nearest = min(DAY_DIVISORS, key=lambda s: abs(s - step))
    return float(nearest) if abs(nearest - step) <= SNAP * step else step


def _grid_step(t: Array, diffs: Array) -> float:
    """The largest step, up to the median spacing, whose grid the times lie around; the median
    spacing where they lie around none. With rows missing and each row early or late, the
    median spacing is no step: a 5-minute collector that lost two rows in five, its rows up to
    two minutes early or late, has a median spacing of about 400 s, on whose grid a day was 217
    columns and the daily season fell apart; one that lost four rows in five, 600 s, and two rows
    fell in each column. The guesses: the median spacing over 1-8 (an exact grid with rows
    missing) and the steps that divide a day below it (a jittered grid of such a step). A guess
    is kept where the rows' phases on its grid cluster: the mean of them on the circle is at
    least ``ON_GRID`` long, and longer than chance makes it for few rows (1 / sqrt(rows)); on a
    wrong step's grid the phases wrap round the circle. A jittered grid of a step that divides
    no day (7 minutes) is not found: its median spacing stays, as before."""
    median = float(np.median(diffs))
    least = max(ON_GRID, 4.0 / np.sqrt(sampled(t)))
    guesses = {median / m for m in range(1, 9)}
    guesses |= {float(s) for s in DAY_DIVISORS if median / 8 <= s < median}
    for step in sorted(guesses, reverse=True):
        if abs(mean_phase(t, step)) >= least:
            return step
    return median
