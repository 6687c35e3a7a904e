"""Retention: `globalmon audit prune` removes what was resolved long ago from a webhook's
database while the webhook runs, and the audit trail stays verifiable from a signed checkpoint."""

from __future__ import annotations

import sqlite3
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from alert_webhook.audit import latest_checkpoint, verify
from alert_webhook.retention import BATCH, MIN_AGE_SECONDS, prune
from tests.alert_webhook.fixtures import T0, Harness, alert, payload
from tests.alert_webhook.test_actions_and_restarts import run

KEY = b"k" * 32
DAY = 86400.0


def _ids(db: sqlite3.Connection, table: str, column: str = "id") -> set[int]:
    return {row[0] for row in db.execute(f"SELECT {column} FROM {table}")}


async def _history(hook: Harness) -> dict[str, int]:
    """Old resolved incidents: one plain, one a symptom, one the root of a symptom still
    firing, one whose symptom waits for an approver; and a recent one. The ids by role."""
    us = {"region": "us-east-1"}
    await hook.post(payload(alert("Boom", starts=T0, service="db")))
    await hook.post(payload(alert("Boom", starts=T0, service="api")))  # api depends on db
    await hook.post(payload(alert("Boom", starts=T0, service="web")))
    await hook.post(payload(alert("Boom", starts=T0, service="cache")))  # depends on nothing
    await hook.post(payload(alert("Boom", starts=T0, service="db", **us)))
    await hook.post(payload(alert("WebSlow", starts=T0, service="web", **us)))
    await hook.tick()
    hook.clock.advance(60)
    for service, labels in [("db", {}), ("api", {}), ("cache", {}), ("db", us), ("web", us)]:
        name = "WebSlow" if labels and service == "web" else "Boom"
        await hook.post(payload(alert(name, "resolved", starts=T0, service=service, **labels)))
    await hook.tick()
    found = {
        (i["alertname"], i["service"], i["region"]): i
        for i in (await hook.get("/api/v1/incidents?limit=100"))["incidents"]
    }
    eu_db, us_db = found["Boom", "db", "eu-west-1"]["id"], found["Boom", "db", "us-east-1"]["id"]
    # the premises: who is whose symptom, and the action an approver has not decided
    assert found["Boom", "web", "eu-west-1"]["symptom_of"] == eu_db
    assert found["Boom", "api", "eu-west-1"]["symptom_of"] == eu_db
    slow = found["WebSlow", "web", "us-east-1"]
    assert slow["symptom_of"] == us_db
    assert slow["state"] == "resolved"
    actions = (await hook.get(f"/api/v1/incidents/{slow['id']}"))["actions"]
    assert [a["state"] for a in actions] == ["awaiting_approval"]
    hook.clock.advance(10 * DAY)
    await hook.post(payload(alert("Late", starts=hook.clock.now - 30, service="db")))
    await hook.tick()
    hook.clock.advance(60)
    await hook.post(payload(alert("Late", "resolved", starts=hook.clock.now - 90, service="db")))
    await hook.tick()
    late = [
        i for i in (await hook.get("/api/v1/incidents"))["incidents"] if i["alertname"] == "Late"
    ]
    return {
        "plain": found["Boom", "cache", "eu-west-1"]["id"],
        "symptom": found["Boom", "api", "eu-west-1"]["id"],
        "root": eu_db,
        "firing": found["Boom", "web", "eu-west-1"]["id"],
        "awaiting": slow["id"],
        "awaiting_root": us_db,
        "recent": late[0]["id"],
    }


@pytest.mark.parametrize("batch", [BATCH, 3])
async def test_prune_keeps_what_is_needed_and_the_chain_verifiable(
    hook: Harness, tmp_path: Path, batch: int
) -> None:
    """In one batch, and in batches of three (so a root and its symptoms fall apart, and the
    audit trail goes in many checkpoints)."""
    ids = await _history(hook)
    db = hook.connect()
    before = verify(db)
    assert before.problems == []
    assert before.checkpoint is None
    deliveries = _ids(db, "deliveries", "incident_id")
    assert ids["plain"] in deliveries  # something to prune besides the incident row

    out = prune(
        db, cutoff=hook.clock.now - 5 * DAY, now=hook.clock.now, key=KEY, batch=batch, pause=0
    )

    gone = {ids["plain"], ids["symptom"]}
    assert _ids(db, "incidents") == set(ids.values()) - gone
    assert out.incidents == 2
    assert out.deliveries >= 1
    assert out.timeline >= 2
    for table in ("timeline", "deliveries", "actions"):
        assert not gone & _ids(db, table, "incident_id"), table
    assert out.audit > 0
    assert out.checkpoint is not None
    after = verify(db, KEY)
    assert after.problems == []
    assert after.signature_checked
    assert after.checkpoint == out.checkpoint
    assert after.records == before.records - out.audit + 1  # the run's own record
    assert [r[0] for r in db.execute("SELECT kind FROM audit ORDER BY seq DESC LIMIT 1")] == [
        "retention"
    ]

    # the running webhook goes on writing after the pruning: one chain still
    await hook.post(payload(alert("After", starts=hook.clock.now, service="db")))
    await hook.tick()
    assert verify(db, KEY).problems == []
    assert verify(db, b"another key of 32 bytes........").problems == [
        f"checkpoint after record {out.checkpoint.seq}: its signature does not match "
        "(forged, edited, or another key)"
    ]
    # a second run with nothing old enough left changes nothing and keeps the checkpoint
    again = prune(db, cutoff=hook.clock.now - 5 * DAY, now=hook.clock.now, key=KEY)
    assert (again.incidents, again.audit, again.checkpoint) == (0, 0, None)
    assert latest_checkpoint(db) == out.checkpoint
    assert verify(db, KEY).problems == []
    db.close()


async def test_tampering_after_a_pruning_is_found(hook: Harness, tmp_path: Path) -> None:
    await _history(hook)
    db = hook.connect()
    out = prune(db, cutoff=hook.clock.now - 5 * DAY, now=hook.clock.now, key=KEY)
    assert out.checkpoint is not None
    db.close()

    def tampered(*changes: str | tuple[str, tuple[Any, ...]]) -> list[str]:
        return hook.tampered(*changes, key=KEY)

    first_kept = out.checkpoint.seq + 1
    assert tampered("SELECT 1") == []  # the control: an untouched copy verifies
    assert tampered(("DELETE FROM audit WHERE seq = ?", (first_kept,)))
    # someone deletes more of the head and moves the checkpoint past it: its signature fails
    hash_of_first = "SELECT hash FROM audit WHERE seq = ?"
    moved = (
        f"UPDATE audit_checkpoints SET seq = ?, hash = ({hash_of_first}), pruned = pruned + 1",
        (first_kept, first_kept),
    )
    assert tampered(moved, ("DELETE FROM audit WHERE seq = ?", (first_kept,))) == [
        f"checkpoint after record {first_kept}: its signature does not match "
        "(forged, edited, or another key)"
    ]
    # without the checkpoint the chain no longer starts at the genesis
    assert tampered("DELETE FROM audit_checkpoints")


async def test_prune_refuses_a_cutoff_younger_than_a_day(hook: Harness, tmp_path: Path) -> None:
    await _history(hook)
    db = hook.connect()
    with pytest.raises(ValueError, match="at least 86400 s"):
        prune(db, cutoff=hook.clock.now - MIN_AGE_SECONDS / 2, now=hook.clock.now, key=KEY)
    with pytest.raises(ValueError, match="key is empty"):
        prune(db, cutoff=hook.clock.now - 5 * DAY, now=hook.clock.now, key=b"")
    assert not db.in_transaction
    assert latest_checkpoint(db) is None
    db.close()


async def test_prune_and_verify_from_the_command_line(hook: Harness, tmp_path: Path) -> None:
    """The CLI on the live database, with the wall clock: the fake clock's history lies more
    than 30 days back (T0 is 2026-09-21), so the recent incident goes too, and every audit
    record before the run."""
    ids = await _history(hook)
    assert time.time() > hook.clock.now + 30 * DAY  # the premise
    path = hook.db
    key_file = tmp_path / "key"
    key_file.write_bytes(KEY + b"\n")
    short = tmp_path / "short"
    short.write_bytes(b"abc")
    prune_cli = [sys.executable, "-m", "globalmon", "audit", "prune", "--db", str(path)]
    verify_cli = [sys.executable, "-m", "globalmon", "audit", "verify", "--db", str(path)]

    young = await run([*prune_cli, "--older-than", "1h", "--key-file", str(key_file)])
    assert young.returncode == 2, young.stderr
    assert "at least 86400 s" in young.stderr
    weak = await run([*prune_cli, "--older-than", "30d", "--key-file", str(short)])
    assert weak.returncode == 1, weak.stderr
    assert "at least 16 bytes" in weak.stderr
    done = await run([*prune_cli, "--older-than", "30d", "--key-file", str(key_file)])
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("pruned 3 incidents"), done.stdout
    db = hook.connect()
    assert _ids(db, "incidents") == {
        ids[k] for k in ("root", "firing", "awaiting", "awaiting_root")
    }
    db.close()

    checked = await run([*verify_cli, "--key-file", str(key_file)])
    assert checked.returncode == 0, checked.stdout
    assert "signature checked" in checked.stdout
    assert "intact: 1 records" in checked.stdout
    unchecked = await run(verify_cli)
    assert unchecked.returncode == 0
    assert "signature NOT checked" in unchecked.stdout
    other = tmp_path / "other"
    other.write_bytes(b"x" * 32)
    forged = await run([*verify_cli, "--key-file", str(other)])
    assert forged.returncode == 1
    assert "signature does not match" in forged.stdout


async def test_an_incident_with_a_delivery_still_pending_stays(
    hook: Harness, tmp_path: Path
) -> None:
    """A receiver still being retried (its row set so here: the fake clock's receivers answer)
    keeps the incident its delivery belongs to."""
    ids = await _history(hook)
    db = hook.connect()
    db.execute("UPDATE deliveries SET state = 'pending' WHERE incident_id = ?", (ids["plain"],))
    out = prune(db, cutoff=hook.clock.now - 5 * DAY, now=hook.clock.now, key=KEY)
    assert out.incidents == 1
    assert ids["plain"] in _ids(db, "incidents")
    assert ids["plain"] in _ids(db, "deliveries", "incident_id")
    assert verify(db, KEY).problems == []
    db.close()
