"""`globalmon console`: the web page in front of the spec's webhook, plugin exporters and
Prometheus servers."""

from __future__ import annotations

import argparse
import time

from globalmon.cliutil import EXIT_USAGE, bad_address, listen_address, load_or_report, serve
from globalmon.logs import add_log_flags

DEFAULT_ADDRESS = "127.0.0.1:9469"


def run_console(args: argparse.Namespace) -> int:
    from console.app import create_app
    from console.config import ConsoleConfig

    spec = load_or_report(args.spec)
    if spec is None:
        return EXIT_USAGE
    if listen_address(args.listen) is None:
        return bad_address(args.listen, "console")
    app = create_app(ConsoleConfig.from_spec(spec), clock=time.time)
    return serve(app, args.listen, "console")


def add_parsers(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser(
        "console",
        help="serve the console: incidents, plugin logs/events/snapshots, capacity",
    )
    p.add_argument("--spec", required=True, metavar="SPEC", help="region spec YAML file")
    p.add_argument(
        "--web.listen-address",
        dest="listen",
        default=DEFAULT_ADDRESS,
        metavar="ADDR",
        help="host:port to listen on (default: %(default)s)",
    )
    add_log_flags(p)
    p.set_defaults(func=run_console)
