"""Valid specs load whole, with the seed design's defaults; field types behave as documented."""

from __future__ import annotations

import typing
from pathlib import Path

import pytest

from globalmon.conventions import ALERTS, Severity
from globalmon.spec import Spec, load_spec, load_spec_text
from globalmon.spec.alerting import SeverityName
from globalmon.spec.types import duration_seconds, format_duration, promql_problem

EXAMPLES = Path(__file__).resolve().parent.parent.parent / "examples"


@pytest.mark.parametrize("name", ["minimal.yaml", "regions.yaml"])
def test_examples_load(name: str) -> None:
    assert isinstance(load_spec(EXAMPLES / name), Spec)


def test_minimal_spec_gets_the_seed_design_defaults() -> None:
    spec = load_spec(EXAMPLES / "minimal.yaml")
    t = spec.defaults.thresholds
    assert (t.cpu_percent, t.memory_percent, t.disk_percent) == (80, 85, 90)
    assert (t.response_time, t.error_rate_percent) == ("1s", 5)
    assert t.heartbeat_stale_after == "60s"
    assert (t.region_degraded_below, t.region_failed_below) == (0.8, 0.5)
    assert t.escalate_after == "5m"
    assert spec.global_.scrape_interval == "15s"
    assert spec.enabled_alerts() == [a.name for a in ALERTS]


def test_example_spec_holds_what_the_seed_design_describes() -> None:
    spec = load_spec(EXAMPLES / "regions.yaml")
    assert [r.id for r in spec.regions] == ["us-east-1", "us-west-2", "eu-west-1", "ap-northeast-1"]
    assert {a.type for _, a in spec.agents()} == {"system", "application", "database", "network"}
    assert {"web", "api", "db", "cache", "queue"} <= {s.name for s in spec.services}
    assert len(spec.plugins) == 2
    assert {f.name for f in spec.forecasts} >= {"cpu", "memory", "disk"}
    assert max(len(p.steps) for p in spec.escalation_policies) >= 3
    assert len(spec.recovery_actions) >= 3
    assert spec.summary() == "4 regions, 13 agents, 6 services, 2 plugins, 4 SLOs, 36 alerts"


def test_disabling_an_alert_removes_it_from_the_enabled_list() -> None:
    spec = load_spec_text(
        "version: v1\n"
        "defaults: {alerts: {Watchdog: {enabled: false}}}\n"
        "regions: [{id: r1, name: R1, prometheus_urls: ['http://127.0.0.1:9090']}]\n"
    )
    assert "Watchdog" not in spec.enabled_alerts()
    assert len(spec.enabled_alerts()) == len(ALERTS) - 1


def test_spec_is_immutable_after_loading() -> None:
    spec = load_spec(EXAMPLES / "minimal.yaml")
    with pytest.raises(ValueError, match="frozen"):
        spec.regions[0].id = "other"  # type: ignore[misc]


def test_yaml_anchors_and_merge_keys_load() -> None:
    # Unknown top-level keys are refused, so anchors live inside known sections.
    spec = load_spec_text(
        "version: v1\n"
        "regions:\n"
        "  - id: r1\n"
        "    name: R1\n"
        "    prometheus_urls: ['http://127.0.0.1:9090']\n"
        "    agents:\n"
        "      - &agent {id: a1, type: system, address: '127.0.0.1:9464'}\n"
        "      - {<<: *agent, id: a2}\n"
    )
    assert [a.id for _, a in spec.agents()] == ["a1", "a2"]


def test_severity_names_match_the_conventions() -> None:
    assert set(typing.get_args(SeverityName)) == {s.value for s in Severity}


@pytest.mark.parametrize(
    ("text", "seconds"),
    [
        ("0", 0),
        ("0s", 0),
        ("30s", 30),
        ("5m", 300),
        ("1h30m", 5400),
        ("1d", 86400),
        ("2w", 1209600),
        ("1y", 31536000),
        ("1500ms", 1.5),
        ("1m30s500ms", 90.5),
    ],
)
def test_durations_parse_like_prometheus(text: str, seconds: float) -> None:
    assert duration_seconds(text) == seconds


@pytest.mark.parametrize("text", ["", "5", "5 m", "1h1h", "5m1h", "-1s", "1.5h", "5M"])
def test_bad_durations_are_refused(text: str) -> None:
    with pytest.raises(ValueError, match="not a Prometheus duration"):
        duration_seconds(text)


@pytest.mark.parametrize(
    ("seconds", "text"),
    [(0, "0s"), (300, "5m"), (5400, "1h30m"), (90.5, "1m30s500ms"), (86400 * 8, "1w1d")],
)
def test_durations_format_back(seconds: float, text: str) -> None:
    assert format_duration(seconds) == text
    assert duration_seconds(text) == seconds


@pytest.mark.parametrize(
    "expr",
    [
        'sum by (le) (rate(x_bucket{job="a"}[5m]))',
        'up{job=~"a|b", path="/)"}',  # brackets inside strings do not count
        "foo # a comment with an unmatched (",
        "`raw string with ( and \\`",
        'label_replace(up, "a", "$1", "b", "(.*)")',
    ],
)
def test_plausible_promql_passes_the_quick_check(expr: str) -> None:
    assert promql_problem(expr) is None


@pytest.mark.parametrize(
    ("expr", "problem"),
    [
        ("sum(rate(x[5m])", "unclosed '('"),
        ("x[5m]]", "unmatched ']'"),
        ('up{job="a}', 'unterminated "'),
        ("rate(x[5m)]", "unmatched ')'"),
        ("   ", "not an empty string"),
    ],
)
def test_broken_promql_is_caught(expr: str, problem: str) -> None:
    found = promql_problem(expr)
    assert found is not None
    assert problem in found
