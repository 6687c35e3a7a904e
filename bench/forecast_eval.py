"""Forecast accuracy (MASE) and band coverage of the sidecar's forecasts on each corpus of
../shared/data separately, against PromQL's predict_linear and holt_winters, seasonal naive, and
statsforecast's MSTL and AutoTheta, same run.

Corpora: NAB's realAWSCloudwatch (5-minute steps) and the AIOps 2018 KPIs (1-minute series
averaged to 5 minutes on a regular grid; a missing stretch takes the last value). Rolling origins:
one a day after the first 7 days of each series; each fit sees the 7 days before its origin
(2,016 points). Horizons 1 h, 6 h, 24 h (12, 72, 288 steps); a case's MASE is its mean absolute
error over the horizon divided by its in-sample seasonal-naive error (season one day); a corpus'
figure is the mean, the median and the geometric mean of its cases' MASE. Coverage: the share of
future points inside the sidecar's 80% and 95% bands (over the first hour, hours 1-6, hours
6-24 and the whole day), and the bands' mean half-width in the MASE's units.
The worst cases name the series, the origin and the model chosen. Baselines as a PromQL user
writes them: ``predict_linear(x[6h], h)`` and ``holt_winters(x[1d], 0.3, 0.1)`` (the smoothed
level, a flat forecast). statsforecast is an optional heavy dependency (numba): without it those
rows are skipped; ``make bench`` installs it.

Derived checks follow: the same origins averaged to hourly steps (168 points of history, the
season 24 steps, the first hour one step), the models and the choice at another step; and the
same origins with the history's first days missing (a series born 2.5, 4 or 6 days before the
origin), forecast from its own points and, as the baseline, from the history filled in; and the
same origins interpolated onto 11-minute steps (a day is 130.9 of them), forecast with the day
rounded to whole steps and, as the baseline, with no season.

statsforecast's models are fitted on every origin unless ``--reference-sample N`` asks for N of
them (evenly spread; 0: none): about 2.5 minutes for both corpora here.

    python -m bench.forecast_eval [--data DIR] [--reference-sample N] [--worst 5]
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import numpy.typing as npt

from bench import _nab as nab
from forecaster_sidecar.forecast import forecast_auto, seasons_for
from forecaster_sidecar.models import Array, Forecast, fill_gaps, linear, seasonal_naive

DAY = 288
STEP = 300
HISTORY = 7 * DAY
HORIZONS = {"1h": 3600, "6h": 21600, "24h": 86400}  # seconds
LEVELS = (0.8, 0.95)


@dataclass(frozen=True)
class Cases:
    corpus: str
    hist: Array  # (case, 7 days)
    future: Array  # (case, 1 day)
    scale: Array  # in-sample seasonal-naive error per case
    names: list[str]  # "file@day"
    step: int = STEP  # seconds

    @property
    def day(self) -> int:
        return 86400 // self.step

    def coarser(self, k: int) -> Cases:
        """The same cases at ``k`` times the step, each new step the mean of ``k`` old ones (a
        derived check: the models and the choice at another step; the season is still a day)."""
        h = self.hist.reshape(len(self.hist), -1, k).mean(axis=2)
        f = self.future.reshape(len(self.future), -1, k).mean(axis=2)
        day = 86400 // (self.step * k)
        scale = np.mean(np.abs(h[:, day:] - h[:, :-day]), axis=1)
        keep = scale > 0
        names = [n for n, x in zip(self.names, keep, strict=True) if x]
        return Cases(
            f"{self.corpus}, {self.step * k // 60}-minute steps",
            h[keep],
            f[keep],
            scale[keep],
            names,
            self.step * k,
        )


def regular(stamps: npt.NDArray[np.int64], values: Array, step: int = STEP) -> Array:
    """``values`` averaged into ``step``-second buckets from the first stamp on; empty -> NaN."""
    slot = (stamps - stamps[0]) // step
    total = np.bincount(slot, weights=np.nan_to_num(values), minlength=int(slot[-1]) + 1)
    count = np.bincount(slot, weights=~np.isnan(values), minlength=int(slot[-1]) + 1)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(count > 0, total / count, np.nan)


def series(data: Path, corpus: str) -> list[tuple[str, Array]]:
    """The corpus' series (none when it is not in ``data``)."""
    if corpus == "realAWSCloudwatch":
        if not (data / "nab" / "combined_windows.json").is_file():
            return []
        return [(f.name.split("/")[-1], f.values) for f in nab.load(data / "nab")]
    files = sorted((data / "aiops2018-kpi" / "phase2_train").glob("*.csv"))
    return [(p.name[:8], regular(*nab.read_csv(p))) for p in files]


def cases(corpus: str, named: list[tuple[str, Array]]) -> Cases:
    """History and future matrices, one row per (series, origin); flat histories (their MASE has
    no scale) and those with no point at all left out."""
    hist, future, names = [], [], []
    empty = np.zeros((0, HISTORY))
    for name, values in named:
        for origin in range(HISTORY, len(values) - DAY + 1, DAY):
            hist.append(values[origin - HISTORY : origin])
            future.append(values[origin : origin + DAY])
            names.append(f"{name}@{origin // DAY}")
    if not hist:
        return Cases(corpus, empty, np.zeros((0, DAY)), np.zeros(0), [])
    h, f = fill_gaps(np.array(hist)), fill_gaps(np.array(future))
    scale = np.mean(np.abs(h[:, DAY:] - h[:, :-DAY]), axis=1)
    keep = (scale > 0) & ~np.isnan(h).any(axis=1) & ~np.isnan(f).any(axis=1)  # nan: no data at all
    return Cases(
        corpus, h[keep], f[keep], scale[keep], [n for n, k in zip(names, keep, strict=True) if k]
    )


def holt_winters_promql(
    y: Array, horizon: int, day: int = DAY, sf: float = 0.3, tf: float = 0.1
) -> Array:
    """PromQL's holt_winters (double_exponential_smoothing) over the last day: the level."""
    x = y[:, -day:]
    level, trend = x[:, 1].copy(), x[:, 1] - x[:, 0]
    for i in range(2, x.shape[1]):
        prev = level
        level = sf * x[:, i] + (1 - sf) * (level + trend)
        trend = tf * (level - prev) + (1 - tf) * trend
    return np.repeat(level[:, None], horizon, axis=1)


def mase(pred: Array, actual: Array, scale: Array, h: int) -> Array:
    """Per case."""
    out: Array = np.mean(np.abs(pred[:, :h] - actual[:, :h]), axis=1) / scale
    return out


def summary(m: Array) -> tuple[float, float, float]:
    """Mean, median and geometric mean (a perfect forecast counts as 0.001)."""
    return (
        float(np.mean(m)),
        float(np.median(m)),
        float(np.exp(np.mean(np.log(np.maximum(m, 1e-3))))),
    )


def statsforecast_models(y: Array, step: int = STEP) -> dict[str, Array] | None:
    try:
        import pandas as pd
        from statsforecast import StatsForecast
        from statsforecast.models import MSTL, AutoETS, AutoTheta
    except ImportError:
        return None
    frame = pd.concat(
        pd.DataFrame(
            {
                "unique_id": i,
                "ds": pd.date_range("2020-01-01", periods=len(s), freq=f"{step}s"),
                "y": s,
            }
        )
        for i, s in enumerate(y)
    )
    models = [
        MSTL(season_length=86400 // step, trend_forecaster=AutoETS(model="ZZN")),
        AutoTheta(season_length=86400 // step),
    ]
    out = StatsForecast(models=models, freq=f"{step}s", n_jobs=1).forecast(
        df=frame, h=86400 // step
    )
    ids = out["unique_id"].to_numpy()
    return {
        name: np.stack([out[ids == i][column].to_numpy() for i in range(len(y))])
        for name, column in (
            ("statsforecast MSTL + AutoETS", "MSTL"),
            ("statsforecast AutoTheta", "AutoTheta"),
        )
    }


def report(c: Cases, args: argparse.Namespace) -> None:
    if not len(c.hist):
        print(f"\n== {c.corpus}: not in {args.data} (or no series of 8 days): skipped")
        return
    print(f"\n== {c.corpus}: {len(c.hist)} origins, MASE mean / median / geometric mean")
    print(f"{'method':<32} " + " ".join(f"{h:>20}" for h in HORIZONS) + f" {'seconds':>8}")
    day = c.day

    def row(name: str, pred: Array, idx: npt.NDArray[np.intp], elapsed: float) -> None:
        cells = []
        for seconds in HORIZONS.values():
            h = seconds // c.step
            mean, med, geo = summary(mase(pred, c.future[idx], c.scale[idx], h))
            cells.append(f"{mean:6.3f} {med:6.3f} {geo:6.3f}")
        print(f"{name:<32} " + " ".join(f"{x:>20}" for x in cells) + f" {elapsed:>8.2f}")

    def ours(idx: npt.NDArray[np.intp]) -> Forecast:
        started = time.perf_counter()
        fc = forecast_auto(c.hist[idx], day, (day,), step=c.step)
        row("globalmon", fc.yhat, idx, time.perf_counter() - started)
        return fc

    baselines: dict[str, Callable[[Array], Array]] = {
        "predict_linear(x[6h])": lambda y: linear(y, day, 21600 // c.step),
        "holt_winters(x[1d], 0.3, 0.1)": lambda y: holt_winters_promql(y, day, day),
        "seasonal naive (1 day)": lambda y: seasonal_naive(y, day, day),
    }
    everything = np.arange(len(c.hist))
    fc = ours(everything)
    for name, fn in baselines.items():
        started = time.perf_counter()
        row(name, fn(c.hist), everything, time.perf_counter() - started)
    for level in LEVELS:
        lower, upper = fc.band(level)
        inside = (c.future >= lower) & (c.future <= upper)
        hour, six = 3600 // c.step, 21600 // c.step
        parts = (inside[:, :hour], inside[:, hour:six], inside[:, six:], inside)
        covers = " / ".join(f"{p.mean():.1%}" for p in parts)
        # width in the MASE's units: a band that covers as often and is narrower is better
        width = ((upper - lower) / 2 / c.scale[:, None]).mean()
        print(
            f"  {level:.0%} band covers {covers} of the first hour / hours 1-6 / hours 6-24 /"
            f" the day; mean half-width {width:.2f}"
        )
    m24 = mase(fc.yhat, c.future, c.scale, day)
    naive24 = mase(seasonal_naive(c.hist, day, day), c.future, c.scale, day)
    print(f"  worst {args.worst} at 24 h (MASE, model, seasonal naive's MASE):")
    for i in np.argsort(-m24)[: args.worst]:
        print(f"    {c.names[i]:<24} {m24[i]:7.2f} {fc.model[i]:<15} {naive24[i]:7.2f}")
    wanted = len(c.hist) if args.reference_sample is None else args.reference_sample
    if wanted < 1:
        return
    sample = np.unique(np.linspace(0, len(c.hist) - 1, min(wanted, len(c.hist))).astype(int))
    if len(sample) < len(c.hist):
        print(f"on a sample of {len(sample)} origins, with statsforecast's models (daily season):")
        ours(sample)
    else:
        print("statsforecast's models (daily season), on every origin:")
    started = time.perf_counter()
    reference = statsforecast_models(c.hist[sample], c.step)
    if reference is None:
        print("  (statsforecast not installed: `make bench` installs it)")
        return
    elapsed = time.perf_counter() - started
    for name, pred in reference.items():
        row(name, pred, sample, elapsed / len(reference))


YOUNG_DAYS = (2.5, 4.0, 6.0)  # how old the series are in the young-series check


def young(c: Cases) -> None:
    """A derived check: the same origins with each history's start missing (NaN), as a series
    born ``YOUNG_DAYS`` ago is in a 7-day read. The sidecar forecasts it from its own first
    point (forecaster_sidecar/ages.py); the baseline is the same history with the missing
    start filled from its first value, which is what the sidecar did before."""
    print(f"\n== {c.corpus}, young series: mean MASE at 1 h / 6 h / 24 h (medians after)")
    for days in YOUNG_DAYS:
        born = c.hist.copy()
        born[:, : c.hist.shape[1] - round(days * c.day)] = np.nan
        cells = []
        for name, history in (("own points", born), ("filled", fill_gaps(born))):
            fc = forecast_auto(history, c.day, (c.day,), step=c.step)
            m = [mase(fc.yhat, c.future, c.scale, s // c.step) for s in HORIZONS.values()]
            means = " / ".join(f"{float(np.mean(x)):.3f}" for x in m)
            medians = " / ".join(f"{float(np.median(x)):.3f}" for x in m)
            cells.append(f"{name} {means} ({medians})")
        print(f"  {days:g} days old: " + "; ".join(cells))


ODD_MINUTES = 11  # a step on which a day is no whole number of steps (130.9)


def odd_step(c: Cases) -> None:
    """A derived check: the same origins interpolated onto ``ODD_MINUTES``-minute steps, as a
    CSV exported at such a step reaches `globalmon sidecar forecast`. The day is rounded to a
    whole number of steps there (``seasons_for`` with the history's length); the baseline is
    what the command did before, with no season at all (``seasons_for`` without it)."""
    step = 60 * ODD_MINUTES
    seconds = c.hist.shape[1] * c.step
    at = np.arange(c.hist.shape[1] + c.future.shape[1]) * float(c.step)
    past = np.arange(0.0, seconds, step)
    ahead = past[-1] + step * np.arange(1, round(86400 / step) + 1)
    whole = np.concatenate([c.hist, c.future], axis=1)
    h = np.array([np.interp(past, at, row) for row in whole])
    f = np.array([np.interp(ahead, at, row) for row in whole])
    day = round(86400 / step)
    scale = np.mean(np.abs(h[:, day:] - h[:, :-day]), axis=1)
    keep = scale > 0
    h, f, scale = h[keep], f[keep], scale[keep]
    print(f"\n== {c.corpus}, {ODD_MINUTES}-minute steps: mean MASE at 1 h / 6 h / 24 h, 95% band")
    for name, seasons in (
        ("day rounded", seasons_for(step, points=h.shape[1])),
        ("no season (before)", seasons_for(step)),
    ):
        fc = forecast_auto(h, f.shape[1], seasons, step=step)
        leads = [max(1, round(s / step)) for s in HORIZONS.values()]
        means = " / ".join(f"{float(np.mean(mase(fc.yhat, f, scale, n))):.3f}" for n in leads)
        lower, upper = fc.band(0.95)
        covered = float(((f >= lower) & (f <= upper)).mean())
        print(f"  {name:<20} seasons {seasons}: {means}, covers {covered:.1%}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=nab.DATA.parent)
    parser.add_argument("--reference-sample", type=int, default=None, metavar="N")
    parser.add_argument("--worst", type=int, default=5, metavar="N")
    args = parser.parse_args()
    every = [
        cases(corpus, series(args.data, corpus))
        for corpus in ("realAWSCloudwatch", "aiops2018-kpi")
    ]
    for c in every:
        report(c, args)
    for c in every:  # derived: the same origins at hourly steps
        if len(c.hist):
            report(c.coarser(3600 // STEP), args)
    for c in every:  # derived: the same origins, each series born days before its origin
        if len(c.hist):
            young(c)
    for c in every:  # derived: the same origins on a step that does not divide a day
        if len(c.hist):
            odd_step(c)


if __name__ == "__main__":
    main()
