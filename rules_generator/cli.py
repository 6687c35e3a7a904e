"""`globalmon generate`: the rules generator's command (the core's command line dispatches)."""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from globalmon.cliutil import EXIT_FAILURE, EXIT_OK, EXIT_USAGE
from globalmon.spec import SpecError, load_spec


def run_generate(args: argparse.Namespace) -> int:
    # Imported here: the generator is a larger import than validate needs.
    from rules_generator.generate import EmptyOutputError, generate
    from rules_generator.writer import diff, write

    try:
        spec = load_spec(args.spec)
        files = generate(
            spec,
            os.path.basename(args.spec),
            secrets_dir=args.secrets_dir,
            format=args.format,
            tests=args.tests,
        )
    except SpecError as exc:
        print(exc, file=sys.stderr)
        return EXIT_USAGE
    except EmptyOutputError as exc:
        print(f"globalmon generate: {exc}", file=sys.stderr)
        return EXIT_USAGE
    out = Path(args.output)
    try:
        if args.check:
            text = diff(out, files)
            if text:
                sys.stdout.write(text)
                print(
                    f"{out} is stale: run globalmon generate {args.spec} -o {out}", file=sys.stderr
                )
                return EXIT_FAILURE
            print(f"{out}: up to date ({len(files)} files)")
            return EXIT_OK
        changed = write(out, files)
    except OSError as exc:
        print(f"globalmon generate: {out}: {exc.strerror or exc}", file=sys.stderr)
        return EXIT_FAILURE
    print(f"{out}: {len(files)} files, {len(changed)} changed")
    return EXIT_OK


def add_parsers(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser(
        "generate", help="write Prometheus configs, rules, promtool tests, Alertmanager config"
    )
    p.add_argument("spec", metavar="SPEC", help="region spec YAML file")
    p.add_argument("-o", "--output", required=True, metavar="DIR", help="output directory")
    p.add_argument(
        "--check",
        action="store_true",
        help="write nothing; exit 1 with a unified diff when DIR is stale, 0 when up to date",
    )
    p.add_argument(
        "--format",
        choices=["plain", "prometheus-operator"],
        default="plain",
        help="plain files (default), or PrometheusRule and AlertmanagerConfig manifests",
    )
    p.add_argument(
        "--no-tests",
        dest="tests",
        action="store_false",
        help="leave out the promtool tests (rules/tests/); for fleet-sized specs whose CI "
        "checks the rules with promtool check rules only",
    )
    p.add_argument(
        "--secrets-dir",
        default="/run/globalmon/secrets",
        metavar="DIR",
        help="where env-referenced secrets are written as files for Prometheus and "
        "Alertmanager (default: %(default)s)",
    )
    p.set_defaults(func=run_generate)
