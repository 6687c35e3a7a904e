"""`globalmon sidecar detect`: the sidecar's anomaly scores for a CSV file, offline."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from forecaster_sidecar.anomaly import scores, step_of
from forecaster_sidecar.csvio import CsvError, read
from globalmon.cliutil import EXIT_FAILURE, EXIT_OK, EXIT_USAGE


def run_detect(args: argparse.Namespace) -> int:
    path = Path(args.file)
    try:
        table = read(path)
    except FileNotFoundError:
        print(f"globalmon sidecar detect: no such file: {path}", file=sys.stderr)
        return EXIT_FAILURE
    except CsvError as exc:
        print(exc, file=sys.stderr)
        return EXIT_USAGE
    score = scores(table.values, step_of(table.timestamps))
    lines = ["timestamp,value,anomaly_score\n"]
    lines += [
        f"{t},{'' if v != v else repr(float(v))},{s:.6f}\n"
        for t, v, s in zip(table.raw_timestamps, table.values, score, strict=True)
    ]
    out = "".join(lines)
    if args.output:
        try:
            Path(args.output).write_text(out)
        except OSError as exc:
            print(f"globalmon sidecar detect: cannot write {args.output}: {exc}", file=sys.stderr)
            return EXIT_FAILURE
    else:
        sys.stdout.write(out)
    return EXIT_OK


def add_parsers(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser("sidecar", help="the forecaster sidecar (offline: detect on a CSV)")
    modes = p.add_subparsers(dest="mode", metavar="MODE", required=True)
    d = modes.add_parser(
        "detect",
        help="write timestamp,value,anomaly_score for a timestamp,value CSV (the NAB format)",
    )
    d.add_argument("file", metavar="FILE.csv", help="CSV with the header timestamp,value")
    d.add_argument("-o", "--output", metavar="OUT", help="write here instead of standard output")
    d.set_defaults(func=run_detect)
