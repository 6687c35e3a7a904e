"""Every name in globalmon/conventions.py follows Prometheus' naming rules."""

from __future__ import annotations

import re

import pytest

from globalmon import conventions as c
from globalmon.spec.types import ALERT_NAME_PATTERN, LABEL_NAME_PATTERN

BASE_UNITS = ("_seconds", "_bytes", "_ratio", "_total", "_info", "_count")
FORBIDDEN_LABELS = {"fingerprint", "alert_id", "user", "user_id", "message", "traceback"}


@pytest.mark.parametrize("metric", c.METRICS, ids=lambda m: m.name)
def test_metric_names_follow_prometheus_conventions(metric: c.MetricDef) -> None:
    assert metric.name.startswith(c.PREFIX)
    assert re.fullmatch(r"[a-z_][a-z0-9_]*", metric.name)
    if metric.type == "counter":
        assert metric.name.endswith("_total")
    else:
        assert not metric.name.endswith("_total")
    if metric.type == "info":
        assert metric.name.endswith("_info")
    for unit in ("_milliseconds", "_percent", "_kilobytes", "_megabytes", "_minutes"):
        assert unit not in metric.name
    assert metric.help.endswith(".")
    for label in metric.labels:
        assert re.fullmatch(LABEL_NAME_PATTERN, label)
        assert label not in FORBIDDEN_LABELS, "unbounded label"


def test_metric_names_are_unique() -> None:
    names = [m.name for m in c.METRICS]
    assert len(names) == len(set(names)) > 10


def test_recording_rules_are_level_metric_operations() -> None:
    names = [v for k, v in vars(c).items() if k.startswith("RECORD_")]
    assert names
    for name in names:
        parts = name.split(":")
        assert len(parts) == 3, name
        assert all(parts), name


def test_alert_catalogue_names_are_unique_camel_case() -> None:
    names = [a.name for a in c.ALERTS]
    assert len(names) == len(set(names))
    assert all(re.fullmatch(ALERT_NAME_PATTERN, n) for n in names)
    assert set(c.ALERTS_BY_NAME) == set(names)


def test_every_scope_has_alerts() -> None:
    for scope in c.Scope:
        assert c.alerts_in_scope(scope), scope


def test_rule_groups_share_the_prefix() -> None:
    groups = [v for k, v in vars(c).items() if k.startswith("GROUP_")]
    assert groups
    assert all(g.startswith("globalmon.") for g in groups)
