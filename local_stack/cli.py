"""`globalmon stack {up,status,down,scenario,compose}` (and `world`, the demo world process)."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import sys
from pathlib import Path

from globalmon.cliutil import EXIT_FAILURE, EXIT_OK, EXIT_USAGE

DEFAULT_DIR = ".globalmon/stack"


def _up(args: argparse.Namespace) -> int:
    from globalmon.spec import SpecError
    from local_stack import runner

    root = Path(args.dir)
    try:
        runner.up(Path(args.spec), root, timeout=args.timeout)
    except SpecError as exc:
        print(exc, file=sys.stderr)
        return EXIT_USAGE
    except runner.StackError as exc:
        print(f"globalmon stack up: {exc}", file=sys.stderr)
        return EXIT_FAILURE
    except KeyboardInterrupt:
        print("globalmon stack up: interrupted; stopped what had started", file=sys.stderr)
        return EXIT_FAILURE
    print()
    print(runner.table(runner.status(root)))
    _console_line(root)
    print(f"\nstop it with: globalmon stack down --dir {root}")
    return EXIT_OK


def _console_line(root: Path) -> None:
    from local_stack import runner

    for p in runner.procs(root):
        if p["kind"] == "console":
            token = root.resolve() / "secrets" / "GLOBALMON_WEBHOOK_TOKEN"
            print(f"\nconsole: {p['url']}/  (sign in with your name and the token in {token})")


def _status(args: argparse.Namespace) -> int:
    from local_stack import runner

    try:
        rows = runner.status(Path(args.dir))
    except runner.StackError as exc:
        print(f"globalmon stack status: {exc}", file=sys.stderr)
        return EXIT_FAILURE
    print(runner.table(rows))
    _console_line(Path(args.dir))
    return EXIT_OK if all(r["ready_now"] for r in rows) else EXIT_FAILURE


def _down(args: argparse.Namespace) -> int:
    from local_stack import runner

    try:
        runner.down(Path(args.dir))
    except runner.StackError as exc:
        print(f"globalmon stack down: {exc}", file=sys.stderr)
        return EXIT_FAILURE
    return EXIT_OK


def _scenario(args: argparse.Namespace) -> int:
    from local_stack import runner, scenarios
    from local_stack.timeline import ScenarioError

    run = scenarios.SCENARIOS.get(args.name)
    if run is None:
        known = ", ".join(scenarios.SCENARIOS)
        print(f"globalmon stack scenario: found {args.name!r}; expected one of {known}",
              file=sys.stderr)  # fmt: skip
        return EXIT_USAGE
    try:
        timeline = run(Path(args.dir), print)
    except (runner.StackError, ScenarioError) as exc:
        print(f"globalmon stack scenario {args.name}: {exc}", file=sys.stderr)
        return EXIT_FAILURE
    print(timeline.render(scenarios.TARGETS))
    return EXIT_OK


def _compose(args: argparse.Namespace) -> int:
    import os

    from globalmon.spec import SpecError, load_spec
    from local_stack import compose

    try:
        spec = load_spec(Path(args.spec))
    except SpecError as exc:
        print(exc, file=sys.stderr)
        return EXIT_USAGE
    out = Path(args.output) if args.output else None
    base = out.parent if out else Path.cwd()
    text = compose.dump(
        compose.render(
            spec,
            spec_file=os.path.relpath(args.spec, base),
            generated=os.path.relpath(args.generated, base),
        ),
        Path(args.spec).name,
    )
    if out is None:
        sys.stdout.write(text)
    else:
        out.write_text(text)
    return EXIT_OK


def _world(args: argparse.Namespace) -> int:
    import os

    from local_stack.world import serve

    root = Path(args.dir)
    token = os.environ.get("GLOBALMON_INGEST_TOKEN")
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(serve(root / "spec.yaml", root / "world", args.port, args.smtp_port, token))
    return EXIT_OK


def add_parsers(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser("stack", help="run every part on real Prometheus/Alertmanager, locally")
    verbs = p.add_subparsers(
        dest="verb", required=True, metavar="{up,status,down,scenario,compose}"
    )

    def with_dir(q: argparse.ArgumentParser) -> None:
        q.add_argument(
            "--dir", default=DEFAULT_DIR, metavar="DIR",
            help="the stack's directory: state, logs, data (default: %(default)s)",
        )  # fmt: skip

    q = verbs.add_parser("up", help="generate, start everything, wait until it works")
    q.add_argument("--spec", required=True, metavar="SPEC", help="region spec YAML file")
    q.add_argument("--timeout", type=float, default=240, metavar="SECONDS",
                   help="give up waiting after this long (default: %(default)s)")  # fmt: skip
    with_dir(q)
    q.set_defaults(func=_up)
    q = verbs.add_parser("status", help="each process, its pid and whether it answers")
    with_dir(q)
    q.set_defaults(func=_status)
    q = verbs.add_parser("down", help="stop what `stack up` started")
    with_dir(q)
    q.set_defaults(func=_down)
    q = verbs.add_parser("scenario", help="inject a fault and print the measured timeline")
    q.add_argument(
        "name",
        metavar="NAME",
        help="plugin-memory-leak, agent-offline, region-outage, latency-spike or error-burst",
    )
    with_dir(q)
    q.set_defaults(func=_scenario)
    q = verbs.add_parser("compose", help="write a docker-compose.yml with production settings")
    q.add_argument("--spec", required=True, metavar="SPEC", help="region spec YAML file")
    q.add_argument(
        "--generated",
        required=True,
        metavar="DIR",
        help="what `globalmon generate SPEC -o DIR` wrote (mounted, read-only)",
    )
    q.add_argument("-o", "--output", metavar="FILE", help="write here, not to standard output")
    q.set_defaults(func=_compose)
    q = verbs.add_parser("world", help=argparse.SUPPRESS)
    with_dir(q)
    q.add_argument("--port", type=int, required=True)
    q.add_argument("--smtp-port", type=int)
    q.set_defaults(func=_world)
