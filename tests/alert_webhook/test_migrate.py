"""`globalmon webhook migrate`: a SQLite webhook's history copied into a real PostgreSQL, the
audit chain checked there; a target already in use, a broken source, bad arguments refused."""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any

import pytest

from alert_webhook.audit import verify
from alert_webhook.schema import SCHEMA
from alert_webhook.store import WebhookStore
from globalmon import pg
from globalmon.cli import main
from tests.alert_webhook.fixtures import (
    Clock,
    Harness,
    Mailbox,
    Sink,
    alert,
    open_harness,
    payload,
    spec_text,
)
from tests.alert_webhook.test_retention import _history

TABLES = ("audit", "receipts", "incidents", "timeline", "deliveries", "actions")


@pytest.fixture
async def sqlite_hook(
    aiohttp_client: Any,
    tmp_path: Path,
    sink: Sink,
    mailbox: tuple[Mailbox, int],
    env_secrets: None,
) -> Any:
    h, store = await open_harness(
        aiohttp_client, tmp_path, spec_text(sink.url, mailbox[1], tmp_path), Clock()
    )
    yield h
    store.close()


def _counts(db: Any) -> dict[str, int]:
    return {t: db.execute(f"SELECT count(*) FROM {t}").fetchone()[0] for t in TABLES}


async def test_a_history_moves_to_postgresql_and_the_webhook_goes_on_there(
    sqlite_hook: Harness, pg_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    hook = sqlite_hook
    await _history(hook)  # incidents, symptoms, actions awaiting approval, notifications
    source = hook.connect()
    before, head = _counts(source), verify(source).head
    source.close()

    assert main(["webhook", "migrate", "--from", f"sqlite:{hook.db}", "--to", pg_url]) == 0
    out = capsys.readouterr().out
    assert f"audit trail intact: {before['audit']} records, head {head}" in out
    target = pg.dbapi(pg.PgConnection(pg_url, id_tables=pg.id_tables(SCHEMA)))
    try:
        assert _counts(target) == before
        assert verify(target).head == head
    finally:
        target.close()

    # a replica on the copy goes on where the SQLite webhook stopped: new ids, one chain
    store = WebhookStore(pg_url, hook.hook.rules)
    try:
        new = alert("AfterMove", starts=hook.clock.now, service="db")
        opened = await store.ingest(pg_body(payload(new)), hook.clock.now)
        assert opened.opened == [before["incidents"] + 1]
    finally:
        store.close()
    target = pg.dbapi(pg.PgConnection(pg_url, id_tables=pg.id_tables(SCHEMA)))
    try:
        after = verify(target)
        assert after.problems == []
        assert after.records > before["audit"]
    finally:
        target.close()

    # a second migration into the same database is refused and changes nothing
    assert main(["webhook", "migrate", "--from", f"sqlite:{hook.db}", "--to", pg_url]) == 1
    err = capsys.readouterr().err
    assert "already holds" in err
    assert "nothing was committed" in err


def pg_body(body: dict[str, Any]) -> bytes:
    import json

    return json.dumps(body).encode()


async def test_a_broken_source_chain_is_not_copied(
    sqlite_hook: Harness, pg_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    hook = sqlite_hook
    await hook.post(payload(alert(starts=hook.clock.now, service="api")))
    await hook.tick()
    assert isinstance(hook.db, Path)
    db = sqlite3.connect(hook.db)
    db.execute("UPDATE audit SET data = replace(data, 'api', 'xyz') WHERE seq = 1")
    db.commit()
    db.close()
    assert main(["webhook", "migrate", "--from", f"sqlite:{hook.db}", "--to", pg_url]) == 1
    assert "audit trail of" in capsys.readouterr().err
    target = pg.PgConnection(pg_url)
    try:  # not even the schema was made
        found = target.execute("SELECT to_regclass('audit')").fetchone()
        assert found is not None
        assert found[0] is None
    finally:
        target.close()


def test_bad_arguments(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    missing = tmp_path / "none.db"
    url = "postgresql://u:p@127.0.0.1:1/x"
    assert main(["webhook", "migrate", "--from", f"sqlite:{missing}", "--to", url]) == 2
    assert "--from: found" in capsys.readouterr().err
    assert main(["webhook", "migrate", "--from", str(missing), "--to", "mysql://x"]) == 2
    assert "expected a postgresql:// URL" in capsys.readouterr().err
    junk = tmp_path / "junk.db"
    junk.write_bytes(b"not sqlite" * 50)
    assert main(["webhook", "migrate", "--from", str(junk), "--to", url]) == 1
    assert "cannot read a webhook database" in capsys.readouterr().err


def test_an_unreachable_server_is_a_runtime_failure_without_the_password(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("GLOBALMON_WEBHOOK_TOKEN", "t" * 32)
    spec = Path(__file__).resolve().parents[2] / "examples" / "regions.yaml"
    url = "postgresql://u:hunter2@127.0.0.1:1/x"
    code = main(["webhook", "--spec", str(spec), "--db", url])
    err = capsys.readouterr().err
    assert code == 1, err
    assert "cannot open postgresql://u:***@127.0.0.1:1/x" in err
    assert "hunter2" not in err
    assert main(["audit", "verify", "--db", url]) == 1
    err = capsys.readouterr().err
    assert "cannot read the audit trail" in err
    assert "hunter2" not in err
