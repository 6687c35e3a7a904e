"""Forecast models, vectorised across series: every function takes a matrix ``y`` of shape
(series, time) on a regular step and works on all rows at once.

- ``level``: simple exponential smoothing, a flat forecast (factor from a grid per series);
- ``median``: the median of the last season (or day), flat: robust to spikes in the history;
- ``seasonal_naive``: the last season repeated (the last value without a season);
- ``seasonal_level``: the level of the series less its season's typical shape, the shape added
  back (Theta-like: today's level at once, the season from the whole history);
- ``seasonal_ratio``: the same with the shape as a ratio to the level, multiplied in (a load
  whose daily swing grows and shrinks with it; series that were ever zero or below keep the
  added shape);
- ``linear``: least squares over the last window, extrapolated;
- ``holt``: damped additive trend (level + trend), smoothing factors from a small grid chosen per
  series by in-sample one-step error;
- ``holt_winters``: damped additive trend and additive season, the same way.

``forecast`` backtests every model from a few origins (``backtest``), picks per series the one
with the least error (each lead weighted 1/sqrt(lead); Holt-Winters must win by a margin) whose
forecast is plausible (``guards.py``), fits it on the whole history (a recursive model's state
carries on from the backtest's) and keeps it within what the series can be (``limits``). Its
bands are quantiles of the errors the choosing makes on stretches it did not choose on. NaN
gaps are filled with the last value seen; rows with too little data fall back to the last
value. Isolated outliers in the history are replaced by their neighbours' median before any
model is fitted (``despike``), so one bad scrape does not bend a level, a trend or a season for
days; not those a season apart (a job that runs every hour or every night is the season).
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field, replace

import bottleneck as bn
import numpy as np
import numpy.typing as npt

from forecaster_sidecar import guards, scale

Array = npt.NDArray[np.float64]
MODELS = (
    "level",
    "median",
    "seasonal_naive",
    "seasonal_level",
    "seasonal_ratio",
    "linear",
    "holt",
    "holt_winters",
)

_HOLT_GRID = [(a, b, phi) for a in (0.1, 0.3, 0.6, 0.9) for b in (0.01, 0.1) for phi in (0.9, 0.98)]
_HW_GRID = [
    (a, b, g, phi)
    for a, b, g, phi in itertools.product((0.1, 0.3, 0.6), (0.01, 0.05), (0.05, 0.2), (0.98,))
]


def fill_gaps(y: Array) -> Array:
    """Forward-fill gaps along time; leading gaps take the first value seen. A gap is NaN, or
    an infinite value: Prometheus answers +Inf for a quantile past the last bucket and for a
    division by zero, and no model forecasts (nor trend follows) infinity."""
    y = np.array(y, dtype=float, copy=True)
    if y.ndim == 1:
        y = y[None, :]
    mask = ~np.isfinite(y)
    if not mask.any():  # the usual case: a scrape every step
        return y
    y[mask] = np.nan
    idx = np.where(~mask, np.arange(y.shape[1]), 0)
    np.maximum.accumulate(idx, axis=1, out=idx)
    y = y[np.arange(y.shape[0])[:, None], idx]
    first = np.argmax(~np.isnan(y), axis=1)
    lead = np.arange(y.shape[1])[None, :] < first[:, None]
    y[lead] = y[np.arange(y.shape[0]), first].repeat(lead.sum(axis=1))
    return y


# An outlier is a point far from the median of the SPIKE_WINDOW points centred on it: farther than
# SPIKE_SIGMAS times the series' robust noise (the MAD of every point's distance to its own
# centred median) or the window's own MAD, whichever is larger. A run of up to half the window
# is "isolated"; anything longer is a level shift and stays. The last half window has no future
# to compare with (a fresh spike and a fresh shift look alike there), so it is left as it is.
SPIKE_WINDOW = 9
SPIKE_SIGMAS = 12.0
MAD_TO_SIGMA = 1.4826


def despike(y: Array, season: int | None = None) -> Array:
    """``y`` (no NaN) with isolated outliers replaced by their centred median; with ``season``,
    not one whose point a season before stood out the same way (at least half as far, on the
    same side): a job that runs every hour or every night is the season, not an outlier."""
    t = y.shape[1]
    w = SPIKE_WINDOW
    if t < 2 * w:
        return y
    half = w // 2
    centred = bn.move_median(y, w, axis=1)[:, w - 1 :]  # column j: median of y[:, j : j + w]
    dist = np.abs(y[:, half : t - half] - centred)
    noise = MAD_TO_SIGMA * bn.median(dist, axis=1)[:, None]
    rows, cols = np.nonzero(dist > SPIKE_SIGMAS * np.maximum(noise, 1e-9 * np.abs(centred)))
    # Only the few points past the series' own noise are checked against their neighbourhood's:
    # a busy stretch is judged by its own spread (the median distance around the point).
    around = np.clip(cols[:, None] + np.arange(-half, half + 1)[None, :], 0, dist.shape[1] - 1)
    local = MAD_TO_SIGMA * np.median(dist[rows[:, None], around], axis=1)
    spikes = dist[rows, cols] > SPIKE_SIGMAS * local
    if season:  # only the flagged points and their points a season before: no new matrix
        back = np.maximum(cols - season, 0)
        now = y[rows, cols + half] - centred[rows, cols]
        before = y[rows, back + half] - centred[rows, back]
        again = (cols >= season) & (before * now > 0) & (np.abs(before) >= 0.5 * np.abs(now))
        spikes &= ~again
    rows, cols = rows[spikes], cols[spikes]
    out = y.copy()
    out[rows, cols + half] = centred[rows, cols]
    return out


_LEVEL_GRID = (0.05, 0.1, 0.3, 0.6, 0.9)


def level(y: Array, horizon: int) -> Array:
    return _forecast(_advance(_start("level", y, None), y, y.shape[1]), horizon)


def median(y: Array, horizon: int, window: int) -> Array:
    return np.repeat(bn.median(y[:, -window:], axis=1)[:, None], horizon, axis=1)


def seasonal_naive(y: Array, horizon: int, season: int | None) -> Array:
    t = y.shape[1]
    if not season or t < season:
        return np.repeat(y[:, -1:], horizon, axis=1)
    idx = t - season + (np.arange(horizon) % season)
    return y[:, idx]


def linear(y: Array, horizon: int, window: int) -> Array:
    w = min(window, y.shape[1])
    tail = y[:, -w:]
    x = np.arange(w, dtype=float)
    xm = x.mean()
    slope = ((tail - tail.mean(axis=1, keepdims=True)) * (x - xm)).sum(axis=1) / max(
        ((x - xm) ** 2).sum(), 1e-12
    )
    intercept = tail.mean(axis=1) - slope * xm
    future = np.arange(w, w + horizon, dtype=float)
    out: Array = intercept[:, None] + slope[:, None] * future[None, :]
    return out


def _damped_sum(phi: Array, horizon: int) -> Array:
    """sum_{k=1..h} phi^k for h = 1..horizon, per parameter set: shape (grid, horizon)."""
    powers = phi[:, None] ** np.arange(1, horizon + 1)[None, :]
    return np.cumsum(powers, axis=1)


def holt(y: Array, horizon: int) -> Array:
    return _forecast(_advance(_start("holt", y, None), y, y.shape[1]), horizon)


def holt_winters(y: Array, horizon: int, season: int) -> Array:
    return _forecast(_advance(_start("holt_winters", y, season), y, y.shape[1]), horizon)


# The recursive models (level, holt, holt_winters) as a state that one pass advances: the
# backtest runs every series up to where the held-out stretch begins, and only the series that
# chose the model go on from there to the end for their forecast (no second pass from the start).
@dataclass(frozen=True)
class _State:
    model: str
    end: int  # how many points the state has seen
    level: Array  # (series, grid)
    trend: Array
    sse: Array  # the one-step squared errors so far, per parameter set
    seas: Array | None  # holt_winters: (season, series, grid)
    season: int | None

    def take(self, rows: npt.NDArray[np.intp]) -> _State:
        seas = None if self.seas is None else np.ascontiguousarray(self.seas[:, rows])
        return _State(
            self.model,
            self.end,
            self.level[rows],
            self.trend[rows],
            self.sse[rows],
            seas,
            self.season,
        )


def _grid(model: str) -> Array:
    if model == "level":
        return np.array([(a, 0.0, 0.0) for a in _LEVEL_GRID])
    return np.array(_HOLT_GRID if model == "holt" else _HW_GRID)


def _start(model: str, y: Array, season: int | None) -> _State:
    s = y.shape[0]
    g = len(_grid(model))
    if model != "holt_winters":
        level = np.repeat(y[:, :1], g, axis=1)
        return _State(model, 1, level, np.zeros_like(level), np.zeros_like(level), None, None)
    assert season is not None
    first = y[:, :season]
    slope = (y[:, season : 2 * season].mean(axis=1) - first.mean(axis=1)) / season
    # The first season minus its mean and its own ramp: left in, the trend would be counted
    # twice (once in the trend, once as a sawtooth in the season) until gamma unlearns it.
    ramp = slope[:, None] * (np.arange(season) - (season - 1) / 2)[None, :]
    # the level at the end of the first season, where the recursion starts
    level = np.repeat((first.mean(axis=1) + slope * (season - 1) / 2)[:, None], g, axis=1)
    trend = np.repeat(slope[:, None], g, axis=1)
    # (season, series, grid): each step's seasonal slice is one contiguous block
    start = first - first.mean(axis=1, keepdims=True) - ramp
    seas = np.ascontiguousarray(np.repeat(start.T[:, :, None], g, axis=2))
    return _State(model, season, level, trend, np.zeros((s, g)), seas, season)


def _advance(st: _State, y: Array, stop: int) -> _State:
    """The state after ``y[:, :stop]`` (``y``'s rows are the state's series)."""
    # The recursions are one small numpy call after another, each over (grid x series): laid
    # out grid-major with the coefficients spread to that shape, worked in place in buffers
    # made once, and each step's values one contiguous row, every call is a flat loop. Against
    # (series x grid) arrays broadcast against (1 x grid) coefficients, new ones each call:
    # 30% less time (500 series of a week: Holt 78 -> 51 ms), the same numbers to the bit.
    grid = _grid(st.model)
    shape = (len(grid), y.shape[0])
    coef = [np.ascontiguousarray(np.broadcast_to(g[:, None], shape)) for g in grid.T]
    level, trend, sse = (v.T.copy() for v in (st.level, st.trend, st.sse))  # copies: st stays
    err, tmp, damped = np.empty(shape), np.empty(shape), np.empty(shape)
    rows = np.ascontiguousarray(y[:, st.end : stop].T)  # (time, series)
    if st.model == "level":
        a = coef[0]
        for row in rows:
            np.subtract(row, level, out=err)
            np.multiply(err, err, out=tmp)
            sse += tmp
            np.multiply(a, err, out=tmp)
            level += tmp
        return replace(st, end=stop, level=level.T, sse=sse.T)
    # Holt, and Holt-Winters with the season's value at each step taken off the prediction
    a, b, phi = coef[0], coef[1], coef[-1]  # (a, b, phi) or (a, b, gamma, phi)
    ab = a * b
    seas = None if st.seas is None else st.seas.transpose(0, 2, 1).copy()  # (season, grid, series)
    gain = coef[2] * (1 - a)  # Holt-Winters' (Holt's coef[2] is phi: not used there)
    season = st.season or 1
    for i, row in enumerate(rows, st.end):
        np.multiply(phi, trend, out=damped)
        level += damped  # the prediction (less the season)
        if seas is None:
            np.subtract(row, level, out=err)
        else:
            now = seas[i % season]  # a view: updated in place below
            np.add(level, now, out=tmp)
            np.subtract(row, tmp, out=err)
        np.multiply(err, err, out=tmp)
        sse += tmp
        np.multiply(a, err, out=tmp)
        level += tmp
        np.multiply(ab, err, out=trend)
        trend += damped
        if seas is not None:
            np.multiply(gain, err, out=tmp)
            now += tmp
    return replace(
        st,
        end=stop,
        level=level.T,
        trend=trend.T,
        sse=sse.T,
        seas=None if seas is None else seas.transpose(0, 2, 1),
    )


def _forecast(st: _State, horizon: int) -> Array:
    """``horizon`` steps on from the state, with each series' best parameter set so far."""
    rows = np.arange(st.level.shape[0])
    best = np.argmin(st.sse, axis=1)
    if st.model == "level":
        return np.repeat(st.level[rows, best][:, None], horizon, axis=1)
    phi = _grid(st.model)[:, 2 if st.model == "holt" else 3]
    out: Array = (
        st.level[rows, best][:, None]
        + st.trend[rows, best][:, None] * _damped_sum(phi, horizon)[best]
    )
    if st.seas is not None and st.season is not None:
        k = (st.end + np.arange(horizon)) % st.season
        out += st.seas[k][:, rows, best].T
    return out


def detect_season(y: Array, candidates: tuple[int, ...], min_acf: float = 0.3) -> list[int | None]:
    """Per series, the candidate lag whose autocorrelation (of the series minus its linear trend)
    passes ``min_acf``, or None; of several, the shortest, unless a longer one's correlation
    beats it by twice a correlation's standard error over that many pairs (2 / sqrt(pairs)).

    Candidates are compared by the correlation of the overlapping parts: the usual estimate
    (over the whole series' variance) shrinks a lag by the share of pairs it has, so a week in
    a history of two weeks scored half its correlation and lost to the day even in a
    weekday/weekend load, whose Mondays were then forecast as Sundays (docs/sidecar.md). A day
    repeats every week too, so a week must add something beyond the day to be chosen."""
    t = y.shape[1]
    detrended = y - _fit_line(y)
    detrended -= detrended.mean(axis=1, keepdims=True)
    var = (detrended**2).sum(axis=1)
    best: list[int | None] = [None] * y.shape[0]
    beat = np.full(y.shape[0], -np.inf)  # the chosen lag's overlap correlation
    for lag in sorted(candidates):
        if t < 2 * lag:
            continue
        a, b = detrended[:, lag:], detrended[:, :-lag]
        products = (a * b).sum(axis=1)
        # the threshold on the usual estimate, as before: which series have a daily season in
        # a week's read (every 7-day figure in docs/sidecar.md) does not change
        acf = products / np.maximum(var, 1e-12)
        overlap = products / np.sqrt(np.maximum((a * a).sum(axis=1) * (b * b).sum(axis=1), 1e-300))
        margin = np.where(np.isfinite(beat), 2 / np.sqrt(t - lag), 0.0)
        for row in np.flatnonzero((acf > min_acf) & (overlap > beat + margin)):
            best[row] = lag
            beat[row] = overlap[row]
    return best


def _fit_line(y: Array) -> Array:
    t = y.shape[1]
    x = np.arange(t, dtype=float)
    xm = x.mean()
    slope = ((y - y.mean(axis=1, keepdims=True)) * (x - xm)).sum(axis=1) / max(
        ((x - xm) ** 2).sum(), 1e-12
    )
    out: Array = y.mean(axis=1, keepdims=True) + slope[:, None] * (x - xm)[None, :]
    return out


def _runs_as(model: str, season: int | None, points: int) -> str:
    """Holt-Winters needs two seasons to start from; with less (or no season) it is Holt. The
    seasonal models need two seasons for their shape; with less they are the level."""
    if model == "holt_winters" and (not season or points < 2 * season):
        return "holt"
    if model in _SHAPED and (not season or points < 2 * season):
        return "level"
    return model


_SHAPED = ("seasonal_level", "seasonal_ratio")

# Holt-Winters is taken only where its backtest error is this much below the best other
# model's: of all the models it has the most freedom (three smoothing factors from a grid, a
# whole season of states learnt step by step from one season's start), so a narrow win over a
# few origins is the likeliest to be luck. docs/sidecar.md ("Choice") has the measurements.
HOLT_WINTERS_MARGIN = 0.10


def _handicap(names: list[str]) -> Array:
    """(models, 1): what each model's backtest error is multiplied by in the choice."""
    return np.array([1 + HOLT_WINTERS_MARGIN if m == "holt_winters" else 1.0 for m in names])[
        :, None
    ]


# A season's shape is smoothed over this long (a centred moving mean; a sixtieth of a day, 5
# steps at 5-minute steps): a median of a week's days is still a week's noise at each step, and
# the forecast carries that noise as it is. A duration, not a fraction of the season: a weekly
# season's shape holds days whose peaks are as narrow as a daily one's. docs/sidecar.md has the
# measurements on both corpora.
SHAPE_SMOOTHING_SECONDS = 1440.0


def shape_width(step: float | None) -> int:
    """``SHAPE_SMOOTHING_SECONDS`` in steps of ``step`` seconds, odd (centred); 1 without a
    step (no smoothing)."""
    if not step or step <= 0:
        return 1
    return max(1, round(SHAPE_SMOOTHING_SECONDS / step)) | 1


def season_profile(y: Array, season: int, *, ratio: bool = False, width: int = 1) -> Array:
    """(series, season): the typical shape of a season, indexed by step number modulo
    ``season``. Each value less (or with ``ratio`` over: values must be positive) the centred
    moving average of a season around it, the local level, so neither a level shift nor a
    drift within the history blurs the shape (the classical decomposition); per phase, the
    median of these over the history's whole seasons, smoothed by a centred moving mean of
    ``width`` steps (``shape_width``). An added shape has mean 0, a ratio mean 1. Needs two
    seasons of history."""
    s = y.shape[0]
    # column j: the mean of y[:, j : j + season], centred on j + season // 2 when season is odd;
    # when even, two neighbours averaged (the 2 x season moving average), centred the same
    window = bn.move_mean(y, season, axis=1)[:, season - 1 :]
    local = window if season % 2 else (window[:, 1:] + window[:, :-1]) / 2
    n = local.shape[1] // season
    first = season // 2 + local.shape[1] - n * season  # whole seasons, ending with the last
    values = y[:, first : first + n * season]
    level = local[:, -n * season :]
    detrended = (values / level if ratio else values - level).reshape(s, n, season)
    shape = bn.median(detrended, axis=1)
    width = min(width, season) | 1  # odd: centred
    if width > 1:
        half = width // 2
        wrapped = np.concatenate([shape[:, -half:], shape, shape[:, :half]], axis=1)
        shape = bn.move_mean(wrapped, width, axis=1)[:, width - 1 :]
    if ratio:
        shape /= shape.mean(axis=1, keepdims=True)
    else:
        shape -= shape.mean(axis=1, keepdims=True)
    out: Array = np.empty_like(shape)
    out[:, (first + np.arange(season)) % season] = shape
    return out


@dataclass(frozen=True)
class _Shape:
    """Per series, a season's shape and whether it is a ratio (multiplied) or added."""

    shape: Array  # (series, season)
    ratio: npt.NDArray[np.bool_]  # (series,)

    @staticmethod
    def of(y: Array, season: int, model: str, width: int) -> _Shape:
        if model != "seasonal_ratio":
            return _Shape(season_profile(y, season, width=width), np.zeros(y.shape[0], dtype=bool))
        # a ratio needs a level above zero: a series that was ever zero or below keeps the sum
        ratio = np.min(y, axis=1) > 0
        shape = np.empty((y.shape[0], season))
        for rows, as_ratio in ((ratio, True), (~ratio, False)):
            if rows.any():
                shape[rows] = season_profile(y[rows], season, ratio=as_ratio, width=width)
        return _Shape(shape, ratio)

    def _at(self, start: int, steps: int) -> Array:
        return self.shape[:, (start + np.arange(steps)) % self.shape.shape[1]]

    def remove(self, y: Array) -> Array:
        at = self._at(0, y.shape[1])
        out: Array = np.where(self.ratio[:, None], y / np.where(self.ratio[:, None], at, 1), y - at)
        return out

    def restore(self, level: Array, start: int) -> Array:
        at = self._at(start, level.shape[1])
        out: Array = np.where(self.ratio[:, None], level * at, level + at)
        return out


def seasonal_level(
    y: Array, horizon: int, season: int, model: str = "seasonal_level", *, width: int = 1
) -> Array:
    """The level (simple exponential smoothing) of the series less its season's shape, with
    the shape put back: a Theta-like forecast that follows today's level at once, which
    Holt-Winters' slowly learnt season does not. ``model`` "seasonal_ratio": the shape as a
    ratio to the level. ``width``: the shape's smoothing (``season_profile``)."""
    shape = _Shape.of(y, season, model, width)
    return shape.restore(level(shape.remove(y), horizon), y.shape[1])


def predict(y: Array, horizon: int, model: str, season: int | None, *, width: int = 1) -> Array:
    model = _runs_as(model, season, y.shape[1])
    if model in ("level", "holt", "holt_winters"):
        return _forecast(_advance(_start(model, y, season), y, y.shape[1]), horizon)
    if model == "median":
        return median(y, horizon, season or min(y.shape[1], 288))
    if model == "seasonal_naive":
        return seasonal_naive(y, horizon, season)
    if model in _SHAPED:
        assert season is not None
        return seasonal_level(y, horizon, season, model, width=width)
    if model == "linear":
        return linear(y, horizon, season or min(y.shape[1], 288))
    raise ValueError(f"unknown model {model!r}")


LEVELS = (0.8, 0.95)  # the bands every forecast carries unless asked for others


@dataclass(frozen=True)
class Forecast:
    yhat: Array  # (series, horizon), within [floor, ceiling]
    half: Array  # (levels, series, horizon): each band's half-width around yhat
    model: list[str]  # the model chosen per series
    backtest_mae: Array  # per series, of the chosen model
    backtest_errors: Array  # (series, holdout): the chosen model's absolute error per step
    floor: Array  # (series,): what the series cannot go below (-inf: nothing known)
    ceiling: Array  # (series,): nor above (inf)
    levels: tuple[float, ...] = LEVELS

    def band(self, level: float) -> tuple[Array, Array]:
        """The band expected to hold ``level`` of the future points (one of ``levels``),
        clipped to what the series can be."""
        half = self.half[self.levels.index(level)]
        lo, hi = self.floor[:, None], self.ceiling[:, None]
        with np.errstate(over="ignore"):  # near float's limit a band's edge may be inf
            return np.clip(self.yhat - half, lo, hi), np.clip(self.yhat + half, lo, hi)

    @property
    def lower(self) -> Array:
        return self.band(0.95)[0]

    @property
    def upper(self) -> Array:
        return self.band(0.95)[1]

    def scaled(self, by: npt.NDArray[np.int64]) -> Forecast:
        """The same forecast times 2**by per series (``scale.up``: a row scaled down to be
        forecast, back on its own scale)."""
        return replace(
            self,
            yhat=scale.up(self.yhat, by),
            half=scale.up(self.half.swapaxes(0, 1), by).swapaxes(0, 1),
            backtest_mae=scale.up(self.backtest_mae, by),
            backtest_errors=scale.up(self.backtest_errors, by),
            floor=scale.up(self.floor, by),
            ceiling=scale.up(self.ceiling, by),
        )

    def shifted(self, by: Array) -> Forecast:
        """The same forecast on a scale moved by ``by`` per series (a counter's raw scale)."""
        return replace(
            self,
            yhat=self.yhat + by[:, None],
            floor=self.floor + by,
            ceiling=self.ceiling + by,
        )


def limits(
    y: Array, floor: float | Array | None = None, ceiling: float | Array | None = None
) -> tuple[Array, Array]:
    """Per series, what it cannot go below or above: ``floor``/``ceiling`` when known (a spec's
    range, a counter's last value), else 0 below for a history that never went negative."""
    s = y.shape[0]
    lo = np.full(s, -np.inf) if floor is None else np.broadcast_to(floor, (s,)).astype(float)
    if floor is None:
        lo[np.nanmin(y, axis=1, initial=np.inf) >= 0] = 0.0
    hi = np.full(s, np.inf) if ceiling is None else np.broadcast_to(ceiling, (s,)).astype(float)
    return lo, hi


# Backtest origins: the last held-out stretch and the ones before it, as far as the history
# allows. One window is one day's luck; several make both the choice and the band's scale less so.
BACKTESTS = 3
_MIN_TRAIN = 8


@dataclass(frozen=True)
class Backtest:
    holdout: int
    splits: list[int]  # ascending; the last is where the final held-out stretch begins
    errors: dict[str, Array]  # model -> (series, len(splits) * holdout) absolute errors
    states: dict[str, _State]  # recursive models at the last split
    # model -> the indices of the splits where it ran as another model (Holt-Winters as Holt
    # before its second season, seasonal naive as the last value before its first)
    stand_ins: dict[str, list[int]] = field(default_factory=dict)


def _seasonal_level_backtest(
    y: Array, clean: Array, splits: list[int], holdout: int, season: int, model: str, width: int
) -> Array:
    """A seasonal model's errors from every split in one pass: the season's shape from the
    history before the first split (no split sees its own future), the level carried on."""
    shape = _Shape.of(clean[:, : splits[0]], season, model, width)
    adjusted = shape.remove(clean)
    state = _start("level", adjusted, None)
    parts = []
    for split in splits:
        state = _advance(state, adjusted, split)
        guess = shape.restore(_forecast(state, holdout), split)
        parts.append(np.abs(guess - y[:, split : split + holdout]))
    return np.concatenate(parts, axis=1)


def backtest(
    y: Array, clean: Array, horizon: int, season: int | None, *, width: int = 1
) -> Backtest:
    """Every model fitted on ``clean`` up to each split, judged on ``y`` after it."""
    t = y.shape[1]
    # At least a season (or 12 steps) held out, so a short horizon still gets a fair choice and
    # bounds from more than a couple of errors; at most a quarter of the history. But no more
    # than leaves two seasons before the first origin where a horizon (or 12 steps) still fits
    # in that: else the smoothed seasonal models are never judged (a week held out three times
    # left them out below five weeks of history, and a weekday/weekend load got seasonal naive).
    holdout = min(max(horizon, season or 0, 12), max(t // 4, 1))
    if season and t - BACKTESTS * holdout < 2 * season:
        fits = (t - 2 * season) // BACKTESTS
        if fits >= max(horizon, 12):
            holdout = min(holdout, fits)
    splits = [t - holdout * j for j in range(BACKTESTS, 0, -1) if t - holdout * j >= _MIN_TRAIN]
    errors: dict[str, Array] = {}
    states: dict[str, _State] = {}
    stand_ins: dict[str, list[int]] = {}
    for model in MODELS if splits else ():
        if model in _SHAPED:
            if _runs_as(model, season, splits[0]) != "level":  # else the level itself, there
                assert season is not None
                errors[model] = _seasonal_level_backtest(
                    y, clean, splits, holdout, season, model, width
                )
            continue
        parts = []
        state: _State | None = None
        for j, split in enumerate(splits):
            actual = y[:, split : split + holdout]
            runs = _runs_as(model, season, split)
            # Holt-Winters as Holt before its second season, seasonal naive as the last value
            # before its first: not the model the forecast will be
            if runs != model or (model == "seasonal_naive" and season and split < season):
                stand_ins.setdefault(model, []).append(j)
            if runs in ("level", "holt", "holt_winters"):
                # one pass: the state at the previous split carries on when it is the same model
                if state is None or state.model != runs:
                    state = _start(runs, clean, season)
                state = _advance(state, clean, split)
                guess = _forecast(state, holdout)
            else:
                guess = predict(clean[:, :split], holdout, model, season, width=width)
            parts.append(np.abs(guess - actual))
        if state is not None:
            states[model] = state
        errors[model] = np.concatenate(parts, axis=1)
    return Backtest(holdout, splits, errors, states, stand_ins)


def lead_weights(holdout: int) -> Array:
    """How much each lead of a held-out stretch counts in the choice, summing to 1: 1/sqrt(lead),
    so the next hour weighs as well as the rest of the day (flat weights let the far leads,
    more numerous and larger, decide alone; 1/lead lets the near ones)."""
    w = 1 / np.sqrt(np.arange(1, holdout + 1, dtype=float))
    out: Array = w / w.sum()
    return out


def _unseen_errors(bt: Backtest, names: list[str], candidates: list[str]) -> Array:
    """(series, origins * holdout): at each backtest origin, the errors of the candidate the
    other origins would have chosen (by the same error as the choice: lead-weighted, with
    Holt-Winters' margin). The chosen model's own errors are what it was chosen for, so they
    understate what comes next; these do not (with one origin there is nothing else to use).
    NaN at an origin where that candidate ran as another model (``Backtest.stand_ins``): its
    errors there are the other model's, not those of the forecast it will make (kept where
    every origin is such)."""
    h, n = bt.holdout, len(bt.splits)
    stacked = np.stack([bt.errors[m] for m in names])  # (models, series, n * h)
    never = np.array([m not in candidates for m in names])[:, None]
    per_origin = stacked.reshape(len(names), stacked.shape[1], n, h) @ lead_weights(h)
    per_origin *= _handicap(names)[:, :, None]
    total = np.where(never[:, :, None], np.inf, per_origin).sum(axis=2)
    series = np.arange(stacked.shape[1])
    parts, stood_in = [], []
    for j in range(n):
        others = total if n == 1 else total - per_origin[:, :, j]
        best = np.argmin(others, axis=0)
        parts.append(stacked[best, series, j * h : (j + 1) * h])
        stand_in = np.array([j in bt.stand_ins.get(m, ()) for m in names])
        stood_in.append(np.repeat(stand_in[best][:, None], h, axis=1))
    out: Array = np.concatenate(parts, axis=1)
    absent = np.concatenate(stood_in, axis=1)
    absent[absent.all(axis=1)] = False  # nothing else to learn from: as they are
    out[absent] = np.nan
    return out


def conformal_levels(levels: tuple[float, ...], n: int) -> list[float]:
    """The quantile levels that cover ``levels`` of the next error from ``n`` errors: each
    raised to ceil((n + 1) * level) / n, at most 1 (split conformal prediction's finite-sample
    rule). The plain quantile of n errors covers the next one a little less often than its
    level, and at hourly steps, 24 errors an origin, much less: the AIOps KPIs' 95% band held
    90.9% of the next day with it, 93.7% with this (docs/sidecar.md)."""
    return [min(1.0, float(np.ceil((n + 1) * level)) / n) if n else level for level in levels]


def _band_quantiles(errors: Array, holdout: int, levels: tuple[float, ...]) -> Array:
    """(levels, series): the geometric mean of the quantile of every origin's errors pooled and
    of the worst origin's own. The next day may be like the worst of the backtest's days: the
    pooled quantile alone took them for one population (its 95% band held 91% of the next day
    on the AIOps KPIs), the worst origin's alone over-covered the 80% band by 5 points on both
    corpora (docs/sidecar.md). Both at a finite sample's level (``conformal_levels``). An
    origin whose errors are NaN (``_unseen_errors``) is left out of both."""
    origins = errors.shape[1] // holdout
    known = ~np.isnan(errors[:, : origins * holdout].reshape(len(errors), origins, holdout))
    valid = known.all(axis=2)  # (series, origins)
    if valid.all():
        return _quantiles(errors, holdout, levels)
    out: Array = np.empty((len(levels), len(errors)))
    columns = np.arange(origins * holdout).reshape(origins, holdout)
    for pattern in np.unique(valid, axis=0):
        rows = np.flatnonzero((valid == pattern).all(axis=1))
        cols = columns[pattern].ravel() if pattern.any() else columns.ravel()  # NaN as before
        out[:, rows] = _quantiles(errors[np.ix_(rows, cols)], holdout, levels)
    return out


def _quantiles(errors: Array, holdout: int, levels: tuple[float, ...]) -> Array:
    """``_band_quantiles`` of errors with no NaN."""
    pooled: Array = np.quantile(errors, conformal_levels(levels, errors.shape[1]), axis=1)
    origins = errors.shape[1] // holdout
    if origins < 2:
        return pooled
    each = errors[:, : origins * holdout].reshape(errors.shape[0], origins, holdout)
    worst = np.quantile(each, conformal_levels(levels, holdout), axis=2).max(axis=2)
    out: Array = np.sqrt(pooled * worst)
    return out


def forecast(
    y: Array,
    horizon: int,
    season: int | None,
    *,
    floor: float | Array | None = None,
    ceiling: float | Array | None = None,
    levels: tuple[float, ...] = LEVELS,
    seasonal: bool = True,
    width: int = 1,
) -> Forecast:
    """One model per series chosen by backtest, kept within what the series can be (``limits``);
    bands at ``levels`` from the quantiles of the backtest's errors. ``seasonal``: the series
    are known to have ``season`` (detected or configured); otherwise the seasonal models are only
    tried, and a forecast is not judged by how far it is from the previous season. ``width``:
    the season's shape is smoothed over this many steps (``shape_width``)."""
    lo, hi = limits(y, floor, ceiling)
    y = fill_gaps(y)
    s, t = y.shape
    # Fitted on despiked history; judged against what really came (spikes and all), so the
    # bands stay honest about how often such points occur.
    clean = despike(y, season)
    bt = backtest(y, clean, horizon, season, width=width)
    if not bt.errors:
        flat = np.repeat(y[:, -1:], horizon, axis=1)
        none = np.zeros((s, 0))
        half = np.zeros((len(levels), s, horizon))
        return Forecast(flat, half, ["seasonal_naive"] * s, np.zeros(s), none, lo, hi, levels)
    names = list(bt.errors)
    weights = np.tile(lead_weights(bt.holdout), len(bt.splits))
    mae = np.stack([bt.errors[m] @ weights for m in names], axis=1)
    yhat = np.empty((s, horizon))
    holdout = bt.holdout
    chosen_errors = np.empty((s, holdout))
    choice = np.zeros(s, dtype=int)
    # The best model by backtest, unless its forecast is implausible (guards.py): then the next
    # best for those series. Seasonal naive is never rejected, so this ends.
    barred = np.zeros_like(mae, dtype=bool)
    rank = mae * _handicap(names).T
    candidates = list(names)
    shaped = any(m in names for m in _SHAPED)
    if season and "seasonal_naive" in names and (shaped or not seasonal):
        # With a season, seasonal naive repeats the last season's noise: it wins a backtest by
        # luck more often than it forecasts well (the seasonal level is the same idea, smoothed).
        # It stays the fallback for series every other model's forecast was rejected for. Not
        # where a known season is too short for the smoothed models to be judged (under five
        # of it): there it is the one model that follows the season, and competes.
        rank[:, names.index("seasonal_naive")] = np.finfo(float).max
        candidates.remove("seasonal_naive")
    naive = names.index("seasonal_naive") if "seasonal_naive" not in candidates else None
    smoothed = [names.index(m) for m in _SHAPED if m in names]
    todo = np.arange(s)
    while len(todo):
        ranked = rank[todo]
        if naive is not None and smoothed:
            # The smoothed seasonal models all rejected (a shift took their forecast out of the
            # history's range, say): seasonal naive is no longer their lucky twin but the one
            # model left that follows the season, and competes by its backtest.
            lost = barred[todo][:, smoothed].all(axis=1)
            ranked[lost, naive] = mae[todo[lost], naive]
        ranked = np.where(barred[todo], np.inf, ranked)
        pick = np.argmin(ranked, axis=1)
        again = []
        for i, model in enumerate(names):
            rows = todo[pick == i]
            if len(rows) == 0:
                continue
            if model in bt.states:  # on from the last split to the end, these series only
                state = _advance(bt.states[model].take(rows), clean[rows], t)
                guess = _forecast(state, horizon)
            else:
                guess = predict(clean[rows], horizon, model, season, width=width)
            bad = (
                guards.implausible(y[rows], guess, season, known=seasonal)
                if model != "seasonal_naive"
                else np.zeros(len(rows), dtype=bool)
            )
            barred[rows[bad], i] = True
            again.append(rows[bad])
            ok, guess = rows[~bad], guess[~bad]
            choice[ok] = i
            yhat[ok] = guess
            err = bt.errors[model][ok]
            chosen_errors[ok] = err[:, -holdout:]
        todo = np.concatenate(again) if again else np.zeros(0, dtype=int)
    # The bands: quantiles of the errors the choosing itself makes on a stretch it did not see
    # (errors are heavy-tailed: no normal z), growing like a random walk's past the holdout.
    q = _band_quantiles(_unseen_errors(bt, names, candidates), holdout, levels)
    growth = np.sqrt(np.maximum(np.arange(1, horizon + 1) / holdout, 1.0))
    half = q[:, :, None] * growth[None, None, :]
    return Forecast(
        np.clip(yhat, lo[:, None], hi[:, None]),
        half,
        [names[i] for i in choice],
        mae[np.arange(s), choice],
        chosen_errors,
        lo,
        hi,
        levels,
    )
