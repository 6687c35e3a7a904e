"""What every `globalmon` subcommand shares: exit codes and loading the spec it was given."""

from __future__ import annotations

import argparse
import logging
import sys
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from ssl import SSLContext

    from aiohttp import web

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


def listen_address(address: str) -> tuple[str, int] | None:
    """(host, port) of a ``--web.listen-address``, or None when it is not host:port."""
    host, sep, port = address.rpartition(":")
    # ASCII digits only (str.isdigit takes "²"), and a port the socket layer can take
    if not sep or not (port.isascii() and port.isdigit()) or not 0 < int(port) < 65536:
        return None
    return host.strip("[]") or "0.0.0.0", int(port)


def bad_address(address: str, what: str) -> int:
    print(
        f"globalmon {what}: --web.listen-address: found {address!r}; expected host:port",
        file=sys.stderr,
    )
    return EXIT_USAGE


def serve(
    app: web.Application, address: str, what: str, *, ssl_context: SSLContext | None = None
) -> int:
    """Run an aiohttp app until interrupted; a port that cannot be bound is a runtime failure."""
    from aiohttp import web

    listen = listen_address(address)
    assert listen is not None  # callers check the address before reading any secret
    try:
        web.run_app(app, host=listen[0], port=listen[1], print=None, ssl_context=ssl_context)
    except OSError as exc:
        logging.getLogger(f"globalmon.{what}").error(f"cannot listen on {address}: {exc.strerror}")
        return EXIT_FAILURE
    return EXIT_OK


INSECURE_NO_AUTH = "--insecure-no-auth"


def add_insecure_flag(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        INSECURE_NO_AUTH,
        dest="insecure_no_auth",
        action="store_true",
        help="start without a token in the spec and accept writes from anyone (tests, a "
        "laptop); without it, a missing token refuses to start",
    )


def credential_ok(token: str | None, field: str, what: str, *, insecure: bool) -> bool:
    """Whether a daemon may start with ``token``: a missing one refuses to start (writes would
    be open to anyone by omission) unless the operator said so with --insecure-no-auth."""
    if token is not None:
        return True
    if insecure:
        logging.getLogger(f"globalmon.{what}").warning(
            f"running WITHOUT AUTHENTICATION ({INSECURE_NO_AUTH}): anyone who reaches this port "
            "can write"
        )
        return True
    print(
        f"globalmon {what}: no global.credentials.{field} in the spec; set it (a secret "
        f"reference: {{env: VAR}} or {{file: PATH}}) or pass {INSECURE_NO_AUTH}",
        file=sys.stderr,
    )
    return False
