"""`globalmon console`: a bad spec or address is a usage error (exit 2), before anything runs."""

from __future__ import annotations

from pathlib import Path

import pytest

from globalmon.cli import main

REPO = Path(__file__).resolve().parents[2]


def test_a_broken_spec_is_exit_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    spec = tmp_path / "spec.yaml"
    spec.write_text("version: v1\nregions: [{id: x}]\n")
    assert main(["console", "--spec", str(spec)]) == 2
    assert f"{spec}:2:" in capsys.readouterr().err


@pytest.mark.parametrize(
    "address", ["127.0.0.1", "127.0.0.1:99999", "127.0.0.1:0", "127.0.0.1:²", "127.0.0.1:80\n"]
)
def test_a_bad_address_is_exit_2(address: str, capsys: pytest.CaptureFixture[str]) -> None:
    spec = REPO / "examples" / "regions.yaml"
    assert main(["console", "--spec", str(spec), "--web.listen-address", address]) == 2
    assert "console" in capsys.readouterr().err
