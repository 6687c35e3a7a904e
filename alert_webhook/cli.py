"""`globalmon webhook` and `globalmon audit {verify,export,prune}`."""

from __future__ import annotations

import argparse
import sqlite3
import sys
import time
from pathlib import Path

from globalmon.cliutil import (
    EXIT_FAILURE,
    EXIT_OK,
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


def run_webhook(args: argparse.Namespace) -> int:
    import ssl

    from alert_webhook.app import create_app
    from alert_webhook.channels import resolve_secrets
    from alert_webhook.rules import Rules
    from alert_webhook.runtime import WebhookConfig
    from alert_webhook.store import WebhookStore
    from globalmon.access import named_credentials
    from globalmon.durable_process import WriterGone
    from globalmon.pg import is_url, redact
    from globalmon.secrets import SecretUnavailable, read_secret

    if args.spec is None:
        print("globalmon webhook: the following arguments are required: --spec", file=sys.stderr)
        return EXIT_USAGE
    spec = load_or_report(args.spec)
    if spec is None:
        return EXIT_USAGE
    address = args.listen or spec.global_.webhook_url.split("://", 1)[1].split("/", 1)[0]
    if listen_address(address) is None:
        return bad_address(address, "webhook")
    if (args.tls_cert_file is None) != (args.tls_key_file is None):
        print("globalmon webhook: --tls-cert-file and --tls-key-file go together", file=sys.stderr)
        return EXIT_USAGE
    creds = spec.global_.credentials
    try:
        token = read_secret(creds.webhook_token) if creds.webhook_token else None
        named = named_credentials(creds)
    except SecretUnavailable as exc:
        print(f"globalmon webhook: {exc}", file=sys.stderr)
        return EXIT_FAILURE
    have = token if token is not None or not named else "named tokens"
    if not credential_ok(have, "webhook_token", "webhook", insecure=args.insecure_no_auth):
        return EXIT_USAGE
    secrets, unavailable = resolve_secrets(list(spec.receivers))
    for name, why in unavailable.items():
        print(f"globalmon webhook: receiver {name} disabled: {why}", file=sys.stderr)
    config = WebhookConfig(
        rules=Rules(spec),
        token=token,
        tokens=named,
        basic_user=args.basic_auth_user,
        secrets=secrets,
        unavailable=unavailable,
    )
    context = None
    if args.tls_cert_file:
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        try:
            context.load_cert_chain(args.tls_cert_file, args.tls_key_file)
        except (OSError, ssl.SSLError) as exc:
            print(f"globalmon webhook: cannot load the TLS certificate: {exc}", file=sys.stderr)
            return EXIT_FAILURE
    target: str | Path = args.db if is_url(args.db) else Path(args.db)
    try:
        store = WebhookStore(target, config.rules, synchronous=args.synchronous, writer="process")
    except (sqlite3.Error, OSError, WriterGone) as exc:
        print(f"globalmon webhook: cannot open {redact(args.db)}: {exc}", file=sys.stderr)
        return EXIT_FAILURE
    try:
        app = create_app(config, clock=time.time, store=store)
        return serve(app, address, "webhook", ssl_context=context)
    finally:
        store.close()


def _open_audit(path: str) -> sqlite3.Connection | None:
    # psycopg (80 ms to import) only for the commands that use it
    from globalmon.pg import PgConnection, dbapi, id_tables, is_url, redact

    if is_url(path):
        from alert_webhook.schema import SCHEMA

        try:
            shared = PgConnection(path, id_tables=id_tables(SCHEMA))
            shared.execute("SELECT 1 FROM audit LIMIT 1")
        except sqlite3.Error as exc:
            print(
                f"globalmon audit: cannot read the audit trail in {redact(path)}: {exc}",
                file=sys.stderr,
            )
            return None
        return dbapi(shared)
    if not Path(path).is_file():
        print(
            f"globalmon audit: --db: found {path!r}; expected an existing webhook database",
            file=sys.stderr,
        )
        return None
    try:
        db = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
        db.execute("SELECT 1 FROM audit LIMIT 1")
    except sqlite3.Error as exc:
        print(f"globalmon audit: cannot read the audit trail in {path}: {exc}", file=sys.stderr)
        return None
    return db


def _read_key(path: str | None) -> bytes | None:
    """The checkpoint key in ``path`` (its bytes, a trailing newline dropped); None after
    printing why it cannot be used."""
    if path is None:
        return b""
    try:
        key = Path(path).read_bytes().rstrip(b"\r\n")
    except OSError as exc:
        print(f"globalmon audit: --key-file: cannot read {path}: {exc.strerror}", file=sys.stderr)
        return None
    if len(key) < 16:
        print(
            f"globalmon audit: --key-file: found {len(key)} bytes in {path}; expected a key of "
            "at least 16 bytes",
            file=sys.stderr,
        )
        return None
    return key


def run_audit_verify(args: argparse.Namespace) -> int:
    from alert_webhook.audit import verify

    key = _read_key(args.key_file)
    db = _open_audit(args.db)
    if db is None or key is None:
        return EXIT_FAILURE
    verdict = verify(db, key or None)
    for problem in verdict.problems:
        print(problem)
    if verdict.checkpoint is not None:
        how = "signature checked" if verdict.signature_checked else "signature NOT checked (no key)"
        print(f"starts after the checkpoint of record {verdict.checkpoint.seq} ({how})")
    if args.expect_head and args.expect_head != verdict.head:
        print(
            f"head {verdict.head} is not the expected {args.expect_head} (records removed or "
            "rewritten at the end)"
        )
        return EXIT_FAILURE
    if verdict.problems:
        print(
            f"audit trail BROKEN: {len(verdict.problems)} problem(s) in {verdict.records} records"
        )
        return EXIT_FAILURE
    print(f"audit trail intact: {verdict.records} records, head {verdict.head}")
    return EXIT_OK


def run_audit_export(args: argparse.Namespace) -> int:
    from alert_webhook.audit import export

    db = _open_audit(args.db)
    if db is None:
        return EXIT_FAILURE
    out = open(args.output, "w", encoding="utf-8") if args.output else sys.stdout  # noqa: SIM115
    try:
        for line in export(db):
            out.write(line + "\n")
    finally:
        if args.output:
            out.close()
    return EXIT_OK


def run_audit_prune(args: argparse.Namespace) -> int:
    from alert_webhook.retention import prune
    from globalmon.pg import is_url, redact
    from globalmon.spec.types import duration_seconds

    key = _read_key(args.key_file)
    db = _open_audit(args.db)  # the same check and message as verify's
    if db is None or not key:
        return EXIT_FAILURE
    if not is_url(args.db):  # a read-only connection until now
        db.close()
        db = sqlite3.connect(args.db, isolation_level=None)
    now = time.time()
    try:
        db.execute("PRAGMA busy_timeout=30000")  # a running webhook's group commit is short
        try:
            out = prune(db, cutoff=now - duration_seconds(args.older_than), now=now, key=key)
        except ValueError as exc:
            print(f"globalmon audit prune: --older-than: {exc}", file=sys.stderr)
            return EXIT_USAGE
        except sqlite3.Error as exc:
            print(f"globalmon audit prune: {redact(args.db)}: {exc}", file=sys.stderr)
            return EXIT_FAILURE
    finally:
        db.close()
    print(
        f"pruned {out.incidents} incidents ({out.timeline} timeline entries, {out.deliveries} "
        f"deliveries, {out.attempts} attempts, {out.actions} actions), {out.receipts} receipts "
        f"and {out.audit} audit records"
    )
    if out.checkpoint is not None:
        print(f"checkpoint after record {out.checkpoint.seq}: {out.checkpoint.hash}")
    return EXIT_OK


def run_migrate(args: argparse.Namespace) -> int:
    from alert_webhook.migrate import MigrationError, migrate
    from globalmon.pg import is_url, redact

    source = args.source.removeprefix("sqlite:")
    if not is_url(args.target):
        print(
            f"globalmon webhook migrate: --to: found {args.target!r}; expected a postgresql:// URL",
            file=sys.stderr,
        )
        return EXIT_USAGE
    if not Path(source).is_file():
        print(
            f"globalmon webhook migrate: --from: found {args.source!r}; expected an existing "
            "webhook database (sqlite:PATH)",
            file=sys.stderr,
        )
        return EXIT_USAGE
    try:
        done = migrate(source, args.target)
    except (MigrationError, sqlite3.Error) as exc:
        print(f"globalmon webhook migrate: {exc}", file=sys.stderr)
        print("nothing was committed to the target", file=sys.stderr)
        return EXIT_FAILURE
    counts = ", ".join(f"{n} {table}" for table, n in done.rows.items())
    print(f"copied {counts} into {redact(args.target)}")
    print(f"audit trail intact: {done.audit_records} records, head {done.head} (as the source's)")
    return EXIT_OK


def add_parsers(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser("webhook", help="run the alert webhook (incidents, escalation, recovery)")
    p.add_argument("--spec", metavar="SPEC", help="region spec YAML file (required)")
    p.add_argument(
        "--db",
        default="globalmon-webhook.db",
        metavar="PATH|URL",
        help="SQLite file for alerts, incidents and the audit trail, or a postgresql:// URL "
        "that several replicas share (default: %(default)s)",
    )
    p.add_argument(
        "--web.listen-address",
        dest="listen",
        metavar="ADDR",
        help="host:port (default: the host and port of the spec's global.webhook_url)",
    )
    p.add_argument("--tls-cert-file", metavar="FILE", help="serve HTTPS with this certificate")
    p.add_argument("--tls-key-file", metavar="FILE", help="the certificate's private key")
    p.add_argument(
        "--basic-auth-user",
        default="alertmanager",
        metavar="NAME",
        help="user name accepted with basic auth; the password is the webhook token "
        "(default: %(default)s)",
    )
    p.add_argument(
        "--synchronous",
        choices=["FULL", "NORMAL"],
        default="FULL",
        help="SQLite synchronous mode: FULL survives power loss, NORMAL only a crash "
        "(default: %(default)s)",
    )
    add_insecure_flag(p)
    add_log_flags(p)
    p.set_defaults(func=run_webhook)
    verbs = p.add_subparsers(dest="verb", metavar="{migrate}")
    m = verbs.add_parser(
        "migrate", help="copy a SQLite webhook database into PostgreSQL and check the audit trail"
    )
    m.add_argument(
        "--from", dest="source", required=True, metavar="sqlite:PATH", help="the SQLite database"
    )
    m.add_argument(
        "--to",
        dest="target",
        required=True,
        metavar="URL",
        help="an empty PostgreSQL database (postgresql://user:password@host/db)",
    )
    m.set_defaults(func=run_migrate)

    p = sub.add_parser("audit", help="check or export the webhook's hash-chained audit trail")
    verbs = p.add_subparsers(dest="verb", required=True, metavar="{verify,export,prune}")
    v = verbs.add_parser("verify", help="find edited, inserted or deleted records")
    v.add_argument("--db", required=True, metavar="PATH|URL", help="the webhook's database")
    v.add_argument("--expect-head", metavar="HASH", help="the head hash recorded earlier")
    v.add_argument(
        "--key-file", metavar="FILE", help="the key prune signed its checkpoints with: check them"
    )
    v.set_defaults(func=run_audit_verify)
    e = verbs.add_parser("export", help="write the records as JSON lines")
    e.add_argument("--db", required=True, metavar="PATH|URL", help="the webhook's database")
    e.add_argument("-o", "--output", metavar="FILE", help="write here instead of standard output")
    e.set_defaults(func=run_audit_export)
    r = verbs.add_parser(
        "prune",
        help="delete incidents resolved long ago and the audit records before them, leaving a "
        "signed checkpoint",
    )
    r.add_argument("--db", required=True, metavar="PATH|URL", help="the webhook's database")
    r.add_argument(
        "--older-than",
        required=True,
        type=duration_arg,
        metavar="DURATION",
        help="keep what is younger than this (at least 1d), e.g. 90d",
    )
    r.add_argument(
        "--key-file",
        required=True,
        metavar="FILE",
        help="the key that signs the checkpoint (keep it outside the database's host)",
    )
    r.set_defaults(func=run_audit_prune)
