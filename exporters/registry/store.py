"""Registrations in SQLite: they survive a restart, and a write is on disk before it is acked."""

from __future__ import annotations

import json
import sqlite3
import threading
from dataclasses import dataclass
from pathlib import Path

SCHEMA = """
CREATE TABLE IF NOT EXISTS agents (
    region TEXT NOT NULL,
    agent TEXT NOT NULL,
    agent_type TEXT NOT NULL,
    address TEXT NOT NULL,
    labels TEXT NOT NULL,
    first_seen REAL NOT NULL,
    last_heartbeat REAL NOT NULL,
    PRIMARY KEY (region, agent)
);
CREATE INDEX IF NOT EXISTS agents_heartbeat ON agents (last_heartbeat);
"""


@dataclass(frozen=True)
class Registration:
    region: str
    agent: str
    agent_type: str
    address: str
    labels: dict[str, str]


@dataclass(frozen=True)
class Entry:
    registration: Registration
    last_heartbeat: float


class RegistryStore:
    """A small SQLite store; one connection guarded by a lock (calls come from worker threads)."""

    def __init__(self, path: str | Path) -> None:
        self._lock = threading.Lock()
        self._db = sqlite3.connect(str(path), check_same_thread=False, isolation_level=None)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=FULL")  # acked means on disk
        self._db.executescript(SCHEMA)

    def close(self) -> None:
        with self._lock:
            self._db.close()

    def upsert(self, reg: Registration, now: float) -> None:
        with self._lock:
            self._db.execute(
                "INSERT INTO agents VALUES (?, ?, ?, ?, ?, ?, ?) "
                "ON CONFLICT (region, agent) DO UPDATE SET agent_type = excluded.agent_type, "
                "address = excluded.address, labels = excluded.labels, "
                "last_heartbeat = excluded.last_heartbeat",
                (
                    reg.region,
                    reg.agent,
                    reg.agent_type,
                    reg.address,
                    json.dumps(reg.labels, sort_keys=True),
                    now,
                    now,
                ),
            )

    def expire(self, older_than: float) -> int:
        """Remove agents whose last heartbeat is before ``older_than``; how many went."""
        with self._lock:
            cur = self._db.execute("DELETE FROM agents WHERE last_heartbeat < ?", (older_than,))
            return cur.rowcount

    def entries(self, region: str | None = None) -> list[Entry]:
        query = (
            "SELECT region, agent, agent_type, address, labels, last_heartbeat FROM agents"
            + (" WHERE region = ?" if region else "")
            + " ORDER BY region, agent_type, agent"
        )
        with self._lock:
            rows = self._db.execute(query, (region,) if region else ()).fetchall()
        return [Entry(Registration(r[0], r[1], r[2], r[3], json.loads(r[4])), r[5]) for r in rows]
