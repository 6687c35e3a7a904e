"""`globalmon webhook` and `globalmon audit`: usage and spec errors exit 2, runtime failures 1;
the webhook over TLS as a process."""

from __future__ import annotations

import json
import ssl
import subprocess
import sys
import urllib.request
from pathlib import Path

import pytest

from globalmon.cli import main
from local_stack import servers
from tests.alert_webhook.fixtures import T0, TOKEN, alert, payload

REPO = Path(__file__).resolve().parent.parent.parent
SPEC = str(REPO / "examples" / "regions.yaml")


def test_a_broken_spec_is_a_usage_error(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("version: v1\nregions: []\n")
    assert main(["webhook", "--spec", str(bad), "--db", str(tmp_path / "w.db")]) == 2
    assert "regions: found 0 items; expected at least 1" in capsys.readouterr().err


def test_usage_errors(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    db = str(tmp_path / "w.db")
    assert main(["webhook", "--spec", SPEC, "--db", db, "--web.listen-address", "nowhere"]) == 2
    assert "--web.listen-address: found 'nowhere'" in capsys.readouterr().err
    assert main(["webhook", "--spec", SPEC, "--db", db, "--tls-cert-file", "c.pem"]) == 2
    assert "--tls-cert-file and --tls-key-file go together" in capsys.readouterr().err


def test_an_unreadable_token_is_a_runtime_failure(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.delenv("GLOBALMON_WEBHOOK_TOKEN", raising=False)
    assert main(["webhook", "--spec", SPEC, "--db", str(tmp_path / "w.db")]) == 1
    assert "GLOBALMON_WEBHOOK_TOKEN is not set" in capsys.readouterr().err


def test_audit_of_a_missing_or_foreign_database(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["audit", "verify", "--db", str(tmp_path / "none.db")]) == 1
    assert "expected an existing webhook database" in capsys.readouterr().err
    other = tmp_path / "other.db"
    other.write_bytes(b"not sqlite at all" * 100)
    assert main(["audit", "export", "--db", str(other)]) == 1
    assert "cannot read the audit trail" in capsys.readouterr().err


@pytest.mark.integration
def test_the_webhook_serves_tls(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
         "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1",
         "-keyout", str(key), "-out", str(cert)],
        check=True, capture_output=True,
    )  # fmt: skip
    monkeypatch.setenv("GLOBALMON_WEBHOOK_TOKEN", TOKEN)
    for name in ("OPS_BOT_TOKEN", "SLACK_OPS_WEBHOOK_URL", "SLACK_DBA_WEBHOOK_URL"):
        monkeypatch.setenv(name, "http://127.0.0.1:1/unused")
    port = servers.free_port()
    argv = [sys.executable, "-m", "globalmon", "webhook", "--spec", SPEC, "--db",
            str(tmp_path / "w.db"), "--web.listen-address", f"127.0.0.1:{port}",
            "--tls-cert-file", str(cert), "--tls-key-file", str(key)]  # fmt: skip
    hook = servers.Server("webhook", argv, port, tmp_path / "hook").start()
    try:
        context = ssl.create_default_context(cafile=str(cert))

        def ready() -> bool | None:
            try:
                with urllib.request.urlopen(
                    f"https://127.0.0.1:{port}/-/ready", context=context, timeout=2
                ) as r:
                    return r.status == 200 or None
            except OSError:
                assert hook.process is not None
                assert hook.process.poll() is None, hook.log()
                return None

        servers.wait_for(ready, timeout=30, what="the webhook over TLS")
        body = json.dumps(payload(alert(starts=T0, service="api"))).encode()
        request = urllib.request.Request(
            f"https://127.0.0.1:{port}/webhook",
            data=body,
            headers={"Authorization": f"Bearer {TOKEN}", "Content-Type": "application/json"},
        )
        with urllib.request.urlopen(request, context=context, timeout=10) as r:
            assert json.loads(r.read())["incidents_opened"] == [1]
        # the pagerduty receiver's key file is missing: said at start, the webhook runs on
        assert "receiver pagerduty-primary disabled" in hook.log()
    finally:
        hook.stop()
