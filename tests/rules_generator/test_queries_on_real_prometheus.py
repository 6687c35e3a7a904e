"""Every generated rule expression and dashboard query runs on a real Prometheus with data.

The Prometheus holds synthetic history for every metric in globalmon/conventions.py (written
with `promtool tsdb create-blocks-from openmetrics`) and evaluates the example's generated rules
for us-east-1, so queries over recording rules have data too.
"""

from __future__ import annotations

import re
import subprocess
import time
import urllib.parse
from collections.abc import Iterator
from typing import Any

import pytest
import yaml

from globalmon import conventions as c
from globalmon.spec import load_spec
from local_stack import servers
from rules_generator.dashboards import dashboards
from rules_generator.fixtures import openmetrics
from tests.rules_generator.cases import REPO

pytestmark = pytest.mark.integration

SPEC = REPO / "examples" / "regions.yaml"
GEN = REPO / "examples" / "_gen" / "regions"
REGION = "us-east-1"
VARIABLES = {"region": REGION, "service": "api", "plugin": "payment-gateway", "target": "cpu"}


def _substitute(expr: str) -> str:
    expr = expr.replace("${__range}", "1h")
    return re.sub(r"\$\{?(\w+)\}?", lambda m: VARIABLES.get(m[1], m[0]), expr)


def _query(url: str, expr: str) -> list[dict[str, Any]]:
    data = servers.get_json(f"{url}/api/v1/query?query={urllib.parse.quote(expr)}")
    assert data["status"] == "success", (expr, data)
    result: list[dict[str, Any]] = data["data"]["result"]
    return result


@pytest.fixture(scope="module")
def prometheus(
    prometheus_bin: str, promtool_bin: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[str]:
    work = tmp_path_factory.mktemp("queries")
    spec = load_spec(SPEC)
    history = work / "history.om"
    history.write_text(openmetrics(spec, spec.regions[0], end=time.time()))
    subprocess.run(
        [
            promtool_bin,
            "tsdb",
            "create-blocks-from",
            "openmetrics",
            str(history),
            str(work / "data"),
        ],
        check=True,
        capture_output=True,
        timeout=120,
    )
    config = work / "prometheus.yml"
    config.write_text(
        yaml.safe_dump(
            {
                "global": {"evaluation_interval": "1s"},
                "rule_files": [str(GEN / "rules" / f"{REGION}.rules.yml")],
            }
        )
    )
    server = servers.prometheus(prometheus_bin, config, work).start()
    try:
        server.wait_ready()
        # recording rules that read other recording rules need a few evaluations, and
        # ALERTS appears once the alerting groups have run
        for expr in (
            c.RECORD_REGION_HEALTH,
            c.RECORD_SLO_BUDGET_REMAINING,
            'ALERTS{alertname="Watchdog"}',
        ):
            _wait_for_data(server.url, expr)
        yield server.url
    finally:
        server.stop()


def _wait_for_data(url: str, expr: str) -> None:
    def found() -> bool | None:
        return True if _query(url, expr) else None

    servers.wait_for(found, timeout=60, what=f"data for {expr}")


def _rules() -> list[dict[str, Any]]:
    data = yaml.safe_load((GEN / "rules" / f"{REGION}.rules.yml").read_text())
    return [r for g in data["groups"] for r in g["rules"]]


def _panel_queries() -> list[tuple[str, str]]:
    out = []
    for uid, board in dashboards("regions.yaml").items():
        for panel in board["panels"]:
            for target in panel.get("targets", []):
                out.append((f"{uid}: {panel['title']}", target["expr"]))
    return out


def test_every_recording_rule_expression_returns_data(prometheus: str) -> None:
    empty = [r["record"] for r in _rules() if "record" in r and not _query(prometheus, r["expr"])]
    assert empty == []


def test_every_alert_expression_evaluates(prometheus: str) -> None:
    alerts = [r for r in _rules() if "alert" in r]
    assert len(alerts) > 50
    for rule in alerts:
        _query(prometheus, rule["expr"])  # asserts status success


def test_every_panel_query_returns_data(prometheus: str) -> None:
    queries = _panel_queries()
    assert len(queries) > 30
    empty = [name for name, expr in queries if not _query(prometheus, _substitute(expr))]
    assert empty == []


def test_every_template_variable_has_values(prometheus: str) -> None:
    seen = 0
    for uid, board in dashboards("regions.yaml").items():
        for var in board["templating"]["list"]:
            if var["type"] != "query":
                continue
            m = re.fullmatch(r"label_values\((.+), (\w+)\)", var["query"])
            assert m, var["query"]
            selector = urllib.parse.quote(_substitute(m[1]))
            data = servers.get_json(f"{prometheus}/api/v1/label/{m[2]}/values?match[]={selector}")
            assert data["data"], f"{uid}: ${var['name']} has no values"
            seen += 1
    assert seen == 7  # region on four boards, service, plugin, target


def test_dashboards_link_each_other_and_refresh_fast() -> None:
    boards = dashboards("regions.yaml")
    assert set(boards) == {
        c.DASH_OVERVIEW,
        c.DASH_REGION,
        c.DASH_SERVICE,
        c.DASH_PLUGIN,
        c.DASH_CAPACITY,
        c.DASH_INCIDENTS,
    }
    for board in boards.values():
        assert board["refresh"] == "10s"
    text = str(boards[c.DASH_OVERVIEW]) + str(boards[c.DASH_REGION])
    assert f"/d/{c.DASH_REGION}?var-region=" in text
    assert f"/d/{c.DASH_SERVICE}?var-region=" in text
    assert f"/d/{c.DASH_PLUGIN}?var-region=" in text


def test_generated_boards_are_the_committed_ones() -> None:
    for uid in dashboards("regions.yaml"):
        assert (GEN / "grafana" / "dashboards" / f"{uid}.json").is_file()


def test_boards_query_the_generated_recording_rules() -> None:
    joined = " ".join(e for _, e in _panel_queries())
    rules = (GEN / "rules" / f"{REGION}.rules.yml").read_text()
    for record in (
        c.RECORD_AGENTS_UP_RATIO,
        c.RECORD_SERVICE_ERROR_RATIO,
        c.RECORD_SLO_BUDGET_REMAINING,
        c.RECORD_FORECAST_INPUT,
    ):
        assert record in joined
        assert f"record: {record}" in rules
