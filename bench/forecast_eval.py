"""Forecast accuracy (MASE) of the sidecar's models on the NAB CloudWatch series, against
PromQL's predict_linear and holt_winters, seasonal naive, and statsforecast's MSTL, same run.

Rolling origins: one a day after the first 7 days of each series; each fit sees the 7 days
before its origin (2,016 points at 5 minutes). Horizons 1 h, 6 h, 24 h (12, 72, 288 steps);
MASE is the mean absolute error over the horizon divided by the in-sample seasonal-naive error
(season one day), averaged over origins. Baselines as a PromQL user writes them:
``predict_linear(x[6h], h)`` (least squares over the last 6 hours, extrapolated) and
``holt_winters(x[1d], 0.3, 0.1)`` (the smoothed level, a flat forecast). statsforecast is an
optional heavy dependency (numba): without it that row is skipped; ``make bench`` installs it.

    python -m bench.forecast_eval [--data DIR] [--reference-sample 40]
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import numpy.typing as npt

from bench import _nab as nab
from forecaster_sidecar.forecast import forecast_auto
from forecaster_sidecar.models import Array, fill_gaps, linear, seasonal_naive

DAY = 288
HISTORY = 7 * DAY
HORIZONS = {"1h": 12, "6h": 72, "24h": 288}


def cases(files: list[nab.Labelled]) -> tuple[Array, Array]:
    """History and future matrices, one row per (file, origin)."""
    hist, future = [], []
    for f in files:
        for origin in range(HISTORY, len(f.values) - DAY + 1, DAY):
            hist.append(f.values[origin - HISTORY : origin])
            future.append(f.values[origin : origin + DAY])
    return fill_gaps(np.array(hist)), fill_gaps(np.array(future))


def holt_winters_promql(y: Array, horizon: int, sf: float = 0.3, tf: float = 0.1) -> Array:
    """PromQL's holt_winters (double_exponential_smoothing) over the last day: the level."""
    x = y[:, -DAY:]
    level, trend = x[:, 1].copy(), x[:, 1] - x[:, 0]
    for i in range(2, x.shape[1]):
        prev = level
        level = sf * x[:, i] + (1 - sf) * (level + trend)
        trend = tf * (level - prev) + (1 - tf) * trend
    return np.repeat(level[:, None], horizon, axis=1)


def mase(pred: Array, actual: Array, scale: Array) -> dict[str, float]:
    return {
        name: float(np.mean(np.mean(np.abs(pred[:, :h] - actual[:, :h]), axis=1) / scale))
        for name, h in HORIZONS.items()
    }


def statsforecast_mstl(y: Array) -> Array | None:
    try:
        import pandas as pd
        from statsforecast import StatsForecast
        from statsforecast.models import MSTL, AutoETS
    except ImportError:
        return None
    rows = []
    for i, series in enumerate(y):
        rows.append(
            pd.DataFrame(
                {
                    "unique_id": i,
                    "ds": pd.date_range("2020-01-01", periods=len(series), freq="5min"),
                    "y": series,
                }
            )
        )
    model = MSTL(season_length=DAY, trend_forecaster=AutoETS(model="ZZN"))
    sf = StatsForecast(models=[model], freq="5min", n_jobs=1)
    out = sf.forecast(df=pd.concat(rows), h=DAY)
    return np.stack([out[out["unique_id"] == i]["MSTL"].to_numpy() for i in range(len(y))])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=nab.DATA)
    parser.add_argument("--reference-sample", type=int, default=40, metavar="N")
    args = parser.parse_args()
    hist, future = cases(nab.load(args.data))
    scale = np.mean(np.abs(hist[:, DAY:] - hist[:, :-DAY]), axis=1)
    keep = scale > 0  # a flat history has no scale: MASE is undefined there
    hist, future, scale = hist[keep], future[keep], scale[keep]
    methods: dict[str, Callable[[Array], Array | None]] = {
        "globalmon (backtest choice)": lambda y: forecast_auto(y, DAY, (DAY,)).yhat,
        "predict_linear(x[6h])": lambda y: linear(y, DAY, 72),
        "holt_winters(x[1d], 0.3, 0.1)": lambda y: holt_winters_promql(y, DAY),
        "seasonal naive (1 day)": lambda y: seasonal_naive(y, DAY, DAY),
    }
    print(
        f"forecast accuracy: {len(hist)} origins over the CloudWatch series, MASE (lower is better)"
    )
    print(f"{'method':<34} {'1h':>7} {'6h':>7} {'24h':>7} {'seconds':>8}")

    def row(name: str, fn: Callable[[Array], Array | None], idx: npt.NDArray[np.intp]) -> None:
        started = time.perf_counter()
        pred = fn(hist[idx])
        elapsed = time.perf_counter() - started
        if pred is None:
            print(f"{name:<34} (statsforecast not installed: `make bench` installs it)")
            return
        m = mase(pred, future[idx], scale[idx])
        print(f"{name:<34} {m['1h']:>7.3f} {m['6h']:>7.3f} {m['24h']:>7.3f} {elapsed:>8.2f}")

    everything = np.arange(len(hist))
    for name, fn in methods.items():
        row(name, fn, everything)
    if args.reference_sample < 1:
        return
    sample = np.linspace(0, len(hist) - 1, min(args.reference_sample, len(hist))).astype(int)
    print(f"on a sample of {len(sample)} origins, with statsforecast's MSTL (daily season):")
    for name, fn in methods.items():
        row(name, fn, sample)
    row("statsforecast MSTL + AutoETS", statsforecast_mstl, sample)


if __name__ == "__main__":
    main()
