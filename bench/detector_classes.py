"""The sidecar's anomaly detector on classes of input, not on files: kinds of normal series x
kinds of anomaly x steps, each drawn afresh from seeds, scored by the detector at the sidecar's
flag threshold (2/3).

The labelled corpora (bench/nab_eval) say how well the detector ranks the anomalies that some
people labelled in some files; they cannot say which kinds of trouble it never sees, nor how
often it raises a normal series of a given shape. Here every series is made: 14 days of a
normal kind (below), and a copy with one anomaly on day 11 at a random time. For each:

- **false flags a day**: flag events (a score of 2/3 or more, 30 minutes after the last one at
  least) in the clean copy's days 2-14, per day;
- **flagged**: the anomaly's copy reaches the flag within its window (its duration, at least an
  hour; six for the slow kinds) - what the sidecar's alert would say;
- **ranked**: the anomaly's highest score beats every score of the clean copy's last week -
  what a threshold chosen for that series could find, whatever the flag.

Normal kinds: white noise, AR(1) noise, a daily sine, a weekday/weekend business load, Poisson
counts, heavy-tailed (Student's t, 3 degrees of freedom) noise, a quantised gauge (whole
numbers), a daily sawtooth (a disk filled and cleaned), a job every six hours (zero between),
a random walk; and, not counted in the "all" column (added later), a steady rise of 1.5 noise
units a day. Anomalies: a spike and a dip (8 noise units, one row), a level shift (4 units),
an outage that reports 0 for an hour, noise 5 times as large for two hours, a value stuck for
three hours, a drift to 8 units over six hours, a day whose daily swing does not come (a holiday,
on the seasonal kinds only).

    python -m bench.detector_classes [--seeds N] [--steps 60,300,1800,3600] [--offset X]

``--offset`` moves every series up (a temperature in kelvin, a disk's bytes in use): the table
should not change but for ties.
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from forecaster_sidecar.analyse import FLAG_THRESHOLD
from forecaster_sidecar.anomaly import DAY, scores

Array = npt.NDArray[np.float64]
DAYS = 14
ANOMALY_DAY = 11
HOUR = 3600.0
REFRACTORY = 1800.0  # the sidecar's flag holds 30 minutes: one event


@dataclass(frozen=True)
class Normal:
    name: str
    noise: float  # one noise unit: the size of the anomalies is counted in these
    make: Callable[[np.random.Generator, Array, float], Array]  # (rng, times, step) -> values
    seasonal: bool = False
    # in the "all" column: a kind added after the table's figures were first quoted is not,
    # so that the column still means what those figures meant
    in_all: bool = True


def _daily(t: Array) -> Array:
    return np.sin(2 * np.pi * (t % DAY) / DAY)


def _business(t: Array) -> Array:
    """1 on weekdays' working hours, 0 at night and at weekends, with hour-long edges."""
    hour = (t % DAY) / HOUR
    weekday = (t // DAY) % 7 < 5
    rise = np.clip(hour - 8, 0, 1) * np.clip(18 - hour, 0, 1)
    return np.where(weekday, rise, 0.0)


def _ar1(rng: np.random.Generator, t: Array, step: float) -> Array:
    phi = 0.9 ** (step / 300)  # 0.9 from one 5-minute row to the next
    e = rng.normal(0, 2 * np.sqrt(1 - phi**2), len(t))
    out = np.empty(len(t))
    out[0] = rng.normal(0, 2)
    for i in range(1, len(t)):
        out[i] = phi * out[i - 1] + e[i]
    return 50 + out


def _every_six_hours(rng: np.random.Generator, t: Array, step: float) -> Array:
    on = (t % (6 * HOUR)) < max(step, 300)
    return np.where(on, 20.0, 0.0) + np.abs(rng.normal(0, 0.2, len(t)))


NORMALS = [
    Normal("white", 2, lambda r, t, s: 50 + r.normal(0, 2, len(t))),
    Normal("ar1", 2, _ar1),
    Normal("daily", 2, lambda r, t, s: 50 + 20 * _daily(t) + r.normal(0, 2, len(t)), True),
    Normal("business", 3, lambda r, t, s: 30 + 50 * _business(t) + r.normal(0, 3, len(t)), True),
    Normal("counts", float(np.sqrt(3)), lambda r, t, s: r.poisson(3, len(t)).astype(float)),
    Normal("heavy", 2 * np.sqrt(3), lambda r, t, s: 50 + 2 * r.standard_t(3, len(t))),
    Normal(
        "quantised",
        1,
        lambda r, t, s: np.round(10 + 2 * _daily(t) + r.normal(0, 0.7, len(t))),
        True,
    ),
    Normal("sawtooth", 1, lambda r, t, s: 20 + 60 * (t % DAY) / DAY + r.normal(0, 1, len(t)), True),
    Normal("six-hourly job", 0.2, _every_six_hours),
    Normal(
        "random walk",
        1,
        lambda r, t, s: 50 + np.cumsum(r.normal(0, np.sqrt(s / 300), len(t))),
    ),
    # a steady rise of 1.5 noise units a day (added 2026-12-05, not in "all")
    Normal(
        "trend",
        2,
        lambda r, t, s: 50 + 3 * (t - t[0]) / DAY + r.normal(0, 2, len(t)),
        in_all=False,
    ),
]


@dataclass(frozen=True)
class Anomaly:
    name: str
    seconds: float  # how long it lasts (0: one row)
    window: float  # how long after its start a flag counts as finding it
    seasonal_only: bool = False


ANOMALIES = [
    Anomaly("spike", 0, HOUR),
    Anomaly("dip", 0, HOUR),
    Anomaly("level shift", 6 * HOUR, 2 * HOUR),
    Anomaly("outage at 0", HOUR, HOUR),
    Anomaly("noise x5", 2 * HOUR, 2 * HOUR),
    Anomaly("stuck value", 3 * HOUR, 3 * HOUR),
    Anomaly("drift", 6 * HOUR, 6 * HOUR),
    Anomaly("no daily swing", DAY, DAY, seasonal_only=True),
]


def inject(
    a: Anomaly, x: Array, start: int, step: float, normal: Normal, t: Array, offset: float = 0.0
) -> Array:
    """``x`` (``normal`` moved up by ``offset``) with anomaly ``a`` from row ``start`` on."""
    y = x.copy()
    rows = max(1, round(a.seconds / step))
    end = min(len(y), start + rows)
    u = normal.noise
    if a.name == "spike":
        y[start] += 8 * u
    elif a.name == "dip":
        y[start] -= 8 * u
    elif a.name == "level shift":
        y[start:end] += 4 * u
    elif a.name == "outage at 0":
        y[start:end] = 0.0
    elif a.name == "noise x5":
        rng = np.random.default_rng(start)
        y[start:end] += rng.normal(0, 4 * u, end - start)  # 1 + 4: five times as large
    elif a.name == "stuck value":
        y[start:end] = y[start - 1]
    elif a.name == "drift":
        y[start:end] += 8 * u * np.arange(1, end - start + 1) / (end - start)
        y[end:] += 8 * u
    elif a.name == "no daily swing":
        day = slice(start, min(len(y), start + round(DAY / step)))
        rng = np.random.default_rng(start)
        y[day] = np.median(x[: round(DAY / step)]) + rng.normal(0, u, day.stop - day.start)
        if normal.name == "business":  # the weekday at a weekend's level: a holiday
            y[day] = offset + 30 + rng.normal(0, u, day.stop - day.start)
    return y


def flag_events(s: Array, step: float) -> int:
    """Flag events: rows at or above the flag threshold, 30 minutes apart at least."""
    hold = max(1, round(REFRACTORY / step))
    count, last = 0, -hold
    for i in np.flatnonzero(s >= FLAG_THRESHOLD):
        if i - last >= hold:
            count += 1
        last = int(i)
    return count


@dataclass
class Cell:
    flagged: int = 0
    ranked: int = 0
    total: int = 0


Cells = dict[tuple[str, str], Cell]  # (anomaly, normal kind) -> outcomes


def run(
    seeds: int, steps: list[float], offset: float = 0.0
) -> tuple[Cells, dict[str, list[float]]]:
    """Every normal kind at every step, ``seeds`` draws each, clean and with each anomaly: the
    outcomes per (anomaly, normal kind), and the clean copies' false flags a day per kind. Every
    series moved up by ``offset``: where a series sits should change nothing."""
    cells: dict[tuple[str, str], Cell] = {}
    false_flags: dict[str, list[float]] = {n.name: [] for n in NORMALS}
    for step in steps:
        n = round(DAYS * DAY / step)
        t = np.asarray(
            np.arange(n) * step + 4 * DAY, dtype=np.float64
        )  # day 0 a Monday (the epoch was a Thursday)
        for normal in NORMALS:
            rows: list[Array] = []
            labels: list[tuple[str, int, int]] = []  # anomaly, its first row, its window's end
            for seed in range(seeds):
                rng = np.random.default_rng([seed, int(step), NORMALS.index(normal)])
                clean = normal.make(rng, t, step) + offset
                rows.append(clean)
                labels.append(("", 0, 0))
                for a in ANOMALIES:
                    if a.seasonal_only and not normal.seasonal:
                        continue
                    # a weekday (the holiday), at a random time of its day
                    day = ANOMALY_DAY + (1 if (ANOMALY_DAY + 4) % 7 >= 5 else 0)
                    start = round((day * DAY + rng.uniform(0.1, 0.8) * DAY) / step)
                    if a.name == "no daily swing":  # the whole day, from its midnight
                        start = round(day * DAY / step)
                    rows.append(inject(a, clean, start, step, normal, t, offset))
                    end = start + max(1, round(a.window / step))
                    labels.append((a.name, start, end))
            got = scores(np.array(rows), step)
            week = round((DAYS - 7) * DAY / step)
            clean_best = 0.0
            for row, (name, start, end) in zip(got, labels, strict=True):
                if not name:
                    after_day_one = row[round(DAY / step) :]
                    days = len(after_day_one) * step / DAY
                    false_flags[normal.name].append(flag_events(after_day_one, step) / days)
                    clean_best = float(row[week:].max())
                    continue
                cell = cells.setdefault((name, normal.name), Cell())
                cell.total += 1
                found = row[start:end]
                cell.flagged += bool((found >= FLAG_THRESHOLD).any())
                cell.ranked += bool(found.max() > clean_best)
    return cells, false_flags


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=5)
    parser.add_argument("--steps", default="60,300,1800,3600")
    parser.add_argument(
        "--offset", type=float, default=0.0, help="move every series up by this much"
    )
    args = parser.parse_args()
    steps = [float(s) for s in args.steps.split(",")]
    started = time.perf_counter()
    cells, false_flags = run(args.seeds, steps, args.offset)
    offset = f", every series moved up by {args.offset:g}" if args.offset else ""
    print(f"detector classes: {args.seeds} seeds, steps {args.steps} s{offset}, "
          f"{time.perf_counter() - started:.1f} s")  # fmt: skip
    names = [n.name for n in NORMALS]
    width = max(len(n) for n in names) + 2
    print("\nflagged / ranked (% of seeds x steps), per anomaly and normal kind")
    print(f"{'':<16}" + "".join(f"{n[:11]:>12}" for n in names) + f"{'all':>12}")
    left_out = [n.name for n in NORMALS if not n.in_all]
    for a in ANOMALIES:
        line = f"{a.name:<16}"
        f = r = tot = 0
        for name in names:
            c = cells.get((a.name, name))
            if c is None:
                line += f"{'':>12}"
                continue
            line += f"{100 * c.flagged / c.total:>6.0f}/{100 * c.ranked / c.total:<5.0f}"
            if next(n for n in NORMALS if n.name == name).in_all:
                f, r, tot = f + c.flagged, r + c.ranked, tot + c.total
        print(line + f"{100 * f / tot:>6.0f}/{100 * r / tot:<5.0f}")
    if left_out:
        print(f"(all: every kind but {', '.join(left_out)}, added after its figures were quoted)")
    print("\nfalse flags a day on the clean copies (median of seeds x steps; max)")
    for name in names:
        ff = false_flags[name]
        print(f"  {name:<{width}}{np.median(ff):6.2f}  {max(ff):6.2f}")


if __name__ == "__main__":
    main()
