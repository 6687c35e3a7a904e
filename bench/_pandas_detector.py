"""The anomaly detector of forecaster_sidecar/anomaly.py written plainly with pandas' rolling
windows, one series at a time: the tests' reference for the vectorised scorer, and the baseline
bench/sidecar_speed.py times it against.

The two agree to float precision except where a series' scale collapses (a median of |x| of 0,
so the scale floor is ``SCALE_FLOOR``, 1e-9): there a moving mean's rounding residue, which
pandas and bottleneck accumulate differently, is itself "surprising" and can decide a record.
One of the 28 NAB files has such a stretch (bench/nab_eval.py scores the vectorised detector).
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt
import pandas as pd

from forecaster_sidecar.ages import starts
from forecaster_sidecar.anomaly import (
    DAY,
    LEVEL_FLOOR,
    MAD_TO_SIGMA,
    MAX_RATIO,
    MEAN_ABS_TO_SIGMA,
    NOVEL_RATIO,
    RECORD_FLOOR,
    SCALE_FLOOR,
    TIE,
    Array,
    DetectorParams,
)


def scores(values: Array, step: float, *, last: int | None = None) -> Array:
    """The detector written plainly with pandas' rolling windows, one series at a time: the
    vectorised scorer must give the same scores (``last`` as there: the novelty test only on
    the newest rows and the refractory period before them). A series that starts late is
    scored from where ``ages.starts`` says, 0 before. A glitch (``_glitches``) scores as read
    and leaves the history of the rows after it."""
    x = np.asarray(values, dtype=float)
    out = _started(x, step, last)
    odd = _glitches(x, step)
    if odd.any():
        again = _started(np.where(odd, np.nan, x), step, last)
        out = np.where(odd, out, again)
    return out


def _started(x: Array, step: float, last: int | None) -> Array:
    start = int(starts(x[None, :])[0])
    out = np.zeros(len(x))
    out[start:] = _plain(x[start:], step, last)
    return out


def _glitches(values: Array, step: float) -> npt.NDArray[np.bool_]:
    """Rows, from the novelty test's first, more than ``glitch_ranges`` times the record week's
    range (of the rows before them) outside it, whose next row is back inside it."""
    p = DetectorParams()
    week = max(max(2, round(p.record_seconds / step)), p.min_window_rows)
    past = pd.Series(values).shift(1).rolling(week, min_periods=1)
    lo, hi = past.min().to_numpy(), past.max().to_numpy()
    # near float's limit ten ranges are inf: no glitch
    with np.errstate(invalid="ignore", over="ignore"):
        out = np.fmax(values - hi, lo - values)
        odd: npt.NDArray[np.bool_] = (hi - lo > 0) & (out > p.glitch_ranges * (hi - lo))
        back = np.zeros(len(values), dtype=bool)
        back[:-1] = (values[1:] >= lo[:-1]) & (values[1:] <= hi[:-1])
    odd &= back
    start = int(starts(values[None, :])[0])  # from the series' own first value
    odd[: start + max(2, round(p.novelty_after_seconds / step))] = False
    return odd


def _plain(values: Array, step: float, last: int | None) -> Array:
    p = DetectorParams()

    def rows(seconds: float) -> int:
        return max(2, round(seconds / step))

    def window(seconds: float) -> int:  # a baseline, record or novelty window
        return max(rows(seconds), p.min_window_rows)

    def robust_z(x: pd.Series[float], n: int) -> tuple[pd.Series[float], pd.Series[float]]:
        past = x.shift(1)
        med = past.rolling(n, min_periods=8).median()
        mad = (past - med).abs().rolling(n, min_periods=8).median()
        least = LEVEL_FLOOR * med.abs() + SCALE_FLOOR
        scale = pd.concat([MAD_TO_SIGMA * mad, least], axis=1).max(axis=1)
        scale[mad.isna()] = np.nan  # no MAD yet: no scale (np.maximum's NaN, as bottleneck's)
        return ((x - med) / scale).abs(), scale

    baseline, short = window(p.baseline_seconds), rows(p.short_seconds)
    x = pd.Series(values).ffill().bfill().fillna(0.0)  # leading gaps: the first value
    level, scale = robust_z(x, baseline)
    # a steady trend before each row: its values a day apart (half a week's pairs at least)
    # rise, or fall, trend_agree more often than not; the slope per row is their median / day
    day, span = round(DAY / step), window(p.novelty_seconds)
    slope = pd.Series(np.zeros(len(x)))
    if 1 <= day < span and p.trend_agree <= 1:
        diffs = x - x.shift(day)
        rises = pd.Series(np.sign(diffs.to_numpy()))  # NaN: no pair yet, or inf - inf
        lean = rises.rolling(span - day, min_periods=1).sum().shift(1)
        own = pd.Series(np.clip(np.arange(len(x)) - day, 0, span - day), dtype=float)
        steady = (lean.abs() >= p.trend_agree * own) & (2 * own >= span - day)
        median = diffs.rolling(span - day, min_periods=1).median().shift(1) / day
        slope = median.where(steady, 0.0).replace([np.inf, -np.inf], 0.0).fillna(0.0)
    shifted = robust_z(x.rolling(short, min_periods=1).mean(), baseline)[0] * p.short_weight
    z = pd.concat([level, shifted], axis=1).max(axis=1)
    # the distance from the range around the same time on each context day, the nearest day's
    half = round(p.context_seconds / step)
    gaps = []
    for days in p.context_days:
        lag = round(days * DAY / step)
        around = x.rolling(2 * half + 1, center=True, min_periods=1)
        # that day's range where a steady trend carries it by now
        lo, hi = around.min().shift(lag) + slope * lag, around.max().shift(lag) + slope * lag
        # a window that would reach into the future of the row is not there yet
        if lag - half < 1:
            continue
        gaps.append(pd.concat([lo - x, x - hi], axis=1).max(axis=1).clip(lower=0.0))
    if gaps:
        gap = pd.concat(gaps, axis=1).min(axis=1)
        past = MAD_TO_SIGMA * gap.shift(1).rolling(baseline, min_periods=8).median()
        gap_scale = pd.concat([past, 0.1 * scale], axis=1).max(axis=1)
        gap_scale[past.isna()] = np.nan
        excused: pd.Series[float] = (gap / gap_scale).fillna(np.inf)
        z = pd.concat([z, excused], axis=1).min(axis=1)
    # the short mean against the range of the short means at the same time on the context
    # days; a mean with a gap's filled rows in it is not compared
    filled = pd.Series(values).isna().astype(float).rolling(short, min_periods=1).max() > 0
    mean = x.rolling(short, min_periods=1).mean().where(~filled)
    lags = [round(d * DAY / step) for d in p.context_days]
    same = pd.concat([mean.shift(lag) + slope * lag for lag in lags], axis=1)
    enough = same.count(axis=1) >= p.same_time_min_days
    lo, hi = same.min(axis=1).where(enough), same.max(axis=1).where(enough)
    off = pd.concat([lo - mean, mean - hi], axis=1).max(axis=1).clip(lower=0.0)
    off[lo.isna() | mean.isna()] = np.nan
    spread = MAD_TO_SIGMA * off.shift(1).rolling(baseline, min_periods=8).median()
    unit = pd.concat([spread, 0.1 * scale], axis=1).max(axis=1)
    unit[spread.isna()] = np.nan
    z = pd.concat([z, p.same_time_weight * off / unit], axis=1).max(axis=1)
    # the value against the median of the same time on the context days, weighted by the
    # season's strength; a filled row is neither scored nor one of the days
    seen = x.where(pd.Series(values).notna())
    on_days = pd.concat([seen.shift(lag) + slope * lag for lag in lags], axis=1)
    median = on_days.median(axis=1).where(on_days.count(axis=1) >= p.same_time_min_days)
    away = (seen - median).abs()
    spread = MEAN_ABS_TO_SIGMA * away.shift(1).rolling(baseline, min_periods=8).mean()
    own = MEAN_ABS_TO_SIGMA * (level * scale).shift(1).rolling(baseline, min_periods=8).mean()
    spread = pd.Series(np.maximum(spread.to_numpy(), 0.1 * own.to_numpy() + 1e-300))
    strength = (1 - (spread / own) ** 2).clip(0.0, 1.0)
    z = pd.concat([z, p.seasonal_weight * strength * away / spread], axis=1).max(axis=1)
    # the residuals' short mean (every row of it known) in units of its own spread
    lasting = (seen - median).rolling(min(short, len(x)), min_periods=min(short, len(x))).mean()
    lasting = lasting.abs()
    unit = MEAN_ABS_TO_SIGMA * lasting.shift(1).rolling(baseline, min_periods=8).mean()
    unit = pd.Series(np.maximum(unit.to_numpy(), 0.1 * own.to_numpy() + 1e-300))
    held = p.seasonal_short_weight * strength * lasting / unit
    held[strength < p.seasonal_novelty_strength] = 0.0  # in a strong season only
    candidate = (z >= p.novelty_min_z).to_numpy()  # a value surprising as a value
    z = pd.concat([z, held], axis=1).max(axis=1)
    # where a new residual may count: a distance of novelty_min_z units in a strong season
    testable = ((away / spread) >= p.novelty_min_z) & (strength >= p.seasonal_novelty_strength)
    if gaps:  # and a value no day held around its hour
        testable &= gap != 0
    residual = (seen - median).to_numpy()
    z = z.fillna(0.0)
    z[: max(p.warmup_rows, rows(p.warmup_seconds))] = 0.0
    # the record: the week before the row but its last few hours
    week = window(p.record_seconds)
    left_out = min(max(0, round(p.record_gap_seconds / step)), week - 1)
    record = z.shift(1 + left_out).rolling(week - left_out, min_periods=1).max()
    zs, rec = z.to_numpy(), record.to_numpy()
    ratio = np.zeros(len(zs))
    known = (zs > 0) & (rec > 0)  # NaN compares False: the first row has no record
    warmup = max(p.warmup_rows, rows(p.warmup_seconds))
    behind = np.clip(np.arange(len(zs)) - warmup - left_out, 1, week).astype(float)
    young = np.log(week + 1.0) / np.log(behind + 1.0)  # a record of less than a week
    ratio[known] = zs[known] / (np.maximum(rec[known], RECORD_FLOOR) * young[known])
    # a new value: no row of the previous week within 4 % of the range those rows covered,
    # counted by how far it is from the nearest
    v, n = np.asarray(x, dtype=np.float64), len(x)
    refractory = rows(p.refractory_seconds)
    first = max(warmup, rows(p.novelty_after_seconds))
    first = first if last is None else max(first, n - last - refractory)
    for t in range(max(first, 1), n):
        before = v[max(0, t - window(p.novelty_seconds)) : t]
        # moved to where a steady trend carries each value by row t
        before = before + slope[t] * np.arange(len(before), 0, -1, dtype=float)
        near = p.novelty_fraction * (before.max() - before.min())
        far = np.abs(before - v[t]).min() / near if near > 0 else 0.0
        if near == 0 and before[0] != v[t]:  # a week of one value, then another
            far = np.inf
        if candidate[t] and far > 1:  # twice as far counts twice as much
            ratio[t] = max(ratio[t], NOVEL_RATIO * far)
    # a new residual, three times as far out as a new value, times the season's strength; in a
    # week at least half of whose residuals are known
    span = min(window(p.novelty_seconds), n)
    for t in range(max(first, 1), n):
        if not testable[t] or np.isnan(residual[t]):
            continue
        before = residual[max(0, t - span) : t]
        before = before[~np.isnan(before)]
        if len(before) < 0.5 * span:
            continue
        near = p.novelty_fraction * (before.max() - before.min())
        nearest = np.abs(before - residual[t]).min()
        far = nearest / near if near > 0 else (np.inf if nearest > 0 else 0.0)
        if far > 1 and far >= p.seasonal_novelty_far:
            ratio[t] = max(ratio[t], NOVEL_RATIO * far * strength[t])
    # a value repeated twice as long as any run of one value in the week before the run began
    # (two rows and 15 minutes at least), in a series that repeats on under half of its rows;
    # a filled row neither scores nor lengthens a run
    observed = ~np.isnan(values)
    run, repeated, began = np.zeros(n), np.zeros(n), np.zeros(n, dtype=int)
    for t in range(n):
        if t == 0 or v[t] != v[t - 1]:
            began[t], run[t] = t, 1
        else:
            began[t], run[t], repeated[t] = began[t - 1], run[t - 1] + observed[t], observed[t]
    stuck_from = max(warmup, rows(p.novelty_after_seconds))
    for t in range(n):
        b = began[t]
        if not observed[t] or b < stuck_from:
            continue
        week_before = slice(max(0, b - week), b)
        longest = max(p.stuck_min_seconds / step, 2.0, run[week_before].max())
        if run[t] / longest >= p.stuck_ratio and repeated[week_before].mean() < p.stuck_max_share:
            ratio[t] = max(ratio[t], run[t] / longest)
    ratio = np.nan_to_num(ratio, nan=0.0, posinf=MAX_RATIO)
    score = ratio / (1.0 + ratio)
    recent = pd.Series(ratio).shift(1).rolling(refractory, min_periods=1).max().to_numpy()
    with np.errstate(invalid="ignore"):
        again = (recent > 0) & (recent >= p.refractory_ratio * ratio * (1 - TIE))
        # the first row of the refractory time to reach the flag passes
        again &= ~((ratio >= p.rising_pass_ratio) & (recent < p.rising_pass_ratio))
    return np.where(again, 0.0, score)
