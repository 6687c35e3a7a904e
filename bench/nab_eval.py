"""NAB score of the sidecar's anomaly detector on the shared subset, one parameter set for all.

Scores every file of ../shared/data/nab with ``forecaster_sidecar.anomaly.scores`` (causal),
then NAB's scoring (bench/_nab.py), each profile, for the realAWSCloudwatch category (the
published figures' column) and for the whole subset: at the corpus threshold (the one that
maximises the whole subset's summed score, as NAB picks it for the published figures), at the
threshold that maximises the category's own score (a little higher, the data's README notes),
and at the sidecar's flag threshold (forecaster_sidecar/analyse.py); then, for the standard
profile at the corpus threshold, how many windows were found and how many false alarms were
raised (``--windows``: each file's windows and false alarms). Published on
realAWSCloudwatch (standard profile, corpus threshold): Numenta HTM 73.4, contextOSE 71.5, ARTime
69.5, knncad 60.7, ..., windowedGaussian 31.2, random 10.8.

    python -m bench.nab_eval [--data DIR] [--windows]
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np

from bench import _nab as nab
from forecaster_sidecar.analyse import FLAG_THRESHOLD
from forecaster_sidecar.anomaly import scores, step_of


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=nab.DATA)
    parser.add_argument("--windows", action="store_true", help="each file's windows and alarms")
    args = parser.parse_args()
    files = nab.load(args.data, category=None)
    started = time.perf_counter()
    all_scores = [scores(f.values, step_of(f.timestamps)) for f in files]
    elapsed = time.perf_counter() - started
    rows = sum(len(f.values) for f in files)
    print(f"detector: {len(files)} files, {rows} rows in {elapsed:.2f} s")
    categories = {"realAWSCloudwatch": "realAWSCloudwatch/", "whole subset": ""}
    chosen: dict[str, float] = {}
    for profile in nab.PROFILES:
        corpus = nab.corpus_score(files, all_scores, profile)  # one threshold for every file
        chosen[profile] = corpus.threshold
        for label, prefix in categories.items():
            picked = [(f, s) for f, s in zip(files, all_scores, strict=True)
                      if f.name.startswith(prefix)]  # fmt: skip
            own = nab.corpus_score([f for f, _ in picked], [s for _, s in picked], profile)
            at_corpus, at_flag = (
                nab.score_at([f for f, _ in picked], [s for _, s in picked], t, profile)
                for t in (corpus.threshold, FLAG_THRESHOLD)
            )
            print(
                f"{label:<18} {profile:<19} corpus threshold {at_corpus:5.1f}"
                f"   own threshold {own.score:5.1f} ({own.threshold:.3f})"
                f"   flag threshold {FLAG_THRESHOLD} {at_flag:5.1f}"
            )
        print(f"{'':<38} (corpus threshold {corpus.threshold:.3f})")
    for label, prefix in categories.items():
        picked = [(f, s) for f, s in zip(files, all_scores, strict=True)
                  if f.name.startswith(prefix)]  # fmt: skip
        report(label, picked, chosen["standard"], each_file=args.windows and bool(prefix))


def report(
    label: str, picked: list[tuple[nab.Labelled, nab.Array]], threshold: float, each_file: bool
) -> None:
    """Windows found (where in them: 0 its start, 0.5 its middle), missed, and false alarms."""
    seen = [(f, nab.outcome(f, s, threshold)) for f, s in picked]
    where = [x for _, o in seen for x in o.found if x is not None]
    missed = sum(x is None for _, o in seen for x in o.found)
    alarms = sum(len(o.false_rows) for _, o in seen)
    print(
        f"{label:<18} standard at {threshold:.3f}: {len(where)} of {len(where) + missed} windows"
        f" found (median position {np.median(where) if where else float('nan'):.2f}),"
        f" {missed} missed, {alarms} false alarms"
    )
    for f, o in seen if each_file else []:
        found = " ".join("miss" if x is None else f"{x:.2f}" for x in o.found) or "(no window)"
        print(f"  {f.name.split('/')[-1]:<44} windows {found:<16} false alarms {o.false_rows}")


if __name__ == "__main__":
    main()
