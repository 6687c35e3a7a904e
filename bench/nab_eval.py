"""NAB score of the sidecar's anomaly detector on the shared subset, one parameter set for all.

Scores every file of ../shared/data/nab with ``forecaster_sidecar.anomaly.scores`` (causal),
then NAB's scoring (bench/_nab.py) with the threshold that maximises the summed score: for the
realAWSCloudwatch category (the published figures' column) and for the whole subset, each
profile. Published on realAWSCloudwatch (standard profile): Numenta HTM 73.4, contextOSE 71.5,
ARTime 69.5, knncad 60.7, ..., windowedGaussian 31.2, random 10.8.

    python -m bench.nab_eval [--data DIR]
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

from bench import _nab as nab
from forecaster_sidecar.anomaly import scores, step_of


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=nab.DATA)
    args = parser.parse_args()
    files = nab.load(args.data, category=None)
    started = time.perf_counter()
    all_scores = [scores(f.values, step_of(f.timestamps)) for f in files]
    elapsed = time.perf_counter() - started
    rows = sum(len(f.values) for f in files)
    print(f"detector: {len(files)} files, {rows} rows in {elapsed:.2f} s")
    for category in ("realAWSCloudwatch", None):
        picked = [
            (f, s)
            for f, s in zip(files, all_scores, strict=True)
            if category is None or f.name.startswith(category + "/")
        ]
        label = category or "whole subset"
        for profile in nab.PROFILES:
            result = nab.corpus_score([f for f, _ in picked], [s for _, s in picked], profile)
            print(f"{label:<20} {profile:<20} {result.score:6.1f}  (threshold {result.threshold})")


if __name__ == "__main__":
    main()
