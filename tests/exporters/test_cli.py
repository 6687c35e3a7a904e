"""`globalmon agent`, `registry` and `plugin-exporter`: usage and spec errors exit 2 with a
reason, runtime failures 1."""

from __future__ import annotations

from pathlib import Path

import pytest

from globalmon.cli import main

REPO = Path(__file__).resolve().parent.parent.parent
SPEC = str(REPO / "examples" / "regions.yaml")


def test_an_agent_the_spec_lacks_is_a_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["agent", "--spec", SPEC, "--region", "us-east-1", "--agent-id", "nope"]) == 2
    err = capsys.readouterr().err
    assert "found no agent us-east-1/nope" in err
    assert "us-east-1/use1-web-01" in err


def test_a_broken_spec_is_reported(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("version: v1\nregions: []\n")
    assert main(["registry", "--spec", str(bad), "--db", str(tmp_path / "r.db")]) == 2
    assert "regions: found 0 items; expected at least 1" in capsys.readouterr().err


def test_a_bad_listen_address_is_a_usage_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code = main(
        [
            "registry",
            "--spec",
            SPEC,
            "--db",
            str(tmp_path / "r.db"),
            "--web.listen-address",
            "nowhere",
        ]
    )
    assert code == 2
    assert "--web.listen-address: found 'nowhere'; expected host:port" in capsys.readouterr().err


def test_an_unreadable_registry_token_is_a_runtime_failure(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.delenv("GLOBALMON_REGISTRY_TOKEN", raising=False)
    assert main(["registry", "--spec", SPEC, "--db", str(tmp_path / "r.db")]) == 1
    assert "environment variable GLOBALMON_REGISTRY_TOKEN is not set" in capsys.readouterr().err


def test_plugin_exporter_usage_errors(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    db = str(tmp_path / "p.db")
    assert main(["plugin-exporter", "--spec", SPEC, "--db", db, "--region", "mars"]) == 2
    assert "--region: found 'mars'; expected one of us-east-1" in capsys.readouterr().err
    for flag, value in (("--rate-limit", "0"), ("--plugin-ttl", "soon")):
        with pytest.raises(SystemExit) as exit_:
            main(["plugin-exporter", "--spec", SPEC, "--db", db, flag, value])
        assert exit_.value.code == 2
        assert f"{flag}: found '{value}'" in capsys.readouterr().err
    monkeypatch.delenv("GLOBALMON_INGEST_TOKEN", raising=False)
    assert main(["plugin-exporter", "--spec", SPEC, "--db", db]) == 1
    assert "GLOBALMON_INGEST_TOKEN is not set" in capsys.readouterr().err
