"""Every statement the webhook runs in a full scenario, through SQLite's planner: none may walk
a whole table of incidents, deliveries, actions or receipts (those grow with every alert; a
walk per alert made the root-cause lookup 15 ms at 200k incidents). The statements are caught
as they run, so a new query is checked without being listed here."""

from __future__ import annotations

import re
import sqlite3
from pathlib import Path
from typing import Any

import pytest

from alert_webhook.schema import SCHEMA
from globalmon import durable
from tests.alert_webhook.fixtures import (
    T0,
    Clock,
    Mailbox,
    Sink,
    alert,
    open_harness,
    payload,
    spec_text,
)

pytestmark = pytest.mark.usefixtures("env_secrets")
GROWING = ("incidents", "deliveries", "delivery_attempts", "actions", "receipts", "timeline")
# a page of the newest rows, walked from the end: bounded by its LIMIT
NEWEST_FIRST = re.compile(r"ORDER BY (\w+\.)?id DESC LIMIT", re.IGNORECASE)


def _full_walks(db: sqlite3.Connection, sql: str) -> list[str]:
    plan = [row[3] for row in db.execute("EXPLAIN QUERY PLAN " + sql)]
    return [step for step in plan if re.fullmatch(rf"SCAN ({'|'.join(GROWING)})\b.*", step)
            and "USING" not in step]  # fmt: skip


async def test_no_statement_walks_a_growing_table(
    aiohttp_client: Any,
    tmp_path: Path,
    sink: Sink,
    mailbox: tuple[Mailbox, int],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    seen: set[str] = set()
    plain_connect = durable.connect

    def traced(path: str) -> durable.Connection:
        db = plain_connect(path)
        db.set_trace_callback(seen.add)  # with the values bound
        return db

    monkeypatch.setattr(durable, "connect", traced)
    hook, store = await open_harness(
        aiohttp_client, tmp_path, spec_text(sink.url, mailbox[1], tmp_path), Clock()
    )
    try:
        db_alert = alert("DbDown", starts=T0, service="db")
        await hook.post(payload(db_alert))
        await hook.post(payload(alert("ApiErrors", starts=T0 + 30, service="api")))
        await hook.post(payload(alert("WebErrors", starts=T0 + 60, service="web", cmd="x")))
        hook.clock.advance(3600)
        await hook.tick()  # escalation steps, deliveries, actions
        await hook.act("/api/v1/incidents/2/acknowledge", {"by": "ann"})
        await hook.act("/api/v1/incidents/2/unacknowledge", {"by": "ann"})
        await hook.post(payload({**db_alert, "status": "resolved"}))
        await hook.tick()
        await hook.act("/api/v1/incidents/3/resolve", {"by": "ann", "note": "done"})
        for path in ("/api/v1/incidents/1", "/api/v1/incidents?state=firing", "/api/v1/actions"):
            await hook.get(path)
        await hook.client.get("/metrics")
    finally:
        store.close()
    statements = {s for s in seen if re.match(r"\s*(SELECT|UPDATE|DELETE)", s, re.IGNORECASE)}
    # the scenario reached the paths that read by incident, by open service and by due time
    for reached in ("FROM deliveries", "FROM actions", "service IN", "symptom_of=", "next_due <="):
        assert any(reached in sql for sql in statements), reached
    planner = sqlite3.connect(":memory:")
    planner.executescript(SCHEMA)
    walks = {
        sql: steps
        for sql in statements
        if not NEWEST_FIRST.search(sql) and (steps := _full_walks(planner, sql))
    }
    assert walks == {}
    # "state = 'firing'" is an index search too, but over every firing incident: the due ones
    # come from the due index
    for sql in (sql for sql in statements if "next_due <=" in sql):
        plan = " ".join(row[3] for row in planner.execute("EXPLAIN QUERY PLAN " + sql))
        assert "incidents_due" in plan, (sql, plan)
