"""Broken specs: every problem reported at once, located, in the spec's words; exit code 2.

Each case is ``tests/invalid/<case>.yaml`` with the exact expected output in ``<case>.err``.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from globalmon.cli import main
from globalmon.spec import SpecError, load_spec

CASES_DIR = Path(__file__).resolve().parent.parent / "invalid"
CASES = sorted(p.stem for p in CASES_DIR.glob("*.yaml"))


def test_the_corpus_covers_enough_cases() -> None:
    assert len(CASES) >= 15


@pytest.mark.parametrize("case", CASES)
def test_broken_spec_reports_every_problem_with_its_position(
    case: str, update_golden: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(CASES_DIR)  # errors name the file as given: keep it short and stable
    with pytest.raises(SpecError) as info:
        load_spec(f"{case}.yaml")
    got = str(info.value) + "\n"
    expected_file = CASES_DIR / f"{case}.err"
    if update_golden:
        expected_file.write_text(got)
    assert got == expected_file.read_text(), f"{expected_file} differs"


@pytest.mark.parametrize("case", CASES)
def test_validate_exits_2_and_prints_the_problems(
    case: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(CASES_DIR)
    assert main(["validate", f"{case}.yaml"]) == 2
    out, err = capsys.readouterr()
    assert out == ""
    assert err == (CASES_DIR / f"{case}.err").read_text()
    assert "Traceback" not in err
