"""The `globalmon` command. Exit codes: 0 ok, 1 runtime failure, 2 usage or spec error."""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence
from pathlib import Path

from globalmon import __version__
from globalmon.cliutil import EXIT_FAILURE, EXIT_OK, EXIT_USAGE, load_or_report
from globalmon.describe import describe
from globalmon.spec import SpecError, load_spec
from globalmon.spec.schema import json_schema_text, markdown


def _validate(args: argparse.Namespace) -> int:
    status = EXIT_OK
    for path in args.spec:
        spec = load_or_report(path)
        if spec is None:
            status = EXIT_USAGE
        else:
            print(f"{path}: ok: {spec.summary()}")
    return status


def _describe(args: argparse.Namespace) -> int:
    spec = load_or_report(args.spec)
    if spec is None:
        return EXIT_USAGE
    sys.stdout.write(describe(spec))
    return EXIT_OK


def _schema(args: argparse.Namespace) -> int:
    sys.stdout.write(markdown() if args.format == "markdown" else json_schema_text())
    return EXIT_OK


def _generate(args: argparse.Namespace) -> int:
    # Imported here: the generator is a larger import than validate needs.
    from rules_generator.generate import EmptyOutputError, generate
    from rules_generator.writer import diff, write

    try:
        spec = load_spec(args.spec)
        files = generate(
            spec, os.path.basename(args.spec), secrets_dir=args.secrets_dir, format=args.format
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


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="globalmon",
        description="Multi-region monitoring on Prometheus and Alertmanager, driven by one spec.",
    )
    parser.add_argument("--version", action="version", version=f"globalmon {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)

    p = sub.add_parser("validate", help="check region specs; print a summary or every problem")
    p.add_argument("spec", nargs="+", metavar="SPEC", help="region spec YAML file(s)")
    p.set_defaults(func=_validate)

    p = sub.add_parser("describe", help="print what a region spec holds")
    p.add_argument("spec", metavar="SPEC", help="region spec YAML file")
    p.set_defaults(func=_describe)

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
        "--secrets-dir",
        default="/run/globalmon/secrets",
        metavar="DIR",
        help="where env-referenced secrets are written as files for Prometheus and "
        "Alertmanager (default: %(default)s)",
    )
    p.set_defaults(func=_generate)

    from alert_webhook.cli import add_parsers as add_webhook_parsers
    from exporters.cli import add_parsers
    from forecaster_sidecar.cli import add_parsers as add_sidecar_parsers
    from globalmon.stack.cli import add_parsers as add_stack_parsers

    add_parsers(sub)
    add_sidecar_parsers(sub)
    add_webhook_parsers(sub)
    add_stack_parsers(sub)

    p = sub.add_parser("schema", help="print the region spec's JSON Schema (or its reference)")
    p.add_argument(
        "--format",
        choices=["json", "markdown"],
        default="json",
        help="json: JSON Schema for editors (default); markdown: the docs/spec.md reference",
    )
    p.set_defaults(func=_schema)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; return the exit code."""
    args = build_parser().parse_args(argv)
    try:
        code: int = args.func(args)
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:  # `globalmon schema | head`
        return EXIT_OK
    return code
