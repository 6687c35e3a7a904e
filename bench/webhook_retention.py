"""The webhook database's size per 100k incidents, and what `globalmon audit prune` takes back.

Incidents live their whole life through the webhook's own store (the code `globalmon webhook`
runs), with the example spec's rules: an Alertmanager body of 100 new alerts is ingested, the
escalation pass runs at 0, 5 and 10 minutes, each sending what is due (answered as sent) and
running the recovery actions that are (as if they succeeded), and at 10 minutes the alerts
resolve. Sizes are the SQLite file after a checkpoint of its WAL, beside the JSON Alertmanager
sent for the same incidents (the baseline, measured in the same run). Then, two days on, a
prune with a one-day cutoff takes them all, its time beside the time the same rows took to
write, while a thread writes small transactions as a running webhook does: how long they waited
for the lock (the webhook's busy timeout is 5 s). Then the file after VACUUM and the audit chain
verified from its checkpoint.

    python -m bench.webhook_retention [--incidents 20000]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sqlite3
import tempfile
import threading
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from alert_webhook.audit import verify
from alert_webhook.records import Attempt, RetryPolicy
from alert_webhook.retention import prune
from alert_webhook.rules import Rules
from alert_webhook.store import WebhookStore
from globalmon.conventions import ActionState
from globalmon.spec import load_spec

ROOT = Path(__file__).resolve().parents[1]
BATCH = 100
T0 = 1_790_000_000.0
DAY = 86400.0
KEY = b"bench-retention-key-32-bytes...."


def _iso(t: float) -> str:
    return datetime.fromtimestamp(t, UTC).isoformat().replace("+00:00", "Z")


def _body(batch: int, status: str, starts: float, names: list[tuple[str, str, str]]) -> bytes:
    alerts = []
    for i in range(BATCH):
        alertname, service, region = names[(batch * BATCH + i) % len(names)]
        labels = {
            "alertname": alertname,
            "severity": "critical" if i % 3 == 0 else "warning",
            "region": region,
            "service": service,
            "instance": f"{service}-{batch}-{i}.{region}.example.com:8080",
        }
        alerts.append(
            {
                "status": status,
                "labels": labels,
                "annotations": {
                    "summary": f"{alertname} on {service} in {region}",
                    "description": "a sentence or two of what the rule found, as rules write",
                },
                "startsAt": _iso(starts),
                "endsAt": _iso(starts + 600) if status == "resolved" else "0001-01-01T00:00:00Z",
                "generatorURL": f"http://prometheus.{region}:9090/graph?g0.expr=up",
                "fingerprint": f"{batch:08x}{i:08x}",
            }
        )
    return json.dumps(
        {
            "version": "4",
            "groupKey": f"{{}}:{{batch={batch}}}",
            "truncatedAlerts": 0,
            "status": status,
            "receiver": "globalmon-webhook",
            "groupLabels": {},
            "commonLabels": {},
            "commonAnnotations": {},
            "externalURL": "http://alertmanager:9093",
            "alerts": alerts,
        }
    ).encode()


async def fill(store: WebhookStore, incidents: int, names: list[tuple[str, str, str]]) -> int:
    """Incidents opened, notified and resolved; the bytes of JSON Alertmanager sent for them."""
    sent, policy = 0, RetryPolicy(attempts=5, backoff=1.0)
    for batch in range(incidents // BATCH):
        now = T0 + batch * 60.0
        firing = _body(batch, "firing", now, names)
        resolved = _body(batch, "resolved", now, names)
        for at, body in ((now, firing), (now + 300, None), (now + 600, resolved)):
            if body is not None:
                await store.ingest(body, at)
            await store.escalate(at)
            while due := await store.due_deliveries(at, limit=1000):
                for d in due:
                    await store.delivery_result(Attempt(d["id"], True, False, "200 OK", at), policy)
            for action in await store.claim_actions(at):  # as if each ran and succeeded
                await store.finish_action(action, ActionState.SUCCEEDED, "exit 0", at + 1)
        sent += len(firing) + len(resolved)
    return sent


def _size(path: Path) -> int:
    db = sqlite3.connect(path)
    db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    db.close()
    return path.stat().st_size


def _rows(path: Path) -> dict[str, int]:
    db = sqlite3.connect(path)
    tables = [r[0] for r in db.execute("SELECT name FROM sqlite_master WHERE type='table'")]
    out = {t: db.execute(f"SELECT COUNT(*) FROM {t}").fetchone()[0] for t in tables}
    db.close()
    return out


def _writer(path: Path, stop: threading.Event, waits: list[float]) -> None:
    """A webhook's writes beside the prune: one small transaction after another (a table of
    its own, so nothing it writes is pruned); how long each waited for the lock."""
    db = sqlite3.connect(path, isolation_level=None)
    db.execute("PRAGMA busy_timeout=60000")
    db.execute("CREATE TABLE IF NOT EXISTS bench_beside(at REAL)")
    while not stop.is_set():
        started = time.perf_counter()
        db.execute("BEGIN IMMEDIATE")
        waits.append(time.perf_counter() - started)
        db.execute("INSERT INTO bench_beside VALUES (?)", (started,))
        db.execute("COMMIT")
        time.sleep(0.001)
    db.close()


def run(incidents: int, tmp: Path) -> dict[str, Any]:
    spec = load_spec(ROOT / "examples" / "regions.yaml")
    names = [
        (alertname, s.name, r.id)
        for s in spec.services
        for r in spec.regions
        for alertname in ("ServiceErrorRateHigh", "ServiceLatencyHigh")
    ]
    path = tmp / "webhook.db"
    store = WebhookStore(path, Rules(spec), synchronous="NORMAL")
    started = time.perf_counter()
    sent = asyncio.run(fill(store, incidents, names))
    wrote = time.perf_counter() - started
    store.close()
    rows, size = _rows(path), _size(path)

    db = sqlite3.connect(path, isolation_level=None)
    now = T0 + (incidents // BATCH) * 60.0 + 2 * DAY
    stop = threading.Event()
    waits: list[float] = []
    beside = threading.Thread(target=_writer, args=(path, stop, waits))
    beside.start()
    started = time.perf_counter()
    out = prune(db, cutoff=now - DAY, now=now, key=KEY)
    held = time.perf_counter() - started
    stop.set()
    beside.join()
    started = time.perf_counter()
    verdict = verify(db, KEY)
    checked = time.perf_counter() - started
    assert verdict.problems == [], verdict.problems[:3]
    assert out.incidents == incidents, (out.incidents, incidents)
    db.execute("VACUUM")
    db.close()
    waits.sort()
    return {
        "incidents": incidents,
        "rows": rows,
        "bytes": size,
        "alertmanager_json_bytes": sent,
        "write_seconds": wrote,
        "prune_seconds": held,
        "verify_seconds": checked,
        "after_vacuum_bytes": _size(path),
        "writer_wait_p50": waits[len(waits) // 2],
        "writer_wait_max": waits[-1],
        "writer_transactions": len(waits),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--incidents", type=int, default=20_000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        r = run(args.incidents, Path(tmp))
    per = 100_000 / r["incidents"]
    print(f"webhook database after {r['incidents']} incidents (opened, notified, resolved):")
    print("  rows: " + ", ".join(f"{k} {v}" for k, v in sorted(r["rows"].items())))
    print(
        f"  size per 100k incidents: {r['bytes'] * per / 1e6:.0f} MB "
        f"({r['bytes'] / r['alertmanager_json_bytes']:.2f}x the JSON Alertmanager sent for them, "
        f"{r['alertmanager_json_bytes'] * per / 1e6:.0f} MB)"
    )
    print(
        f"  prune of all of them: {r['prune_seconds']:.2f} s "
        f"({r['prune_seconds'] / r['write_seconds']:.3f}x the {r['write_seconds']:.1f} s that "
        f"wrote them); a writer beside it waited median {r['writer_wait_p50'] * 1000:.1f} ms, "
        f"at most {r['writer_wait_max'] * 1000:.0f} ms ({r['writer_transactions']} transactions)"
    )
    print(
        f"  verify from the checkpoint {r['verify_seconds'] * 1000:.0f} ms; "
        f"{r['after_vacuum_bytes'] / 1e6:.2f} MB after VACUUM"
    )


if __name__ == "__main__":
    main()
