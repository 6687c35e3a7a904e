"""The webhook's database: writes through a group-commit writer, reads beside it."""

from __future__ import annotations

import json
import os
import secrets
import socket
import sqlite3
from collections.abc import Callable
from pathlib import Path
from typing import Any, Literal, TypeVar

from alert_webhook import escalation, incidents, operators, recovery, replicas
from alert_webhook.audit import Chain
from alert_webhook.payload import Alert, parse
from alert_webhook.records import Attempt, Kpis, Outcome, RetryPolicy, Timed, iso
from alert_webhook.rules import Rules
from alert_webhook.schema import SCHEMA
from globalmon import pg
from globalmon.conventions import ActionState as A
from globalmon.conventions import DeliveryState as D
from globalmon.durable import GroupCommitWriter
from globalmon.durable_process import ProcessWriter

BACKOFF_CAP = 300.0
T = TypeVar("T")


def _incident(row: sqlite3.Row) -> dict[str, Any]:
    return {
        "id": row["id"],
        "state": row["state"],
        "alertname": row["alertname"],
        "severity": row["severity"],
        "region": row["region"],
        "service": row["service"],
        "fingerprint": row["fingerprint"],
        "starts_at": row["starts_at"],
        "labels": json.loads(row["labels"]),
        "annotations": json.loads(row["annotations"]),
        "opened_at": iso(row["opened_at"]),
        "acknowledged_at": iso(row["acknowledged_at"]),
        "acknowledged_by": row["acknowledged_by"],
        "resolved_at": iso(row["resolved_at"]),
        "resolved_by": row["resolved_by"],
        "policy": row["policy"],
        "next_escalation_at": iso(row["next_due"]),
        "auto_recovered": bool(row["auto_recovered"]),
        "symptom_of": row["symptom_of"],
    }


# The writes, as module-level functions of (db, rules, ...): the writer process gets them by name.


def _parsed(body: bytes, now: float) -> tuple[list[Alert], float]:
    return parse(body), now


def _without_rules(db: sqlite3.Connection, rules: Rules, func: Callable[..., T], *args: Any) -> T:
    """``func(db, *args)``, for the writes that need no rules (a module-level name, so it can be
    sent to the writer process with ``func``)."""
    return func(db, *args)


def _finish_action(
    db: sqlite3.Connection,
    rules: Rules,
    row: int,
    result: str,
    detail: str,
    now: float,
    verifying: bool,
) -> None:
    recovery.finish_action(db, rules, row, result, detail, now, verifying=verifying)


def _delivery_result(
    db: sqlite3.Connection, rules: Rules, attempt: Attempt, policy: RetryPolicy
) -> str:
    delivery, ok, detail, now = attempt.delivery, attempt.ok, attempt.detail, attempt.at
    replicas.release(db, delivery)
    (attempts,) = db.execute("SELECT attempts FROM deliveries WHERE id=?", (delivery,)).fetchone()
    attempts += 1
    if ok:
        state = D.SENT
    elif attempt.retry and attempts < policy.attempts:
        state = D.PENDING
    else:
        state = D.FAILED
    wait = min(policy.backoff * 2 ** (attempts - 1), BACKOFF_CAP)
    db.execute(
        "UPDATE deliveries SET attempts=?, state=?, next_attempt=? WHERE id=?",
        (attempts, state, now + wait, delivery),
    )
    db.execute(
        "INSERT INTO delivery_attempts(delivery_id, at, outcome, detail) VALUES (?,?,?,?)",
        (delivery, now, D.SENT if ok else D.FAILED, detail[:1000]),
    )
    incident, receiver, event = db.execute(
        "SELECT incident_id, receiver, event FROM deliveries WHERE id=?", (delivery,)
    ).fetchone()
    Chain(db).append(
        now,
        "notification",
        {
            "incident": incident,
            "receiver": receiver,
            "event": event,
            "attempt": attempts,
            "outcome": D.SENT if ok else D.FAILED,
            "detail": detail[:200],
        },
    )
    return state


class WebhookStore:
    """Writes go to a group-committing writer: a thread (``writer="thread"``, what the tests'
    in-process apps use) or a child process (``"process"``, what `globalmon webhook` runs: the
    event loop then keeps its interpreter lock to itself). Both run the same functions below.

    ``path`` is a SQLite file, or a ``postgresql://`` URL that replicas share (``shared``): the
    writer is then a thread (the server does the work) and this store is replica ``replica``.
    """

    def __init__(
        self,
        path: str | Path,
        rules: Rules,
        *,
        synchronous: str = "FULL",
        writer: Literal["thread", "process"] = "thread",
    ) -> None:
        self.rules = rules
        self.shared = pg.is_url(path)
        self.replica = f"{socket.gethostname()}:{os.getpid()}:{secrets.token_hex(4)}"
        self.writer: GroupCommitWriter | ProcessWriter
        if self.shared:
            url = str(path)
            self.writer = GroupCommitWriter(pg.redact(url), backend=pg.PgServer(url, SCHEMA))
        elif writer == "process":
            self.writer = ProcessWriter(
                path, SCHEMA, synchronous=synchronous, context=(Rules, (rules.spec,))
            )
        else:
            self.writer = GroupCommitWriter(path, SCHEMA, synchronous=synchronous)

    def close(self) -> None:
        self.writer.close()

    async def _write(
        self,
        func: Callable[..., T],
        *args: Any,
        prepare: Callable[..., tuple[Any, ...]] | None = None,
    ) -> T:
        """``func(db, rules, *prepare(*args))`` in the next transaction; its result once
        committed. ``prepare`` runs before the transaction, in the writer process if there is
        one (so parsing a body leaves the event loop); what it raises is the caller's."""
        if isinstance(self.writer, ProcessWriter):
            return await self.writer.call(func, *args, prepare=prepare)
        ready = prepare(*args) if prepare else args
        return await self.writer.write(lambda db: func(db, self.rules, *ready))

    # --- writes (each one transaction, committed before it returns) ---

    async def ingest(self, body: bytes, now: float) -> Outcome:
        """Record a webhook body's alerts. It is parsed by the writer (``payload.parse``): the
        bytes are cheaper to send than parsed alerts, and the event loop, the busier process at
        a few thousand payloads a second, is spared the validation. A bad body raises
        ``BadPayload`` and writes nothing."""
        return await self._write(incidents.ingest, body, now, prepare=_parsed)

    async def escalate(self, now: float) -> Outcome:
        return await self._write(escalation.escalate, now)

    async def acknowledge(self, incident: int, by: str, note: str, now: float) -> Timed:
        timed: Timed = await self._write(
            _without_rules, operators.acknowledge, incident, by, note, now
        )
        return timed

    async def unacknowledge(self, incident: int, by: str, note: str, now: float) -> None:
        await self._write(operators.unacknowledge, incident, by, note, now)

    async def resolve(self, incident: int, by: str, note: str, now: float) -> Timed:
        timed: Timed = await self._write(
            _without_rules, operators.resolve_by_hand, incident, by, note, now
        )
        return timed

    async def annotate(self, incident: int, by: str, note: str, now: float) -> None:
        await self._write(_without_rules, operators.annotate, incident, by, note, now)

    async def approve(self, action: int, by: str, approved: bool, now: float) -> None:
        await self._write(_without_rules, recovery.approve, action, by, approved, now)

    async def claim_actions(self, now: float) -> list[int]:
        return await self._write(recovery.claim_actions, now, self.replica if self.shared else None)

    async def claim_deliveries(self, now: float, limit: int = 100) -> list[dict[str, Any]]:
        """Due notifications, leased to this replica until their result is recorded."""
        return await self._write(replicas.claim_deliveries, self.replica, now, limit)

    async def beat(self, now: float) -> None:
        await self._write(replicas.beat, self.replica, now)

    async def interrupt_orphaned(self, now: float) -> int:
        """Running actions of replicas that stopped beating: interrupted, escalated."""
        return await self._write(replicas.interrupt_orphaned, self.replica, now)

    async def orphans(self, now: float) -> bool:
        return await self.writer.read(lambda db: replicas.work_due(db, self.replica, now))

    async def finish_action(
        self, row: int, result: str, detail: str, now: float, *, verifying: bool = False
    ) -> None:
        await self._write(_finish_action, row, result, detail, now, verifying)

    async def verified(self, row: int, ok: bool, detail: str, now: float) -> None:
        await self._write(recovery.verified, row, ok, detail, now)

    async def interrupt_running(self, now: float) -> int:
        return await self._write(recovery.interrupt_running, now)

    async def delivery_result(self, attempt: Attempt, policy: RetryPolicy) -> str:
        """Log one attempt; returns the delivery's state: sent, pending (retry later) or failed."""
        return await self._write(_delivery_result, attempt, policy)

    # --- reads ---

    async def rows(self, sql: str, args: tuple[Any, ...] = ()) -> list[sqlite3.Row]:
        """Rows of a read-only query, on a reader connection in a worker thread."""

        def work(db: sqlite3.Connection) -> list[sqlite3.Row]:
            db.row_factory = sqlite3.Row
            return db.execute(sql, args).fetchall()

        return await self.writer.read(work)

    async def incidents(
        self, filters: dict[str, str], limit: int, before: int | None
    ) -> list[dict[str, Any]]:
        where: list[str] = []
        args: list[object] = []
        for column, value in filters.items():
            where.append(f"{column} = ?")
            args.append(value)
        if before is not None:
            where.append("id < ?")
            args.append(before)
        sql = "SELECT * FROM incidents"
        if where:
            sql += " WHERE " + " AND ".join(where)
        sql += " ORDER BY id DESC LIMIT ?"
        return [_incident(r) for r in await self.rows(sql, (*args, limit))]

    async def incident(self, incident: int) -> dict[str, Any] | None:
        def work(db: sqlite3.Connection) -> dict[str, Any] | None:
            db.row_factory = sqlite3.Row
            row = db.execute("SELECT * FROM incidents WHERE id=?", (incident,)).fetchone()
            if row is None:
                return None
            out = _incident(row)
            out["timeline"] = [
                {"at": iso(t["at"]), "kind": t["kind"], **json.loads(t["detail"])}
                for t in db.execute(
                    "SELECT at, kind, detail FROM timeline WHERE incident_id=? ORDER BY id",
                    (incident,),
                )
            ]
            out["notifications"] = [
                dict(d)
                for d in db.execute(
                    "SELECT id, receiver, event, step, state, attempts FROM deliveries "
                    "WHERE incident_id=? ORDER BY id",
                    (incident,),
                )
            ]
            out["actions"] = [
                dict(a)
                for a in db.execute(
                    "SELECT id, action, target, state, reason, detail FROM actions "
                    "WHERE incident_id=? ORDER BY id",
                    (incident,),
                )
            ]
            out["symptoms"] = [
                r[0] for r in db.execute("SELECT id FROM incidents WHERE symptom_of=?", (incident,))
            ]
            db.row_factory = None
            candidates = incidents.root_causes(db, self.rules, row["service"], row["region"])
            out["root_cause_candidates"] = [
                {**c, "opened_at": iso(c["opened_at"])} for c in candidates if c["id"] != incident
            ]
            return out

        return await self.writer.read(work)

    async def actions(self, state: str | None) -> list[dict[str, Any]]:
        sql = "SELECT id, incident_id, action, target, region, state, reason FROM actions"
        args: tuple[Any, ...] = ()
        if state:
            sql += " WHERE state = ?"
            args = (state,)
        return [dict(r) for r in await self.rows(sql + " ORDER BY id DESC LIMIT 500", args)]

    async def action(self, row: int) -> dict[str, Any] | None:
        found = await self.rows(
            "SELECT a.*, i.labels, i.annotations FROM actions a "
            "JOIN incidents i ON i.id = a.incident_id WHERE a.id=?",
            (row,),
        )
        return dict(found[0]) if found else None

    async def work_due(self, now: float) -> tuple[bool, bool]:
        """(escalations due, actions ready): a read, so an idle tick writes nothing."""
        rows = await self.rows(
            "SELECT EXISTS(SELECT 1 FROM incidents INDEXED BY incidents_due "  # as escalate()
            "WHERE next_due IS NOT NULL AND next_due <= ? AND state='firing'), "
            "EXISTS(SELECT 1 FROM actions WHERE state='pending' AND not_before <= ?)",
            (now, now),
        )
        return bool(rows[0][0]), bool(rows[0][1])

    async def due_deliveries(self, now: float, limit: int = 100) -> list[dict[str, Any]]:
        rows = await self.rows(
            "SELECT d.id, d.receiver, d.event, d.step, d.note, i.id AS incident_id, i.state, "
            "i.labels, i.annotations, i.starts_at FROM deliveries d "
            "JOIN incidents i ON i.id = d.incident_id "
            "WHERE d.state='pending' AND d.next_attempt <= ? ORDER BY d.next_attempt LIMIT ?",
            (now, limit),
        )
        return [dict(r) for r in rows]

    async def kpis(self, since: float) -> Kpis:
        """Means and recovery success over what finished since ``since`` (indexed columns)."""
        resolve = await self.rows(
            "SELECT region, service, avg(resolved_at - opened_at) FROM incidents "
            # opened and resolved at once (a resolution never seen firing) is no repair time
            "WHERE resolved_at >= ? AND resolved_at > opened_at GROUP BY region, service",
            (since,),
        )
        ack = await self.rows(
            "SELECT region, avg(acknowledged_at - opened_at) FROM incidents "
            "WHERE acknowledged_at >= ? GROUP BY region",
            (since,),
        )
        ok = "', '".join((A.VERIFIED, A.SUCCEEDED))
        ended = "', '".join(
            (A.VERIFIED, A.SUCCEEDED, A.VERIFY_FAILED, A.FAILED, A.TIMEOUT, A.ERROR)
        )
        actions = await self.rows(
            f"SELECT action, avg(CASE WHEN state IN ('{ok}') THEN 1.0 ELSE 0.0 END) FROM actions "
            f"WHERE finished_at >= ? AND state IN ('{ended}') GROUP BY action",
            (since,),
        )
        return Kpis(
            resolve={(r[0], r[1]): r[2] for r in resolve},
            acknowledge={r[0]: r[1] for r in ack},
            recovery={r[0]: r[1] for r in actions},
        )

    async def open_counts(self) -> list[tuple[str, str, int]]:
        rows = await self.rows(
            "SELECT severity, region, count(*) FROM incidents WHERE state != 'resolved' "
            "GROUP BY severity, region"
        )
        return [(r[0], r[1], r[2]) for r in rows]
