"""The generated artifacts pass the real promtool and amtool: configs, rules, rule tests."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from tests.rules_generator.cases import CASES

pytestmark = pytest.mark.integration

OUTPUTS = [out for _, _, out in CASES]
CONFIGS = [p for out in OUTPUTS for p in sorted((out / "prometheus").glob("*.yml"))]
RULES = [p for out in OUTPUTS for p in sorted((out / "rules").glob("*.rules.yml"))]
TESTS = [p for out in OUTPUTS for p in sorted((out / "rules" / "tests").glob("*.test.yml"))]
ALERTMANAGERS = [out / "alertmanager" / "alertmanager.yml" for out in OUTPUTS]


def _id(path: Path) -> str:
    return "/".join(path.parts[-4:])


def _run(argv: list[str], cwd: Path, timeout: float = 600) -> str:
    result = subprocess.run(
        argv, cwd=cwd, capture_output=True, text=True, timeout=timeout, check=False
    )
    output = result.stdout + result.stderr
    assert result.returncode == 0, output
    return output


def test_every_case_has_each_kind_of_artifact() -> None:
    assert len(CONFIGS) >= len(OUTPUTS)
    assert len(RULES) >= len(OUTPUTS)
    assert len(TESTS) == len(RULES)
    assert all(p.is_file() for p in ALERTMANAGERS)


@pytest.mark.parametrize("config", CONFIGS, ids=_id)
def test_promtool_check_config(promtool_bin: str, config: Path) -> None:
    out = _run([promtool_bin, "check", "config", config.name], cwd=config.parent)
    assert "SUCCESS" in out


@pytest.mark.parametrize("rules", RULES, ids=_id)
def test_promtool_check_rules_lint_clean(promtool_bin: str, rules: Path) -> None:
    out = _run(
        [promtool_bin, "check", "rules", "--lint=all", "--lint-fatal", rules.name], cwd=rules.parent
    )
    assert "SUCCESS" in out


@pytest.mark.parametrize("tests", TESTS, ids=_id)
def test_promtool_test_rules(promtool_bin: str, tests: Path) -> None:
    out = _run([promtool_bin, "test", "rules", tests.name], cwd=tests.parent)
    assert "SUCCESS" in out
    assert "FAILED" not in out


@pytest.mark.parametrize("config", ALERTMANAGERS, ids=_id)
def test_amtool_check_config(amtool_bin: str, config: Path) -> None:
    out = _run([amtool_bin, "check-config", config.name], cwd=config.parent)
    assert "SUCCESS" in out


def test_prometheus_rule_manifests_hold_valid_rules(promtool_bin: str, tmp_path: Path) -> None:
    import yaml

    from globalmon.spec import load_spec
    from rules_generator.generate import generate

    _, spec, _ = CASES[0]
    files = generate(load_spec(spec), spec.name, format="prometheus-operator")
    manifests = [yaml.safe_load(t) for p, t in files.items() if "prometheusrule-" in p]
    assert manifests
    for m in manifests:
        path = tmp_path / f"{m['metadata']['name']}.yml"
        path.write_text(yaml.safe_dump(m["spec"]))
        assert "SUCCESS" in _run(
            [promtool_bin, "check", "rules", "--lint-fatal", path.name], cwd=tmp_path
        )
