"""The `globalmon` command. Exit codes: 0 ok, 1 runtime failure, 2 usage or spec error."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from prometheus_client import disable_created_metrics

from globalmon import __version__, logs
from globalmon.cliutil import EXIT_OK, EXIT_USAGE, load_or_report
from globalmon.describe import describe
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

    # The one place the core reaches the parts: each adds its own commands.
    from alert_webhook.cli import add_parsers as add_webhook_parsers
    from console.cli import add_parsers as add_console_parsers
    from exporters.cli import add_parsers
    from forecaster_sidecar.cli import add_parsers as add_sidecar_parsers
    from local_stack.cli import add_parsers as add_stack_parsers
    from rules_generator.cli import add_parsers as add_generator_parsers

    add_generator_parsers(sub)
    add_parsers(sub)
    add_sidecar_parsers(sub)
    add_webhook_parsers(sub)
    add_console_parsers(sub)
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
    # Our counters are process-lifetime or restored from SQLite: *_created series would only
    # double the series count (Prometheus 2.42 does not read them from the text format). Said
    # here, where a process starts, not as a side effect of importing a package.
    disable_created_metrics()  # type: ignore[no-untyped-call]
    args = build_parser().parse_args(argv)
    if getattr(args, "log_level", None):  # a daemon: its messages through logging from here on
        logs.setup(args.log_level, args.log_format)
    try:
        code: int = args.func(args)
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:  # `globalmon schema | head`
        return EXIT_OK
    return code
