"""The `globalmon` command: exit codes, summaries, help on every subcommand."""

from __future__ import annotations

import argparse
import subprocess
import sys
from pathlib import Path

import pytest

from globalmon import __version__
from globalmon.cli import build_parser, main

REPO = Path(__file__).resolve().parent.parent.parent
REGIONS = str(REPO / "examples" / "regions.yaml")


def _subcommands() -> list[str]:
    for action in build_parser()._actions:
        if isinstance(action, argparse._SubParsersAction):
            return sorted(action.choices)
    return []


SUBCOMMANDS = _subcommands()


def test_validate_prints_a_one_line_summary(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["validate", REGIONS]) == 0
    out, err = capsys.readouterr()
    assert out == f"{REGIONS}: ok: 4 regions, 13 agents, 6 services, 2 plugins, 4 SLOs, 36 alerts\n"
    assert err == ""


def test_validate_checks_every_file_and_fails_once(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("version: v2\nregions: []\n")
    assert main(["validate", REGIONS, str(bad)]) == 2
    out, err = capsys.readouterr()
    assert out.startswith(f"{REGIONS}: ok")
    assert err.splitlines() == [
        f'{bad}:1:10: version: found "v2"; expected "v1"',
        f"{bad}:2:10: regions: found 0 items; expected at least 1",
    ]


def test_missing_file_is_a_spec_error_not_a_traceback(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["validate", "no/such/spec.yaml"]) == 2
    err = capsys.readouterr().err
    assert (
        err
        == "no/such/spec.yaml:1:1: (document): found no such file; expected a readable spec file\n"
    )


def test_describe_outlines_the_spec(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["describe", REGIONS]) == 0
    out = capsys.readouterr().out
    assert "  api -> db, cache, queue (all regions)\n" in out
    assert "  standard: 0s ops-slack+ops-webhook; 5m oncall-email; 15m pagerduty-primary\n" in out
    assert "  follow-the-sun: 0s ops-slack; 5m oncall-email; 10m pagerduty-primary\n" in out
    assert out.endswith("totals: 4 regions, 13 agents, 6 services, 2 plugins, 4 SLOs, 36 alerts\n")


def test_version(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as info:
        main(["--version"])
    assert info.value.code == 0
    assert capsys.readouterr().out == f"globalmon {__version__}\n"


def test_subcommands_are_the_documented_ones() -> None:
    assert {"validate", "describe", "schema"} <= set(SUBCOMMANDS)


@pytest.mark.parametrize("command", SUBCOMMANDS)
def test_every_subcommand_has_help(command: str, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as info:
        main([command, "--help"])
    assert info.value.code == 0
    assert f"usage: globalmon {command}" in capsys.readouterr().out


def test_usage_errors_exit_2(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as info:
        main(["validate"])
    assert info.value.code == 2
    assert "the following arguments are required: SPEC" in capsys.readouterr().err


def test_python_dash_m_runs_the_command() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "globalmon", "validate", REGIONS],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith(f"{REGIONS}: ok: 4 regions")
