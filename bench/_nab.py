"""The labelled corpora in ../shared/data (NAB's subset in nab/, the AIOps 2018 KPIs in
aiops2018-kpi/), series derived from them to check what a detector assumes (rows missing at
random, coarser steps), and NAB's scoring, written from the facts in the NAB data's README
(standard, reward_low_FP_rate and reward_low_FN_rate profiles).

For one profile and one threshold, a file scores: for each anomaly window, the earliest detection
in it, ``tp * S(y) / S(-1)`` with ``y = -(right - i + 1) / width``, or ``-fn`` when there is none;
for each detection outside every window, ``fp * S(d)`` with ``d`` the distance past the end of the
preceding window over (its width - 1), or ``-fp`` with no preceding window. ``S(y) = 2 / (1 +
exp(5y)) - 1``. The first 15% of a file (at most 750 rows) is probation: detections there do not
count. The corpus score is normalised: ``100 * (raw - null) / (perfect - null)``, null being the
detector that never fires and perfect ``tp`` per window; the threshold is the one that maximises
the summed raw score.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import numpy.typing as npt

SHARED = Path(__file__).resolve().parents[2] / "shared" / "data"
DATA = SHARED / "nab"
AIOPS = SHARED / "aiops2018-kpi"
PROFILES = {
    "standard": (1.0, 0.11, 1.0),
    "reward_low_FP_rate": (1.0, 0.22, 1.0),
    "reward_low_FN_rate": (1.0, 0.11, 2.0),
}

Array = npt.NDArray[np.float64]


@dataclass(frozen=True)
class Labelled:
    name: str  # e.g. realAWSCloudwatch/ec2_cpu_utilization_24ae8d.csv
    timestamps: npt.NDArray[np.int64]  # Unix seconds
    values: Array
    windows: list[tuple[int, int]]  # inclusive row indices


def sigmoid(y: Array | float) -> Array:
    with np.errstate(over="ignore"):  # far past a window: exp overflows, S is -1
        return np.asarray(2.0 / (1.0 + np.exp(5.0 * np.asarray(y, dtype=float))) - 1.0)


def read_csv(path: Path) -> tuple[npt.NDArray[np.int64], Array]:
    import pandas as pd

    frame = pd.read_csv(path)
    stamps = pd.to_datetime(frame["timestamp"]).to_numpy().astype("datetime64[s]").astype(np.int64)
    return stamps, frame["value"].to_numpy(np.float64)


def _labelled(data: Path, windows: dict[str, list[list[str]]], names: list[str]) -> list[Labelled]:
    """Each named file with its windows (inclusive ``[start, end]`` timestamps) as row ranges."""
    import pandas as pd

    out = []
    for name in names:
        stamps, values = read_csv(data / name)
        rows = []
        for start, end in windows[name]:
            lo = int(pd.Timestamp(start).timestamp())
            hi = int(pd.Timestamp(end).timestamp())
            left = int(np.searchsorted(stamps, lo, "left"))
            right = int(np.searchsorted(stamps, hi, "right")) - 1
            rows.append((left, right))
        out.append(Labelled(name, stamps, values, rows))
    return out


def load(data: Path = DATA, category: str | None = "realAWSCloudwatch") -> list[Labelled]:
    """NAB's layout: ``combined_windows.json`` beside one folder per category."""
    windows = json.loads((data / "combined_windows.json").read_text())
    names = [n for n in sorted(windows) if category is None or n.startswith(category + "/")]
    return _labelled(data, windows, names)


def load_aiops(data: Path = AIOPS, *, nab_windows: bool = False) -> list[Labelled]:
    """The AIOps KPIs: ``windows.json`` holds the exact labels (runs of labelled rows). With
    ``nab_windows``, each is widened the way NAB labels: NAB centres a window of 10% of the
    file's rows, shared among its anomalies, on each labelled anomaly; here the labelled point
    is the run's first row, the window also covers the whole run, and windows that overlap are
    joined. The exact labels reward only a detection inside a run of a few minutes, which NAB's
    scoring was not made for; the widened ones are comparable in kind with NAB's."""
    windows = json.loads((data / "windows.json").read_text())
    files = _labelled(data, windows, sorted(windows))
    if not nab_windows:
        return files
    out = []
    for f in files:
        n, half = len(f.values), int(0.10 * len(f.values) / max(1, len(f.windows))) // 2
        wide = sorted((max(0, lo - half), max(min(n - 1, lo + half), hi)) for lo, hi in f.windows)
        joined: list[tuple[int, int]] = []
        for lo, hi in wide:
            if joined and lo <= joined[-1][1] + 1:
                joined[-1] = (joined[-1][0], max(joined[-1][1], hi))
            else:
                joined.append((lo, hi))
        out.append(Labelled(f.name, f.timestamps, f.values, joined))
    return out


def thinned(files: list[Labelled], keep: float = 0.6, seed: int = 7) -> list[Labelled]:
    """The files with rows missing, as an irregular collector loses them: each row kept with
    probability ``keep``, and one outage of 1-6 hours of rows per 1,000 rows; the windows keep
    their times. A detector that takes rows for equal steps sees days of the wrong length."""
    rng = np.random.default_rng(seed)
    out = []
    for f in files:
        n = len(f.values)
        mask = rng.random(n) < keep
        for _ in range(max(1, n // 1000)):
            start = int(rng.integers(0, n))
            mask[start : start + int(rng.integers(12, 72))] = False
        mask[0] = True
        kept = np.flatnonzero(mask)
        rows = []
        for left, right in f.windows:
            lo = int(np.searchsorted(kept, left, "left"))
            hi = int(np.searchsorted(kept, right, "right")) - 1
            if hi >= lo:
                rows.append((lo, hi))
        out.append(Labelled(f.name, f.timestamps[kept], f.values[kept], rows))
    return out


def late(files: list[Labelled], most: float = 0.4, seed: int = 13) -> list[Labelled]:
    """The files with each row's time moved by up to ``most`` of the file's step, early or late
    at random (a collector whose rows come 5 minutes apart give or take two), in whole
    seconds; rows that shared a time still do, and the order of the others is kept. A reader
    that counts each spacing in steps, rounded, drifts from the rows' times."""
    rng = np.random.default_rng(seed)
    out = []
    for f in files:
        times, first = np.unique(f.timestamps, return_inverse=True)
        step = float(np.median(np.diff(times))) if len(times) > 1 else 0.0
        moved = np.round(times + rng.uniform(-most, most, len(times)) * step).astype(np.int64)
        for i in range(1, len(moved)):  # a spacing under the step may not change places
            moved[i] = max(moved[i], moved[i - 1] + 1)
        out.append(Labelled(f.name, moved[first], f.values, f.windows))
    return out


def coarser(files: list[Labelled], factor: int) -> list[Labelled]:
    """The files at ``factor`` times their step: each run of ``factor`` rows averaged (a
    5-minute file becomes a 30-minute or an hourly one); a window covers the rows its rows
    fell in."""
    out = []
    for f in files:
        m = len(f.values) // factor
        values = f.values[: m * factor].reshape(m, factor).mean(axis=1)
        rows = [(lo // factor, min(hi // factor, m - 1)) for lo, hi in f.windows]
        rows = [(lo, hi) for lo, hi in rows if lo < m]
        out.append(Labelled(f.name, f.timestamps[: m * factor : factor], values, rows))
    return out


def write_csv(f: Labelled, path: Path) -> None:
    """A file in NAB's format (``timestamp,value``, times in UTC)."""
    from datetime import UTC, datetime

    lines = ["timestamp,value"] + [
        f"{datetime.fromtimestamp(int(t), UTC):%Y-%m-%d %H:%M:%S},{v!r}"
        for t, v in zip(f.timestamps, f.values.tolist(), strict=True)
    ]
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join(lines) + "\n")


def probation(n: int) -> int:
    return min(math.floor(0.15 * n), 750)


@dataclass(frozen=True)
class FileCurve:
    """A file's raw score as a function of the threshold, on a shared threshold grid."""

    raw: Array  # per threshold
    windows: int


def file_curve(f: Labelled, scores: Array, thresholds: Array, profile: str) -> FileCurve:
    tp_w, fp_w, fn_w = PROFILES[profile]
    n = len(scores)
    start = probation(n)
    in_window = np.zeros(n, bool)
    total = np.zeros(len(thresholds))
    for left, right in f.windows:
        in_window[left : right + 1] = True
        width = right - left + 1
        idx = np.arange(max(left, start), right + 1)
        if len(idx) == 0:
            total -= fn_w
            continue
        y = -(right - idx + 1) / width
        value = tp_w * sigmoid(y) / sigmoid(-1.0)
        reach = np.maximum.accumulate(scores[idx])  # detected by row i at threshold <= reach[i]
        first = np.searchsorted(reach, thresholds, "left")
        total += np.where(first < len(idx), value[np.minimum(first, len(idx) - 1)], -fn_w)
    # detections outside windows
    rights = np.array([r for _, r in f.windows])
    widths = np.array([r - lo + 1 for lo, r in f.windows])
    rows = np.arange(start, n)
    rows = rows[~in_window[start:]]
    prev = np.searchsorted(rights, rows, "left") - 1  # the window ending before the row
    cost = np.full(len(rows), -fp_w)
    has = prev >= 0
    # a window of one row (width - 1 = 0) counts as two: the AIOps labels can mark a single row
    d = np.abs(rights[prev[has]] - rows[has]) / np.maximum(widths[prev[has]] - 1, 1)
    cost[has] = fp_w * sigmoid(d)
    order = np.argsort(scores[rows])
    sorted_scores = scores[rows][order]
    suffix = np.concatenate([np.cumsum(cost[order][::-1])[::-1], [0.0]])
    total += suffix[np.searchsorted(sorted_scores, thresholds, "left")]
    return FileCurve(total, len(f.windows))


@dataclass(frozen=True)
class Score:
    score: float  # normalised, 100 = perfect, 0 = never fires
    threshold: float
    per_file: dict[str, float]  # raw score per file at that threshold


def corpus_score(files: list[Labelled], scores: list[Array], profile: str = "standard") -> Score:
    grid = np.unique(np.round(np.concatenate(scores), 4))
    thresholds = np.concatenate([grid, [grid[-1] + 1.0]])  # the last one never fires
    curves = [file_curve(f, s, thresholds, profile) for f, s in zip(files, scores, strict=True)]
    raw = sum(c.raw for c in curves)
    assert isinstance(raw, np.ndarray)
    best = int(np.argmax(raw))
    tp_w, _, fn_w = PROFILES[profile]
    windows = sum(c.windows for c in curves)
    null, perfect = -fn_w * windows, tp_w * windows
    return Score(
        100 * (raw[best] - null) / (perfect - null),
        float(thresholds[best]),
        {f.name: float(c.raw[best]) for f, c in zip(files, curves, strict=True)},
    )


def score_at(
    files: list[Labelled], scores: list[Array], threshold: float, profile: str = "standard"
) -> float:
    """The normalised score of the files at one given threshold."""
    grid = np.array([threshold])
    raw = sum(
        float(file_curve(f, s, grid, profile).raw[0]) for f, s in zip(files, scores, strict=True)
    )
    tp_w, _, fn_w = PROFILES[profile]
    windows = sum(len(f.windows) for f in files)
    null, perfect = -fn_w * windows, tp_w * windows
    return 100 * (raw - null) / (perfect - null)


@dataclass(frozen=True)
class Outcome:
    """What one file's detections did at one threshold: per window, where the earliest
    detection fell (0 = the window's first row, just under 1 = its last) or None for a miss;
    and the rows detected outside every window (probation excluded)."""

    found: list[float | None]
    false_rows: list[int]


def outcome(f: Labelled, scores: Array, threshold: float) -> Outcome:
    start = probation(len(scores))
    detected = np.flatnonzero(scores >= threshold)
    detected = detected[detected >= start]
    inside = np.zeros(len(scores), bool)
    found: list[float | None] = []
    for left, right in f.windows:
        inside[left : right + 1] = True
        hits = detected[(detected >= left) & (detected <= right)]
        found.append(float(hits[0] - left) / (right - left + 1) if len(hits) else None)
    return Outcome(found, [int(i) for i in detected[~inside[detected]]])
