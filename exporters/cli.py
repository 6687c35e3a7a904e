"""`globalmon agent`, `globalmon registry` and `globalmon plugin-exporter`."""

from __future__ import annotations

import argparse
import sqlite3
import sys
import time
from collections.abc import Callable
from pathlib import Path
from urllib.parse import urlsplit

from globalmon.access import reader_credentials
from globalmon.cliutil import (
    EXIT_FAILURE,
    EXIT_USAGE,
    add_insecure_flag,
    bad_address,
    credential_ok,
    duration_arg,
    listen_address,
    load_or_report,
    serve,
)
from globalmon.logs import add_log_flags
from globalmon.secrets import SecretUnavailable, read_secret
from globalmon.spec.types import duration_seconds


def run_agent(args: argparse.Namespace) -> int:
    from exporters.agent.app import AgentConfig, create_app

    spec = load_or_report(args.spec)
    if spec is None:
        return EXIT_USAGE
    region = next((r for r in spec.regions if r.id == args.region), None)
    agent = next((a for a in region.agents if a.id == args.agent_id), None) if region else None
    if region is None or agent is None:
        known = sorted(f"{r.id}/{a.id}" for r, a in spec.agents())
        print(
            f"globalmon agent: found no agent {args.region}/{args.agent_id} in {args.spec}; "
            f"expected one of {', '.join(known) or '(none)'}",
            file=sys.stderr,
        )
        return EXIT_USAGE
    address = args.listen or agent.address
    if listen_address(address) is None:
        return bad_address(address, "agent")
    token = spec.global_.credentials.registry_token
    try:
        secret = read_secret(token) if token and region.endpoints.registry_url else None
    except SecretUnavailable as exc:
        print(f"globalmon agent: registry token: {exc}", file=sys.stderr)
        return EXIT_FAILURE
    interval = (
        args.heartbeat_interval
        or duration_seconds(spec.defaults.thresholds.heartbeat_stale_after) / 4
    )
    config = AgentConfig(region.id, agent, region.endpoints.registry_url, secret, interval)
    return serve(create_app(config, clock=time.time), address, "agent")


def run_registry(args: argparse.Namespace) -> int:
    from exporters.registry.app import TARGETS_PATH, RegistryConfig, create_app
    from exporters.registry.store import RegistryStore

    spec = load_or_report(args.spec)
    if spec is None:
        return EXIT_USAGE
    if listen_address(args.listen) is None:
        return bad_address(args.listen, "registry")
    creds = spec.global_.credentials
    try:
        token = read_secret(creds.registry_token) if creds.registry_token else None
        named = reader_credentials(creds, _skipped("registry"))
    except SecretUnavailable as exc:
        print(f"globalmon registry: {exc}", file=sys.stderr)
        return EXIT_FAILURE
    if not credential_ok(token, "registry_token", "registry", insecure=args.insecure_no_auth):
        return EXIT_USAGE
    urls = [r.endpoints.registry_url for r in spec.regions if r.endpoints.registry_url]
    path = urlsplit(urls[0]).path if urls else TARGETS_PATH
    try:
        store = RegistryStore(Path(args.db))
    except (sqlite3.Error, OSError) as exc:
        print(f"globalmon registry: cannot open {args.db}: {exc}", file=sys.stderr)
        return EXIT_FAILURE
    stale = duration_seconds(spec.defaults.thresholds.heartbeat_stale_after)
    config = RegistryConfig(
        token,
        stale,
        duration_seconds(args.ttl),
        path or TARGETS_PATH,
        named=named,
        open_reads=creds.open_reads,
        rate=args.rate_limit,
        burst=args.rate_limit * 5,
    )
    try:
        return serve(create_app(config, clock=time.time, store=store), args.listen, "registry")
    finally:
        store.close()


def run_plugin_exporter(args: argparse.Namespace) -> int:
    from exporters.plugin.app import create_app
    from exporters.plugin.limits import Limits
    from exporters.plugin.state import PluginExporterConfig
    from exporters.plugin.store import PluginStore

    spec = load_or_report(args.spec)
    if spec is None:
        return EXIT_USAGE
    region = None
    if args.region is not None:
        region = next((r for r in spec.regions if r.id == args.region), None)
        if region is None:
            known = ", ".join(r.id for r in spec.regions)
            print(
                f"globalmon plugin-exporter: --region: found {args.region!r}; "
                f"expected one of {known}",
                file=sys.stderr,
            )
            return EXIT_USAGE
    address = args.listen or (region and region.endpoints.plugin_exporter) or "127.0.0.1:9465"
    if listen_address(address) is None:
        return bad_address(address, "plugin-exporter")
    plugins = {
        p.id: p
        for p in spec.plugins
        if region is None or p.regions is None or region.id in p.regions
    }
    creds = spec.global_.credentials
    try:
        token = read_secret(creds.ingest_token) if creds.ingest_token else None
        push_token = (
            read_secret(creds.webhook_token)
            if args.push_critical_events and creds.webhook_token
            else None
        )
        named = reader_credentials(creds, _skipped("plugin-exporter"))
    except SecretUnavailable as exc:
        print(f"globalmon plugin-exporter: {exc}", file=sys.stderr)
        return EXIT_FAILURE
    if not credential_ok(token, "ingest_token", "plugin-exporter", insecure=args.insecure_no_auth):
        return EXIT_USAGE
    config = PluginExporterConfig(
        plugins=plugins,
        token=token,
        region=region.id if region else None,
        limits=Limits(requests_per_window=args.rate_limit),
        stale_after=duration_seconds(spec.defaults.thresholds.heartbeat_stale_after),
        ttl=duration_seconds(args.plugin_ttl),
        retention=duration_seconds(args.retention),
        push_url=spec.global_.webhook_url.rstrip("/") + "/webhook"
        if args.push_critical_events
        else None,
        push_token=push_token,
        named=named,
        open_reads=creds.open_reads,
    )
    try:
        store = PluginStore(Path(args.db))
    except (sqlite3.Error, OSError) as exc:
        print(f"globalmon plugin-exporter: cannot open {args.db}: {exc}", file=sys.stderr)
        return EXIT_FAILURE
    try:
        app = create_app(config, clock=time.time, store=store)
        return serve(app, address, "plugin-exporter")
    finally:
        store.close()


def _skipped(what: str) -> Callable[[str, str], None]:
    def warn(name: str, why: str) -> None:
        print(
            f"globalmon {what}: credential {name} cannot read here ({why}); "
            "give its sha256 in the spec to let it",
            file=sys.stderr,
        )

    return warn


def _positive(text: str) -> int:
    if not text.isdigit() or int(text) < 1:
        raise argparse.ArgumentTypeError(f"found {text!r}; expected a whole number above 0")
    return int(text)


def add_parsers(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser("agent", help="run the agent exporter for one agent of the spec")
    p.add_argument("--spec", required=True, metavar="SPEC", help="region spec YAML file")
    p.add_argument("--region", required=True, help="the agent's region id")
    p.add_argument("--agent-id", required=True, help="the agent's id in the spec")
    p.add_argument(
        "--web.listen-address",
        dest="listen",
        metavar="ADDR",
        help="host:port to serve /metrics on (default: the agent's address)",
    )
    p.add_argument(
        "--heartbeat-interval",
        type=float,
        metavar="SECONDS",
        help="seconds between heartbeats (default: heartbeat_stale_after / 4)",
    )
    add_log_flags(p)
    p.set_defaults(func=run_agent)

    p = sub.add_parser("registry", help="run the agent registry (Prometheus http_sd)")
    p.add_argument("--spec", required=True, metavar="SPEC", help="region spec YAML file")
    p.add_argument(
        "--db",
        default="globalmon-registry.db",
        metavar="PATH",
        help="SQLite file; registrations survive restarts (default: %(default)s)",
    )
    p.add_argument(
        "--web.listen-address",
        dest="listen",
        default="127.0.0.1:9467",
        metavar="ADDR",
        help="host:port to listen on (default: %(default)s)",
    )
    p.add_argument(
        "--ttl",
        default="10m",
        metavar="DURATION",
        help="remove agents silent this long (default: %(default)s)",
    )
    p.add_argument(
        "--rate-limit",
        type=_positive,
        default=20,
        metavar="N",
        help="requests a second per credential, bursts of 5x (the registry token's: per "
        "client address) (default: %(default)s)",
    )
    add_insecure_flag(p)
    add_log_flags(p)
    p.set_defaults(func=run_registry)

    p = sub.add_parser(
        "plugin-exporter", help="run the plugin exporter (ingest API, store, /metrics)"
    )
    p.add_argument("--spec", required=True, metavar="SPEC", help="region spec YAML file")
    p.add_argument(
        "--region",
        help="serve this region's plugins and listen on its endpoints.plugin_exporter",
    )
    p.add_argument(
        "--db",
        default="globalmon-plugins.db",
        metavar="PATH",
        help="SQLite file for logs, events, snapshots and counters (default: %(default)s)",
    )
    p.add_argument(
        "--web.listen-address",
        dest="listen",
        metavar="ADDR",
        help="host:port (default: the region's endpoints.plugin_exporter, else 127.0.0.1:9465)",
    )
    p.add_argument(
        "--plugin-ttl",
        default="10m",
        type=duration_arg,
        metavar="DURATION",
        help="remove the series of plugins silent this long (default: %(default)s)",
    )
    p.add_argument(
        "--retention",
        default="30d",
        type=duration_arg,
        metavar="DURATION",
        help="keep logs, events, snapshots and reports this long (default: %(default)s)",
    )
    p.add_argument(
        "--rate-limit",
        type=_positive,
        default=600,
        metavar="N",
        help="requests per plugin per minute (default: %(default)s)",
    )
    p.add_argument(
        "--push-critical-events",
        action="store_true",
        help="also push critical events to the alert webhook (global.webhook_url)",
    )
    add_insecure_flag(p)
    add_log_flags(p)
    p.set_defaults(func=run_plugin_exporter)
