"""The NAB corpus subset in ../shared/data/nab and NAB's scoring, written from the facts in its
README (standard, reward_low_FP_rate and reward_low_FN_rate profiles).

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

DATA = Path(__file__).resolve().parents[2] / "shared" / "data" / "nab"
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
    return np.asarray(2.0 / (1.0 + np.exp(5.0 * np.asarray(y, dtype=float))) - 1.0)


def read_csv(path: Path) -> tuple[npt.NDArray[np.int64], Array]:
    import pandas as pd

    frame = pd.read_csv(path)
    stamps = pd.to_datetime(frame["timestamp"]).to_numpy().astype("datetime64[s]").astype(np.int64)
    return stamps, frame["value"].to_numpy(np.float64)


def load(data: Path = DATA, category: str | None = "realAWSCloudwatch") -> list[Labelled]:
    import pandas as pd

    windows = json.loads((data / "combined_windows.json").read_text())
    out = []
    for name in sorted(windows):
        if category is not None and not name.startswith(category + "/"):
            continue
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
    d = np.abs(rights[prev[has]] - rows[has]) / (widths[prev[has]] - 1)
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
