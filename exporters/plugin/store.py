"""The plugin exporter's SQLite store: logs, events, snapshots, metric reports, series state.

Everything is written through a ``GroupCommitWriter`` (WAL, synchronous=FULL): a handler answers
2xx only once its rows are committed. Series state (counter totals, last gauge values) is kept in
the same transaction as the rows that changed it, so counters survive a restart and never count
a report twice. Reads run on reader connections in worker threads and page by id (newest first).
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from exporters.plugin.series import Delta
from globalmon.durable import GroupCommitWriter

SCHEMA = """
CREATE TABLE IF NOT EXISTS logs(
    id INTEGER PRIMARY KEY, plugin TEXT NOT NULL, ts REAL NOT NULL, level TEXT NOT NULL,
    message TEXT NOT NULL, context TEXT NOT NULL, traceback TEXT);
CREATE INDEX IF NOT EXISTS logs_plugin_ts ON logs(plugin, ts);
CREATE INDEX IF NOT EXISTS logs_ts ON logs(ts);
CREATE TABLE IF NOT EXISTS events(
    id INTEGER PRIMARY KEY, plugin TEXT NOT NULL, ts REAL NOT NULL, type TEXT NOT NULL,
    severity TEXT NOT NULL, description TEXT NOT NULL, data TEXT NOT NULL);
CREATE INDEX IF NOT EXISTS events_plugin_ts ON events(plugin, ts);
CREATE INDEX IF NOT EXISTS events_ts ON events(ts);
CREATE TABLE IF NOT EXISTS snapshots(
    id INTEGER PRIMARY KEY, plugin TEXT NOT NULL, ts REAL NOT NULL, data TEXT NOT NULL);
CREATE INDEX IF NOT EXISTS snapshots_plugin_ts ON snapshots(plugin, ts);
CREATE INDEX IF NOT EXISTS snapshots_ts ON snapshots(ts);
CREATE TABLE IF NOT EXISTS metrics(
    id INTEGER PRIMARY KEY, plugin TEXT NOT NULL, ts REAL NOT NULL, data TEXT NOT NULL);
CREATE INDEX IF NOT EXISTS metrics_plugin_ts ON metrics(plugin, ts);
CREATE INDEX IF NOT EXISTS metrics_ts ON metrics(ts);
CREATE TABLE IF NOT EXISTS series(
    plugin TEXT NOT NULL, key TEXT NOT NULL, value REAL NOT NULL,
    PRIMARY KEY(plugin, key)) WITHOUT ROWID;
"""

KINDS = ("logs", "events", "snapshots", "metrics")
PRUNE_CHUNK = 5000  # rows deleted per transaction, so ingest never waits long behind retention


@dataclass
class Rows:
    """What one request writes: rows per table, and the series delta they cause."""

    logs: list[tuple[float, str, str, str, str | None]]
    events: list[tuple[float, str, str, str, str]]
    snapshots: list[tuple[float, str]]
    metrics: list[tuple[float, str]]
    delta: Delta


@dataclass(frozen=True)
class Page:
    items: list[dict[str, Any]]
    next_cursor: str | None


@dataclass(frozen=True)
class Filters:
    since: float | None = None
    until: float | None = None
    levels: Sequence[str] = ()
    severities: Sequence[str] = ()
    types: Sequence[str] = ()
    text: str | None = None


def _like(text: str) -> str:
    return "%" + text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"


class PluginStore:
    def __init__(self, path: str | Path, *, synchronous: str = "FULL") -> None:
        self.writer = GroupCommitWriter(path, SCHEMA, synchronous=synchronous)

    def close(self) -> None:
        self.writer.close()

    async def write(self, plugin: str, rows: Rows) -> dict[str, list[int]]:
        """Commit the rows and the series delta together; return the new ids per kind."""

        def work(db: sqlite3.Connection) -> dict[str, list[int]]:
            ids: dict[str, list[int]] = {k: [] for k in KINDS}
            for log in rows.logs:
                ids["logs"].append(
                    _insert(db, "logs(plugin,ts,level,message,context,traceback)", (plugin, *log))
                )
            for event in rows.events:
                ids["events"].append(
                    _insert(
                        db, "events(plugin,ts,type,severity,description,data)", (plugin, *event)
                    )
                )
            for snap in rows.snapshots:
                ids["snapshots"].append(_insert(db, "snapshots(plugin,ts,data)", (plugin, *snap)))
            for metric in rows.metrics:
                ids["metrics"].append(_insert(db, "metrics(plugin,ts,data)", (plugin, *metric)))
            db.executemany(
                "INSERT INTO series VALUES(?,?,?) ON CONFLICT(plugin,key) "
                "DO UPDATE SET value = value + excluded.value",
                [(plugin, k, v) for k, v in rows.delta.adds.items()],
            )
            db.executemany(
                "INSERT INTO series VALUES(?,?,?) ON CONFLICT(plugin,key) "
                "DO UPDATE SET value = excluded.value",
                [(plugin, k, v) for k, v in rows.delta.sets.items()],
            )
            return ids

        return await self.writer.write(work)

    async def series(self) -> dict[str, dict[str, float]]:
        def work(db: sqlite3.Connection) -> dict[str, dict[str, float]]:
            out: dict[str, dict[str, float]] = {}
            for plugin, k, v in db.execute("SELECT plugin, key, value FROM series"):
                out.setdefault(plugin, {})[k] = v
            return out

        return await self.writer.read(work)

    async def page(
        self, kind: str, plugin: str | None, filters: Filters, limit: int, cursor: int | None
    ) -> Page:
        assert kind in KINDS
        where: list[str] = ["1=1"]
        args: list[str | float] = []
        if plugin is not None:
            where.append("plugin = ?")
            args.append(plugin)
        if cursor is not None:
            where.append("id < ?")
            args.append(cursor)
        if filters.since is not None:
            where.append("ts >= ?")
            args.append(filters.since)
        if filters.until is not None:
            where.append("ts <= ?")
            args.append(filters.until)
        for column, values in (
            ("level", filters.levels),
            ("severity", filters.severities),
            ("type", filters.types),
        ):
            if values:
                where.append(f"{column} IN ({','.join('?' * len(values))})")
                args.extend(values)
        if filters.text:
            text_column = {"logs": "message", "events": "description"}.get(kind, "data")
            where.append(f"{text_column} LIKE ? ESCAPE '\\'")
            args.append(_like(filters.text))
        sql = f"SELECT * FROM {kind} WHERE {' AND '.join(where)} ORDER BY id DESC LIMIT ?"

        def work(db: sqlite3.Connection) -> Page:
            db.row_factory = sqlite3.Row
            rows = db.execute(sql, (*args, limit + 1)).fetchall()
            items = [_row(kind, r) for r in rows[:limit]]
            more = len(rows) > limit
            return Page(items, str(items[-1]["id"]) if more else None)

        return await self.writer.read(work)

    async def get(self, kind: str, plugin: str, ids: Iterable[int]) -> list[dict[str, Any]]:
        wanted = list(ids)
        sql = f"SELECT * FROM {kind} WHERE plugin = ? AND id IN ({','.join('?' * len(wanted))})"

        def work(db: sqlite3.Connection) -> list[dict[str, Any]]:
            db.row_factory = sqlite3.Row
            return [_row(kind, r) for r in db.execute(sql, (plugin, *wanted))]

        return await self.writer.read(work)

    async def between(self, kind: str, plugin: str | None, since: float) -> list[dict[str, Any]]:
        """Every row since a time, oldest first (for analytics over a window)."""
        sql = f"SELECT * FROM {kind} WHERE ts >= ?" + (" AND plugin = ?" if plugin else "")
        args: tuple[Any, ...] = (since, plugin) if plugin else (since,)

        def work(db: sqlite3.Connection) -> list[dict[str, Any]]:
            db.row_factory = sqlite3.Row
            return [_row(kind, r) for r in db.execute(sql + " ORDER BY ts", args)]

        return await self.writer.read(work)

    async def count(self, kind: str, plugin: str, since: float) -> int:
        """Rows of a plugin since a time (on the (plugin, ts) index; nothing is decoded)."""
        assert kind in KINDS
        sql = f"SELECT count(*) FROM {kind} WHERE plugin = ? AND ts >= ?"

        def work(db: sqlite3.Connection) -> int:
            n: int = db.execute(sql, (plugin, since)).fetchone()[0]
            return n

        return await self.writer.read(work)

    async def counts(self) -> dict[str, int]:
        def work(db: sqlite3.Connection) -> dict[str, int]:
            # max(id) - min(id) would be cheaper but wrong after pruning; count(*) on the
            # smallest index is fast enough for a status page and a scrape-time gauge.
            return {k: db.execute(f"SELECT count(*) FROM {k}").fetchone()[0] for k in KINDS}

        return await self.writer.read(work)

    async def prune(self, older_than: float, caps: dict[str, int]) -> dict[str, int]:
        """Delete rows past retention, then the oldest rows past each kind's cap, in chunks."""
        removed = dict.fromkeys(KINDS, 0)
        for kind in KINDS:
            removed[kind] += await self._delete_chunks(
                f"DELETE FROM {kind} WHERE id IN "
                f"(SELECT id FROM {kind} WHERE ts < ? LIMIT {PRUNE_CHUNK})",
                older_than,
            )
            if kind in caps:
                removed[kind] += await self._delete_chunks(
                    f"DELETE FROM {kind} WHERE id IN (SELECT id FROM {kind} WHERE id <= "
                    f"(SELECT id FROM {kind} ORDER BY id DESC LIMIT 1 OFFSET ?) "
                    f"ORDER BY id LIMIT {PRUNE_CHUNK})",
                    caps[kind],
                )
        return removed

    async def _delete_chunks(self, sql: str, arg: float) -> int:
        def work(db: sqlite3.Connection) -> int:
            return db.execute(sql, (arg,)).rowcount

        total = 0
        while True:
            n = await self.writer.write(work)
            total += n
            if n < PRUNE_CHUNK:
                return total


def _insert(db: sqlite3.Connection, into: str, values: tuple[Any, ...]) -> int:
    marks = ",".join("?" * len(values))
    rowid = db.execute(f"INSERT INTO {into} VALUES({marks})", values).lastrowid
    assert rowid is not None
    return rowid


def _row(kind: str, r: sqlite3.Row) -> dict[str, Any]:
    d = dict(r)
    if kind == "logs":
        d["context"] = json.loads(d["context"])
    elif kind == "events":
        d["data"] = json.loads(d["data"])
    else:
        d.update(json.loads(d.pop("data")))
    d["timestamp"] = d.pop("ts")
    return d
