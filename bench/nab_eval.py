"""NAB scores of the sidecar's anomaly detector on each labelled corpus of ../shared/data, through
the command a user runs, one parameter set for all.

Every file is scored by ``globalmon sidecar detect FILE -o OUT`` (a process each, ``--jobs`` at
a time), and its ``anomaly_score`` column by NAB's scoring (bench/_nab.py), each corpus on its
own, as the issue asks:

- nab: NAB's subset (realAWSCloudwatch, the published figures' column, and the whole subset) at
  the corpus threshold (the one that maximises the whole subset's summed score, as NAB picks it),
  at the threshold that maximises the category alone, and at the sidecar's flag threshold;
- aiops: the AIOps 2018 KPIs with their exact labels, and with NAB-style windows around them
  (``_nab.load_aiops``); a threshold of their own (the corpus threshold of that corpus);
- derived checks, from NAB's subset written to CSV files first: rows missing at random (an
  irregular collector), the same rows each up to 40% of a step early or late as well, and
  30-minute and hourly steps. Each at its own threshold and at the subset's: how far the
  operating point moves when only the sampling changes.

Then, for the standard profile, how many windows were found (where in them: 0 their start, 0.5
their middle, where NAB puts the labelled point), missed, and how many false alarms were raised
(``--windows``: each file's). Published on realAWSCloudwatch (standard profile, corpus
threshold): Numenta HTM 73.4, contextOSE 71.5, ARTime 69.5, knncad 60.7, ..., windowedGaussian
31.2, random 10.8. ``--data`` is the folder holding ``nab/`` and ``aiops2018-kpi/`` (either may
be missing), or a folder in NAB's layout.

``--repo`` scores another checkout's command the same way (an earlier version, a baseline).

    python -m bench.nab_eval [--data DIR] [--windows] [--jobs N] [--repo CHECKOUT]
"""

from __future__ import annotations

import argparse
import csv
import os
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from bench import _nab as nab
from forecaster_sidecar.analyse import FLAG_THRESHOLD

REPO = Path(__file__).resolve().parents[1]


@dataclass(frozen=True)
class Corpus:
    name: str
    files: list[nab.Labelled]
    paths: list[Path]  # each file's CSV, as the command reads it


def detect(paths: list[Path], jobs: int, out_dir: Path, repo: Path = REPO) -> list[nab.Array]:
    """Each file's scores from ``globalmon sidecar detect`` (the code in ``repo``), in order;
    the command's output files are written in ``out_dir`` and removed once read."""

    def one(i_path: tuple[int, Path]) -> nab.Array:
        i, path = i_path
        out = out_dir / f"{i}.csv"
        command = [
            sys.executable,
            "-m",
            "globalmon",
            "sidecar",
            "detect",
            str(path),
            "-o",
            str(out),
        ]
        done = subprocess.run(command, cwd=repo, capture_output=True, text=True, check=False)
        if done.returncode != 0:
            raise SystemExit(f"{' '.join(command)}: exit {done.returncode}: {done.stderr}")
        with out.open() as f:
            got = [(r["timestamp"], float(r["anomaly_score"])) for r in csv.DictReader(f)]
        out.unlink()
        return aligned(path, got)

    with ThreadPoolExecutor(jobs) as pool:
        return list(pool.map(one, enumerate(paths)))


def aligned(path: Path, got: list[tuple[str, float]]) -> nab.Array:
    """A score for every row of the file: the command skips a row whose time repeats (NAB's
    files have a few, from a clock change), which scores 0, as a user would see it."""
    with path.open() as f:
        stamps = [r["timestamp"] for r in csv.DictReader(f)]
    out, j = np.zeros(len(stamps)), 0
    for i, stamp in enumerate(stamps):
        if j < len(got) and got[j][0] == stamp:
            out[i] = got[j][1]
            j += 1
    if j != len(got):
        raise SystemExit(f"{path}: {len(got) - j} scored rows not in the file")
    return out


def corpora(data: Path, scratch: Path) -> list[Corpus]:
    """The corpora in ``data``, then the derived ones (written under ``scratch``)."""
    found: list[Corpus] = []
    nab_dir = data if (data / "combined_windows.json").is_file() else data / "nab"
    if (nab_dir / "combined_windows.json").is_file():
        files = nab.load(nab_dir, category=None)
        found.append(Corpus("nab", files, [nab_dir / f.name for f in files]))
        for label, derived in (
            ("nab, rows missing", nab.thinned(files)),
            ("nab, rows missing and late", nab.late(nab.thinned(files))),
            ("nab, 30-minute steps", nab.coarser(files, 6)),
            ("nab, hourly steps", nab.coarser(files, 12)),
        ):
            paths = [scratch / label.replace(" ", "_").replace(",", "") / f.name for f in derived]
            for f, path in zip(derived, paths, strict=True):
                nab.write_csv(f, path)
            found.append(Corpus(label, derived, paths))
    aiops_dir = data / "aiops2018-kpi"
    if (aiops_dir / "windows.json").is_file():
        for label, nab_windows in (("aiops, exact labels", False), ("aiops, NAB windows", True)):
            files = nab.load_aiops(aiops_dir, nab_windows=nab_windows)
            found.append(Corpus(label, files, [aiops_dir / f.name for f in files]))
    return found


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=nab.SHARED)
    parser.add_argument("--windows", action="store_true", help="each file's windows and alarms")
    parser.add_argument("--jobs", type=int, default=os.cpu_count() or 1)
    parser.add_argument(
        "--repo", type=Path, default=REPO, help="score another checkout's detector (a baseline)"
    )
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="globalmon-nab-") as scratch:
        found = corpora(args.data, Path(scratch))
        if not found:
            raise SystemExit(f"{args.data}: no nab/ nor aiops2018-kpi/ corpus")
        started = time.perf_counter()
        # the same file is scored once (both AIOps window sets read the same CSVs)
        unique = sorted({p for c in found for p in c.paths})
        scored = detect(unique, max(1, args.jobs), Path(scratch), args.repo)
        by_path = dict(zip(unique, scored, strict=True))
        elapsed = time.perf_counter() - started
    rows = sum(len(by_path[p]) for p in unique)
    print(f"globalmon sidecar detect: {len(unique)} files, {rows} rows in {elapsed:.1f} s")
    subset_threshold: dict[str, float] = {}
    for corpus in found:
        scores = [by_path[p] for p in corpus.paths]
        for f, s in zip(corpus.files, scores, strict=True):
            if len(s) != len(f.values):
                raise SystemExit(f"{f.name}: {len(s)} scores for {len(f.values)} rows")
        report(corpus, scores, subset_threshold, args.windows)


def report(
    corpus: Corpus, scores: list[nab.Array], subset: dict[str, float], each_file: bool
) -> None:
    """A corpus' scores per profile, then its windows and alarms (standard profile)."""
    print(f"\n{corpus.name} ({len(corpus.files)} files, "
          f"{sum(len(f.windows) for f in corpus.files)} windows)")  # fmt: skip
    parts = {"": (corpus.files, scores)}
    if corpus.name == "nab":
        aws = [(f, s) for f, s in zip(corpus.files, scores, strict=True)
               if f.name.startswith("realAWSCloudwatch/")]  # fmt: skip
        parts = {
            "realAWSCloudwatch": ([f for f, _ in aws], [s for _, s in aws]),
            "subset": parts[""],
        }
    derived = corpus.name.startswith("nab, ")
    chosen = 0.0
    for profile in nab.PROFILES:
        own_corpus = nab.corpus_score(corpus.files, scores, profile)
        if corpus.name == "nab":
            subset[profile] = own_corpus.threshold
        threshold = own_corpus.threshold
        if profile == "standard":
            chosen = threshold
        for label, (files, s) in parts.items():
            own = nab.corpus_score(files, s, profile)
            line = f"  {label:<18}{profile:<19} corpus threshold " + (
                f"{nab.score_at(files, s, threshold, profile):5.1f} ({threshold:.3f})"
            )
            if label:
                line += f"   own threshold {own.score:5.1f} ({own.threshold:.3f})"
            if derived and profile in subset:
                line += f"   nab's {nab.score_at(files, s, subset[profile], profile):5.1f}"
            line += f"   flag threshold {nab.score_at(files, s, FLAG_THRESHOLD, profile):5.1f}"
            print(line)
    seen = [(f, nab.outcome(f, s, chosen)) for f, s in zip(corpus.files, scores, strict=True)]
    where = [x for _, o in seen for x in o.found if x is not None]
    missed = sum(x is None for _, o in seen for x in o.found)
    alarms = sum(len(o.false_rows) for _, o in seen)
    print(
        f"  standard at {chosen:.3f}: {len(where)} of {len(where) + missed} windows found "
        f"(median position {np.median(where) if where else float('nan'):.2f}), "
        f"{missed} missed, {alarms} false alarms"
    )
    for f, o in seen if each_file else []:
        found = " ".join("miss" if x is None else f"{x:.2f}" for x in o.found) or "(no window)"
        print(f"    {f.name.split('/')[-1]:<44} windows {found:<16} false alarms {o.false_rows}")


if __name__ == "__main__":
    main()
