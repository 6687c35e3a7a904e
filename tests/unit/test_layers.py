"""The import contracts in pyproject.toml (import-linter, run by `make lint`) hold on the tree,
and they do fail when a part imports another: shown on a copy of the packages."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
PACKAGES = [
    "globalmon", "exporters", "rules_generator", "forecaster_sidecar", "alert_webhook",
    "console", "local_stack",
]  # fmt: skip
LINT = Path(sys.executable).parent / "lint-imports"


def _copy(tmp: Path) -> Path:
    for name in PACKAGES:
        shutil.copytree(REPO / name, tmp / name, ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(REPO / "pyproject.toml", tmp / "pyproject.toml")
    return tmp


def _lint(tree: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(tree)}  # the copy, before the installed tree
    return subprocess.run(
        [str(LINT), str(tree / "pyproject.toml"), "--no-cache"],
        cwd=tree, env=env, capture_output=True, text=True, check=False, timeout=300,
    )  # fmt: skip


def test_the_tree_keeps_every_contract(tmp_path: Path) -> None:
    result = _lint(_copy(tmp_path))
    assert result.returncode == 0, result.stdout + result.stderr
    assert "3 kept, 0 broken" in result.stdout


@pytest.mark.parametrize(
    ("module", "line", "broken"),
    [
        ("alert_webhook/payload.py", "import exporters.plugin.models", "never import each other"),
        ("globalmon/spec/model.py", "import rules_generator.build", "The core imports no part"),
        ("exporters/agent/app.py", "import local_stack.plan", "the local stack above it"),
        ("console/app.py", "import alert_webhook.store", "never import each other"),
    ],
)
def test_a_forbidden_import_breaks_its_contract(
    tmp_path: Path, module: str, line: str, broken: str
) -> None:
    tree = _copy(tmp_path)
    target = tree / module
    target.write_text(target.read_text() + f"\n{line}  # noqa\n")
    result = _lint(tree)
    assert result.returncode == 1, result.stdout + result.stderr
    assert f"{broken}" in result.stdout
    assert "BROKEN" in result.stdout
    assert "0 broken" not in result.stdout
