"""Rule groups to Prometheus rule files and promtool test files (plain data, no I/O)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from rules_generator.context import expected_annotations
from rules_generator.model import Alert, Group, Recording

# promtool evaluates rules every evaluation_interval over input series spaced `interval`;
# they must agree or short-step mistakes hide (promtool's default evaluation_interval is 1m).
TEST_STEP = "1m"


def _as_written(expr: str) -> str:
    return expr


def rule_file(groups: list[Group], scale: Callable[[str], str] = _as_written) -> dict[str, Any]:
    """``scale``: the spec's time scale applied to each expression (``Spec.scaled``)."""
    out = []
    for g in groups:
        rules: list[dict[str, Any]] = []
        for r in g.rules:
            if isinstance(r, Recording):
                rule: dict[str, Any] = {"record": r.record, "expr": scale(r.expr)}
                if r.labels:
                    rule["labels"] = dict(r.labels)
            else:
                rule = {"alert": r.name, "expr": scale(r.expr)}
                if r.for_ not in ("0s", "0"):
                    rule["for"] = r.for_
                if r.keep_firing_for not in ("0s", "0"):
                    rule["keep_firing_for"] = r.keep_firing_for
                rule["labels"] = dict(r.labels)
                rule["annotations"] = dict(r.annotations)
            rules.append(rule)
        group: dict[str, Any] = {"name": g.name}
        if g.interval:
            group["interval"] = g.interval
        out.append({**group, "rules": rules})
    return {"groups": out}


def test_file(rule_path: str, groups: list[Group]) -> dict[str, Any]:
    tests = []
    for g in groups:
        for r in g.rules:
            if isinstance(r, Alert):
                tests += [_case(g, r, i) for i in range(len(r.cases))]
    return {"rule_files": [rule_path], "evaluation_interval": TEST_STEP, "tests": tests}


def _case(group: Group, alert: Alert, index: int) -> dict[str, Any]:
    case = alert.cases[index]
    exp: list[dict[str, Any]] = []
    if case.labels is not None:
        exp.append(
            {"exp_labels": dict(case.labels), "exp_annotations": expected_annotations(alert, case)}
        )
    test: dict[str, Any] = {"name": f"{group.name} {alert.name} {case.name}", "interval": TEST_STEP}
    if case.series:
        test["input_series"] = [{"series": s.selector, "values": s.values} for s in case.series]
    test["alert_rule_test"] = [
        {"eval_time": f"{case.eval_minutes}m", "alertname": alert.name, "exp_alerts": exp}
    ]
    return test
