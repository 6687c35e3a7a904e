"""Registrations in SQLite: they survive a restart, and a write is on disk before it is acked."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from globalmon.durable import GroupCommitWriter

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
    """Registrations on top of the group-commit writer: a POST is answered once committed."""

    def __init__(self, path: str | Path) -> None:
        self._db = GroupCommitWriter(path, SCHEMA)

    def close(self) -> None:
        self._db.close()

    async def upsert(self, reg: Registration, now: float) -> None:
        row = (
            reg.region,
            reg.agent,
            reg.agent_type,
            reg.address,
            json.dumps(reg.labels, sort_keys=True),
            now,
            now,
        )
        await self._db.write(
            lambda db: db.execute(
                "INSERT INTO agents VALUES (?, ?, ?, ?, ?, ?, ?) "
                "ON CONFLICT (region, agent) DO UPDATE SET agent_type = excluded.agent_type, "
                "address = excluded.address, labels = excluded.labels, "
                "last_heartbeat = excluded.last_heartbeat",
                row,
            )
        )

    async def expire(self, older_than: float) -> int:
        """Remove agents whose last heartbeat is before ``older_than``; how many went."""
        return await self._db.write(
            lambda db: (
                db.execute("DELETE FROM agents WHERE last_heartbeat < ?", (older_than,)).rowcount
            )
        )

    async def entries(self, region: str | None = None) -> list[Entry]:
        query = (
            "SELECT region, agent, agent_type, address, labels, last_heartbeat FROM agents"
            + (" WHERE region = ?" if region else "")
            + " ORDER BY region, agent_type, agent"
        )
        rows = await self._db.read(
            lambda db: db.execute(query, (region,) if region else ()).fetchall()
        )
        return [Entry(Registration(r[0], r[1], r[2], r[3], json.loads(r[4])), r[5]) for r in rows]
