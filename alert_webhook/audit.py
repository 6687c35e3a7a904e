"""The audit trail: an append-only, hash-chained log in the webhook's database.

Each record stores the previous record's hash, and its own hash covers its sequence number,
time, kind, data and that previous hash:

    hash[n] = sha256("\\n".join([hash[n-1], seq, repr(at), kind, data_as_stored]))

so an edited record no longer matches its hash, and a deleted or inserted one breaks the chain
(a gap in ``seq`` or a ``prev_hash`` that is not the hash before it). Someone able to rewrite
the database can recompute every hash after their edit; `audit verify` prints the head hash so it
can be kept elsewhere (a log shipper, a ticket) and compared with ``--expect-head``.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import sqlite3
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

GENESIS = "0" * 64
_HEAD = "audit.head"  # the key of the chain head in the write connection's scratch
SCHEMA = """
CREATE TABLE IF NOT EXISTS audit(
    seq INTEGER PRIMARY KEY,
    at REAL NOT NULL,
    kind TEXT NOT NULL,
    data TEXT NOT NULL,
    prev_hash TEXT NOT NULL,
    hash TEXT NOT NULL
);
"""


CHECKPOINTS = """
CREATE TABLE IF NOT EXISTS audit_checkpoints(
    seq INTEGER PRIMARY KEY,        -- the last audit record pruned
    hash TEXT NOT NULL,             -- its hash: the next record's prev_hash
    at REAL NOT NULL,               -- when the pruning ran
    pruned INTEGER NOT NULL,        -- audit records that run removed
    signature TEXT NOT NULL         -- HMAC-SHA256(key, seq, hash, at, pruned)
);
"""


@dataclass(frozen=True)
class Checkpoint:
    seq: int
    hash: str
    at: float
    pruned: int
    signature: str

    def signed_by(self, key: bytes) -> bool:
        return hmac.compare_digest(
            self.signature, sign(key, self.seq, self.hash, self.at, self.pruned)
        )


def sign(key: bytes, seq: int, digest: str, at: float, pruned: int) -> str:
    return hmac.new(key, f"{seq}\n{digest}\n{at!r}\n{pruned}".encode(), hashlib.sha256).hexdigest()


def latest_checkpoint(db: sqlite3.Connection) -> Checkpoint | None:
    try:
        row = db.execute(
            "SELECT seq, hash, at, pruned, signature FROM audit_checkpoints ORDER BY seq DESC"
        ).fetchone()
    except sqlite3.OperationalError:  # a database no run has pruned
        return None
    return Checkpoint(*row) if row else None


_ENCODER = json.JSONEncoder(sort_keys=True, separators=(",", ":"), default=str)
_STRING = json.encoder.encode_basestring_ascii  # what _ENCODER does with a str
# JSONEncoder.encode builds its C encoder on every call, a third of its cost for a label set
# (the writer encodes three dicts an alert). Built once here, without the cycle check (parsed
# payloads and our own records have no cycles): the same C code, the same text. None where the
# C module is missing.
_MAKE = getattr(json.encoder, "c_make_encoder", None)
_ONE_SHOT = _MAKE(None, str, _STRING, None, ":", ",", True, False, True) if _MAKE else None


def canonical(data: Any) -> str:
    """``json.dumps(data, sort_keys=True, separators=(",", ":"), default=str)``."""
    if isinstance(data, str):
        return _STRING(data)
    if _ONE_SHOT is None:
        return _ENCODER.encode(data)
    return "".join(_ONE_SHOT(data, 0))


def _digest(prev: str, seq: int, at: float, kind: str, data: str) -> str:
    return hashlib.sha256(f"{prev}\n{seq}\n{at!r}\n{kind}\n{data}".encode()).hexdigest()


class Chain:
    """Appends records inside the caller's transaction (the writer's)."""

    def __init__(self, db: sqlite3.Connection) -> None:
        self.db = db
        # The writer's connection keeps the head for the rest of its transaction (it drops it on
        # a rollback), so the jobs of one group commit read it once, not once each.
        self._scratch: dict[str, Any] | None = getattr(db, "scratch", None)
        cached = self._scratch.get(_HEAD) if self._scratch is not None else None
        if cached is None:
            row = db.execute("SELECT seq, hash FROM audit ORDER BY seq DESC LIMIT 1").fetchone()
            if row is None:  # a new trail, or one pruned to nothing: go on from the checkpoint
                checkpoint = latest_checkpoint(db)
                row = (checkpoint.seq, checkpoint.hash) if checkpoint else (0, GENESIS)
            cached = (row[0], row[1])
        self.seq: int = cached[0]
        self.head: str = cached[1]

    def append(self, at: float, kind: str, data: dict[str, Any] | str) -> None:
        """Append a record; ``data`` is a dict or its canonical JSON text already made."""
        text = data if isinstance(data, str) else canonical(data)
        if self._scratch is not None and _HEAD in self._scratch:  # another Chain may have added
            self.seq, self.head = self._scratch[_HEAD]
        seq = self.seq + 1
        digest = _digest(self.head, seq, at, kind, text)
        self.db.execute(
            "INSERT INTO audit(seq, at, kind, data, prev_hash, hash) VALUES (?,?,?,?,?,?)",
            (seq, at, kind, text, self.head, digest),
        )
        self.seq, self.head = seq, digest
        if self._scratch is not None:
            self._scratch[_HEAD] = (seq, digest)


@dataclass(frozen=True)
class Verdict:
    records: int
    head: str
    problems: list[str]
    checkpoint: Checkpoint | None = None
    signature_checked: bool = False


def verify(db: sqlite3.Connection, key: bytes | None = None) -> Verdict:
    """Walk the chain from the genesis, or from the latest checkpoint of a pruning (its
    signature checked with ``key`` when given); every record that is not where and what the
    chain says is a problem."""
    problems: list[str] = []
    expected_seq, prev, count = 1, GENESIS, 0
    checkpoint = latest_checkpoint(db)
    if checkpoint is not None:
        expected_seq, prev = checkpoint.seq + 1, checkpoint.hash
        if key is not None and not checkpoint.signed_by(key):
            problems.append(
                f"checkpoint after record {checkpoint.seq}: its signature does not match "
                "(forged, edited, or another key)"
            )
    for seq, at, kind, data, prev_hash, digest in db.execute(
        "SELECT seq, at, kind, data, prev_hash, hash FROM audit ORDER BY seq"
    ):
        count += 1
        if seq != expected_seq:
            problems.append(f"record {seq}: expected record {expected_seq} here (deleted records)")
        if prev_hash != prev:
            problems.append(
                f"record {seq}: does not follow the record before it (inserted or deleted records)"
            )
        try:
            actual = _digest(prev_hash, seq, at, kind, data)
        except (ValueError, TypeError):
            actual = ""
        if actual != digest:
            problems.append(f"record {seq}: content does not match its hash (edited)")
        expected_seq, prev = seq + 1, digest
    return Verdict(count, prev, problems, checkpoint, key is not None and checkpoint is not None)


def export(db: sqlite3.Connection) -> Iterator[str]:
    """The records as JSON lines, oldest first."""
    for seq, at, kind, data, prev_hash, digest in db.execute(
        "SELECT seq, at, kind, data, prev_hash, hash FROM audit ORDER BY seq"
    ):
        record = {"seq": seq, "at": at, "kind": kind, "data": json.loads(data)}
        record |= {"prev_hash": prev_hash, "hash": digest}
        yield json.dumps(record, sort_keys=True)
