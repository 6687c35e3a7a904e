"""Generated boards validate against Grafana's own dashboard schema (@grafana/schema 11.6)."""

from __future__ import annotations

import copy
import json
import subprocess
from pathlib import Path
from typing import Any

import jsonschema
import pytest

from local_stack import servers
from tests.rules_generator.cases import CASES, REPO
from tests.rules_generator.grafana_schema import dashboard_schema

pytestmark = pytest.mark.integration

BOARDS = [p for _, _, out in CASES for p in sorted((out / "grafana" / "dashboards").glob("*.json"))]


@pytest.fixture(scope="module")
def schema() -> dict[str, Any]:
    try:
        return dashboard_schema(REPO / ".cache" / "grafana-schema")
    except (FileNotFoundError, subprocess.CalledProcessError) as exc:
        message = f"cannot build Grafana's dashboard schema with npm: {exc}"
        if servers.in_ci():
            pytest.fail(message)
        pytest.skip(message)


def test_every_case_has_the_six_boards() -> None:
    assert len(BOARDS) == 6 * len(CASES)


@pytest.mark.parametrize("board", BOARDS, ids=lambda p: "/".join(p.parts[-4:]))
def test_board_matches_grafanas_schema(schema: dict[str, Any], board: Path) -> None:
    errors = [
        f"{list(e.absolute_path)}: {e.message}"
        for e in jsonschema.Draft7Validator(schema).iter_errors(json.loads(board.read_text()))
    ]
    assert errors == []


def test_the_schema_rejects_a_broken_board(schema: dict[str, Any]) -> None:
    board = json.loads(BOARDS[0].read_text())
    broken = copy.deepcopy(board)
    broken["panels"][0]["gridPos"] = "top left"
    broken["refresh"] = 10
    errors = list(jsonschema.Draft7Validator(schema).iter_errors(broken))
    assert len(errors) == 2
