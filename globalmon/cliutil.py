"""What every `globalmon` subcommand shares: exit codes and loading the spec it was given."""

from __future__ import annotations

import argparse
import sys

from globalmon.spec import Spec, SpecError, load_spec

EXIT_OK, EXIT_FAILURE, EXIT_USAGE = 0, 1, 2


def load_or_report(path: str) -> Spec | None:
    """The spec at ``path``, or None after printing every problem to stderr (exit with 2)."""
    try:
        return load_spec(path)
    except SpecError as exc:
        print(exc, file=sys.stderr)
        return None


def duration_arg(text: str) -> str:
    """An argparse type for Prometheus durations: a bad one is a usage error (exit 2)."""
    from globalmon.spec.types import duration_seconds

    try:
        duration_seconds(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"found {text!r}; expected a duration like 10m") from None
    return text
