"""`globalmon stack`: a two-region stack on real Prometheus and Alertmanager, a scenario's
timeline, and a clean stop."""

from __future__ import annotations

import contextlib
import json
import os
import re
import textwrap
import time
import urllib.parse
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from selenium.webdriver.remote.webdriver import WebDriver

from globalmon.cli import main
from globalmon.conventions import AlertName
from local_stack import runner, scenarios, servers
from local_stack.timeline import until
from tests.integration import console_pages

pytestmark = pytest.mark.integration


def two_regions(path: Path) -> Path:
    names = (
        "am0", "am1", "hook", "global", "p_eu", "p_us", "pe_eu", "pe_us", "sc_eu", "reg",
        "a_eu", "a_eu2", "a_us", "health",
    )  # fmt: skip
    p = dict(zip(names, servers.free_ports(len(names)), strict=True))
    path.write_text(
        textwrap.dedent(
            f"""
            version: v1
            global:
              alertmanager_urls: [http://127.0.0.1:{p["am0"]}, http://127.0.0.1:{p["am1"]}]
              webhook_url: http://127.0.0.1:{p["hook"]}
              global_view: {{mode: remote_write, url: "http://127.0.0.1:{p["global"]}"}}
              escalation_policy: standard
            regions:
              - id: eu-west-1
                name: EU
                prometheus_urls: ["http://127.0.0.1:{p["p_eu"]}"]
                endpoints:
                  plugin_exporter: 127.0.0.1:{p["pe_eu"]}
                  sidecar: 127.0.0.1:{p["sc_eu"]}
                  registry_url: http://127.0.0.1:{p["reg"]}/api/v1/registry/targets
                agents:
                  - id: euw1-web-01
                    type: system
                    address: 127.0.0.1:{p["a_eu"]}
                    processes: [{{name: web, match: "^globalmon-stand-in-web"}}]
                    probes:
                      - {{type: http, name: health, url: "http://127.0.0.1:{p["health"]}/healthz"}}
                  - {{id: euw1-api-01, type: application, address: "127.0.0.1:{p["a_eu2"]}"}}
              - id: us-east-1
                name: US
                prometheus_urls: ["http://127.0.0.1:{p["p_us"]}"]
                endpoints: {{plugin_exporter: "127.0.0.1:{p["pe_us"]}"}}
                agents:
                  - {{id: use1-web-01, type: system, address: "127.0.0.1:{p["a_us"]}"}}
            services:
              - {{name: web, depends_on: [api]}}
              - name: api
                slos:
                  - {{name: availability, objective: 99.9, window: 28d,
                     sli: {{kind: availability}}}}
            plugins:
              - {{id: payments, owner: team-payments}}
            forecasts:
              - {{name: cpu, expr: "agent:globalmon_host_cpu_busy:ratio_rate5m", horizons: [1h],
                 limit: 0.95}}
            receivers:
              - {{type: webhook, name: ops-hook, url: "http://127.0.0.1:1/hook"}}
              - type: email
                name: oncall-email
                to: [oncall@example.com]
                sender: globalmon@example.com
                smarthost: 127.0.0.1:1
            escalation_policies:
              - name: standard
                steps:
                  - {{after: 0s, notify: [ops-hook]}}
                  - {{after: 1m, notify: [oncall-email]}}
            recovery_actions:
              - name: restart-api
                type: docker_restart
                matchers: ['alertname="ServiceResponseTimeHigh"', 'service="api"']
                container: "api-{{{{ labels.region }}}}"
                verify:
                  expr: >-
                    histogram_quantile(0.95, sum by (le) (rate(
                    globalmon_service_request_duration_seconds_bucket{{service="api"}}[1m]))) < 0.5
                  within: 2m
              - name: restart-payments
                type: systemd_restart
                matchers: ['alertname="PluginMemoryLeak"', 'plugin="payments"']
                unit: payments.service
            """
        )
    )
    return path


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    tmp = tmp_path_factory.mktemp("stack")
    root = tmp / "stack"
    spec = two_regions(tmp / "spec.yaml")
    lines: list[str] = []
    try:
        runner.up(spec, root, say=lines.append, timeout=180)
    except runner.StackError as exc:
        pytest.fail(f"{exc}\n" + "\n".join(lines))
    try:
        yield root
    finally:
        if (root / runner.STATE).exists():
            runner.down(root, say=lambda _line: None)


def test_up(stack: Path) -> None:
    rows = runner.status(stack)
    kinds = sorted({r["kind"] for r in rows})
    assert kinds == [
        "agent", "alertmanager", "console", "plugin-exporter", "prometheus", "registry",
        "sidecar", "webhook", "world",
    ]  # fmt: skip
    assert all(r["ready_now"] for r in rows), runner.table(rows)
    assert main(["stack", "status", "--dir", str(stack)]) == 0

    # nothing but the Watchdog fires on a healthy stack (no start-up gaps)
    for p in (r for r in rows if r["kind"] == "prometheus"):
        alerts = servers.get_json(p["url"] + "/api/v1/alerts")["data"]["alerts"]
        assert {a["labels"]["alertname"] for a in alerts} <= {"Watchdog"}, (p["name"], alerts)

    # the dead man's switch reads the webhook's Watchdog gauge as each region scrapes it
    for p in (r for r in rows if r["kind"] == "prometheus" and r["region"]):
        expr = urllib.parse.quote(
            f'globalmon_webhook_watchdog_last_seen_timestamp_seconds{{job="globalmon-webhook",'
            f'exported_region="{p["region"]}"}}'
        )

        def found(url: str = p["url"], expr: str = expr) -> list[Any] | None:
            result: list[Any] = servers.get_json(f"{url}/api/v1/query?query={expr}")["data"][
                "result"
            ]
            return result or None

        servers.wait_for(found, timeout=90, what=f"{p['name']}: the webhook's Watchdog gauge")

    # the regions remote-write to the global Prometheus (its receiver), which federates nothing
    view = next(r["url"] for r in rows if r["name"] == "prometheus-global")
    assert "federate" not in (stack / "generated" / "prometheus" / "global.yml").read_text()
    expr = urllib.parse.quote('count by (region) (up{job="globalmon-agent"})')
    result = servers.get_json(f"{view}/api/v1/query?query={expr}")["data"]["result"]
    assert {r["metric"]["region"] for r in result} == {"eu-west-1", "us-east-1"}

    # the stack generated its rules from the demo profile of the spec (time scale 15), with no
    # promtool tests (they are written for production time); the user's spec is unchanged
    gen = stack / "generated" / "rules"
    fast = (gen / "eu-west-1.rules.yml").read_text()
    assert "[20s]" in fast
    assert "[5m]" not in fast
    assert not (gen / "tests").exists()
    assert "time_scale: 15" in (stack / "spec.yaml").read_text()
    # each service is scraped by its own job, which gives it the region and service labels
    expr = urllib.parse.quote('count by (job, region, service) (up{job=~"api|web"})')
    eu = next(r["url"] for r in rows if r["name"] == "prometheus-eu-west-1")
    result = servers.get_json(f"{eu}/api/v1/query?query={expr}")["data"]["result"]
    assert {(r["metric"]["job"], r["metric"]["service"]) for r in result} == {
        ("api", "api"),
        ("web", "web"),
    }


@pytest.fixture(scope="module")
def browser() -> Iterator[WebDriver]:
    from tests.console.browser import available, chromium

    assert available(), "chromium and chromedriver are missing: run `make setup`"
    with chromium() as driver:
        yield driver


@pytest.mark.parametrize(
    "check",
    [
        console_pages.acknowledge_an_incident,
        console_pages.find_an_error_log,
        console_pages.see_capacity,
        console_pages.hostile_values_stay_text,
    ],
    ids=lambda f: f.__name__,
)
def test_console_in_a_browser(
    stack: Path, browser: WebDriver, check: Callable[[WebDriver, Path], None]
) -> None:
    """The console of the running stack, used in Debian's chromium as a person would. With
    GLOBALMON_SCREENSHOTS=DIR each page is saved there (docs/img holds the docs' copies)."""
    browser.delete_all_cookies()
    browser.get("about:blank")
    check(browser, stack)
    browser.execute_script("sessionStorage.clear()")


def test_the_alert_path_pages_without_the_webhook(stack: Path) -> None:
    """With the webhook dead, WebhookDown still reaches the on-call's first receiver: sent by
    Alertmanager itself (its meta receiver), not through the webhook."""
    [hook] = [p for p in runner.procs(stack) if p["kind"] == "webhook"]
    since = time.time()
    scenarios._kill(hook)
    try:

        def names(n: dict[str, Any]) -> set[str]:
            try:
                alerts = json.loads(n["body"]).get("alerts", [])
            except (ValueError, AttributeError):
                return set()
            return {a.get("labels", {}).get("alertname") for a in alerts}

        def paged() -> list[dict[str, Any]]:
            # Not a search of the body's text: the meta route's group key names every alert
            # it matches, so AlertmanagerNotificationsFailing's page (the dead webhook fails
            # deliveries too) also holds the string "WebhookDown".
            return [
                n
                for n in scenarios._world_records(stack, "notification", since)
                if AlertName.WEBHOOK_DOWN in names(n)
            ]

        pages = until("WebhookDown delivered by Alertmanager", paged, 90)
        assert {n["receiver"] for n in pages} == {"ops-hook"}  # the policy's first step
        body = json.loads(pages[0]["body"])
        assert body["receiver"] == "globalmon-meta"  # Alertmanager's own webhook payload
        assert {a["labels"]["alertname"] for a in body["alerts"]} == {AlertName.WEBHOOK_DOWN}
    finally:
        scenarios._restart(stack, hook)
    servers.wait_for(
        lambda: None if scenarios._hook_get(stack, "/api/v1/incidents?limit=1") is None else True,
        timeout=30,
        what="the webhook back",
    )


# Each scenario's milestones in order (optional ones may be missing), and bounds generous
# enough for a loaded 2-core CI machine; `make demo` prints the real figures.
EXPECTED = {
    "plugin-memory-leak": (
        ["breach", "detected", "alert firing", "webhook received", "action", "recovered",
         "action done", "resolved"],
        {"detected": 20, "alert firing": 45, "webhook received": 60, "resolved": 120},
    ),
    "agent-offline": (
        ["breach", "detected", "alert firing", "webhook received", "notified",
         "agent restarted", "resolved"],
        {"detected": 10, "alert firing": 20, "webhook received": 30, "resolved": 90},
    ),
    "latency-spike": (
        ["breach", "detected", "alert firing", "webhook received", "action", "recovered",
         "verified", "resolved"],
        {"detected": 15, "alert firing": 30, "webhook received": 40, "verified": 90,
         "resolved": 120},
    ),
    "error-burst": (
        ["breach", "detected", "alert firing", "webhook received", "notified", "burst over",
         "resolved"],
        {"detected": 15, "alert firing": 30, "webhook received": 40, "resolved": 120},
    ),
    "region-outage": (
        ["breach", "detected", "alert firing", "webhook received", "dependants inhibited",
         "agents restarted", "resolved"],
        {"detected": 10, "alert firing": 20, "webhook received": 30, "resolved": 90},
    ),
}  # fmt: skip


@pytest.mark.parametrize("name", list(EXPECTED))
def test_scenario(stack: Path, name: str) -> None:
    assert set(EXPECTED) == set(scenarios.SCENARIOS)
    timeline = scenarios.SCENARIOS[name](stack, lambda _line: None)
    print(timeline.render(scenarios.TARGETS))
    order, bounds = EXPECTED[name]
    assert [n for n, _, _ in timeline.steps if n != "alert pending"] == order
    times = [t for _, t, _ in timeline.steps]
    assert times == sorted(times)
    for step, bound in bounds.items():
        assert timeline.at(step) < bound, (step, timeline.render(scenarios.TARGETS))


def test_boards_show_the_running_stack(stack: Path) -> None:
    """Every panel query of the stack's generated boards returns data: on the global Prometheus
    (the boards' default data source) or on the region's, as a user picks it."""
    variables = {"region": "eu-west-1", "service": "api", "plugin": "payments", "target": "cpu"}
    rows = runner.procs(stack)
    sources = [
        r["url"] for r in rows if r["kind"] == "prometheus" and r["region"] in (None, "eu-west-1")
    ]
    queries = []
    for path in sorted((stack / "generated" / "grafana" / "dashboards").glob("*.json")):
        board = json.loads(path.read_text())
        for panel in board["panels"]:
            for target in panel.get("targets", []):
                expr = target["expr"].replace("${__range}", "1h")
                expr = re.sub(r"\$\{?(\w+)\}?", lambda m: variables.get(m[1], m[0]), expr)
                queries.append((f"{board['uid']}: {panel['title']}", expr))
    assert len(queries) > 30

    def empty() -> list[str] | None:
        missing = [
            name
            for name, expr in queries
            if name not in MAY_BE_EMPTY and not any(_has_data(u, expr) for u in sources)
        ]
        return missing or None

    # the sidecars' first fits need a minute of history: wait for them, then name what is empty
    with contextlib.suppress(servers.NotReady):
        servers.wait_for(
            lambda: None if empty() else True, timeout=120, what="board data", interval=2
        )
    assert empty() is None


# Panels whose series are absent by design on a healthy stack, and why.
MAY_BE_EMPTY = {
    "globalmon-capacity: Time to exhaustion": "absent unless a forecast crosses its limit",
}


def _has_data(url: str, expr: str) -> bool:
    data = servers.get_json(f"{url}/api/v1/query?query={urllib.parse.quote(expr)}")
    assert data["status"] == "success", (expr, data)
    return bool(data["data"]["result"])


def test_down(stack: Path, capsys: pytest.CaptureFixture[str]) -> None:
    # a second stack: not in the same directory, not on the same ports
    with pytest.raises(runner.StackError, match="already up"):
        runner.up(stack / "spec.yaml", stack, say=lambda _line: None)
    other = stack.parent / "other"
    with pytest.raises(runner.StackError, match="ports in use"):
        runner.up(stack / "spec.yaml", other, say=lambda _line: None)
    assert not (other / runner.STATE).exists()

    pids = [r["pid"] for r in runner.procs(stack)]
    assert main(["stack", "down", "--dir", str(stack)]) == 0
    assert not [pid for pid in pids if _running(pid)]
    assert main(["stack", "status", "--dir", str(stack)]) == 1
    assert "no stack in" in capsys.readouterr().err


def _running(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    status = Path(f"/proc/{pid}/status").read_text()
    return "\nState:\tZ" not in status
