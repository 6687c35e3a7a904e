"""What a person does on the console of a running stack, in Debian's chromium: the checks the
stack's tests run (tests/integration/test_stack.py) while the stack is up."""

from __future__ import annotations

import json
import subprocess
import sys
import time
import urllib.request
import uuid
from pathlib import Path
from typing import Any

from selenium.webdriver.common.by import By
from selenium.webdriver.remote.webdriver import WebDriver
from selenium.webdriver.remote.webelement import WebElement
from selenium.webdriver.support.ui import Select

from globalmon.access import SHARED
from local_stack import runner, scenarios
from local_stack.timeline import until
from tests.console.browser import screenshot, wait

OPERATOR = "Ada Lovelace"


def console_url(stack: Path) -> str:
    [console] = [p["url"] for p in runner.procs(stack) if p["kind"] == "console"]
    return str(console)


def sign_in(d: WebDriver, stack: Path) -> None:
    wait(d, lambda d: d.find_element(By.ID, "sign-in"), 20, "the sign-in form")
    d.find_element(By.ID, "operator-name").send_keys(OPERATOR)
    d.find_element(By.ID, "operator-token").send_keys(
        runner.token(stack, "GLOBALMON_WEBHOOK_TOKEN")
    )
    d.find_element(By.CSS_SELECTOR, "#sign-in button").click()
    wait(d, lambda d: OPERATOR in d.find_element(By.ID, "operator").text, 10, "signed in")


def _post(url: str, token: str, body: dict[str, Any]) -> Any:
    request = urllib.request.Request(
        url,
        data=json.dumps(body).encode(),
        headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=10) as r:
        return json.loads(r.read())


def _audit(stack: Path) -> list[dict[str, Any]]:
    """The webhook's audit trail as `globalmon audit export` writes it."""
    out = subprocess.run(
        [
            sys.executable,
            "-m",
            "globalmon",
            "audit",
            "export",
            "--db",
            str(stack / "data" / "webhook.db"),
        ],
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    ).stdout
    return [json.loads(line) for line in out.splitlines()]


def acknowledge_an_incident(d: WebDriver, stack: Path) -> None:
    """An agent of eu-west-1 is killed; its AgentDown incident shows on the incidents page, is
    acknowledged there, and the audit trail names the operator. The agent is then restarted and
    the incident resolves."""
    console = console_url(stack)
    agent = scenarios._agents_by_region(stack)["eu-west-1"][-1]
    agent_id = agent["name"].removeprefix("agent-")
    d.get(f"{console}/#/incidents?state=firing&region=eu-west-1&alertname=AgentDown")
    sign_in(d, stack)
    scenarios._kill(agent)
    try:

        def listed(d: WebDriver) -> WebElement | None:
            rows = d.find_elements(By.CSS_SELECTOR, "tr[data-incident]")
            if not rows:
                d.find_element(By.CSS_SELECTOR, "#incident-filters button").click()  # fetch anew
                return None
            return rows[0]

        row = wait(d, listed, 60, "the AgentDown incident in the list", interval=1.0)
        screenshot(d, "incidents")
        incident = int(row.get_attribute("data-incident") or 0)
        row.click()
        wait(d, lambda d: d.find_element(By.ID, "acknowledge"), 10, "the Acknowledge button")
        assert agent_id in d.find_element(By.ID, "incident").text  # its labels are shown
        d.find_element(By.ID, "note").send_keys("looking at it")
        d.find_element(By.ID, "acknowledge").click()
        wait(
            d,
            lambda d: f"by {OPERATOR}" in d.find_element(By.ID, "incident").text,
            10,
            "the incident acknowledged by the operator",
        )
        assert d.find_elements(By.CSS_SELECTOR, "#incident .state-acknowledged")
        screenshot(d, "incident")
        acknowledged = [
            r
            for r in _audit(stack)
            if r["kind"] == "acknowledged" and r["data"]["incident"] == incident
        ]
        # the stack's console signs in with the shared token: the name is the person's claim
        assert [(r["data"]["by"], r["data"]["note"]) for r in acknowledged] == [
            (f"{OPERATOR} (claimed, {SHARED})", "looking at it")
        ]
    finally:
        scenarios._restart(stack, agent)

    def resolved() -> bool:
        found = scenarios._hook_get(stack, f"/api/v1/incidents/{incident}")
        return bool(found and found["state"] == "resolved")

    until("the incident resolved after the restart", resolved, 90)


def find_an_error_log(d: WebDriver, stack: Path) -> None:
    """A plugin's error log with its traceback is found through the filters; a new one arrives
    live (the exporter's stream), an info line posted meanwhile does not pass the level filter;
    the overview charts the plugin's series from Prometheus."""
    console = console_url(stack)
    [exporter] = [
        p["url"]
        for p in runner.procs(stack)
        if p["kind"] == "plugin-exporter" and p["region"] == "eu-west-1"
    ]
    token = runner.token(stack, "GLOBALMON_INGEST_TOKEN")
    logs = f"{exporter}/api/advanced-monitoring/plugins/payments/logs"
    marker = uuid.uuid4().hex[:8]
    for n in range(3):
        _post(logs, token, {"level": "info", "message": f"charge {n} accepted {marker}"})
    _post(
        logs,
        token,
        {
            "level": "error",
            "message": f"settlement failed {marker}",
            "context": {"order": "A-2"},
            "traceback": "Traceback (most recent call last):\n"
            '  File "psp.py", line 12, in settle\n    ratio = total / count\n'
            f"ZeroDivisionError: division by zero ({marker})",
        },
    )
    d.get(f"{console}/#/regions")
    wait(d, lambda d: d.find_element(By.CSS_SELECTOR, '[data-region="eu-west-1"]'), 20, "regions")
    screenshot(d, "regions")
    # the drill-down: region, then plugin, then its logs
    d.find_element(By.CSS_SELECTOR, '[data-region="eu-west-1"]').find_element(
        By.LINK_TEXT, "payments"
    ).click()
    # plugin data needs a viewer credential: the page says so until one signs in
    wait(d, lambda d: "Sign in" in d.find_element(By.TAG_NAME, "main").text, 20, "sign-in notice")
    sign_in(d, stack)
    wait(d, lambda d: d.find_element(By.CSS_SELECTOR, 'a[data-tab="logs"]'), 20, "plugin tabs")
    d.find_element(By.CSS_SELECTOR, 'a[data-tab="logs"]').click()
    wait(d, lambda d: d.find_element(By.ID, "logs-table"), 20, "the logs table")
    Select(d.find_element(By.NAME, "level")).select_by_value("error")
    d.find_element(By.NAME, "text").send_keys(marker)
    d.find_element(By.CSS_SELECTOR, "#plugin-filters button").click()

    def only_the_error(d: WebDriver) -> WebElement | None:
        rows = d.find_elements(By.CSS_SELECTOR, "#logs-table tr[data-log]")
        texts = [r.text for r in rows]
        if len(rows) == 1 and f"settlement failed {marker}" in texts[0]:
            return rows[0]
        return None

    row = wait(d, only_the_error, 20, "the error log, and only it, after filtering")
    row.click()
    trace = wait(d, lambda d: d.find_element(By.CSS_SELECTOR, "pre.traceback"), 10, "traceback")
    assert f"ZeroDivisionError: division by zero ({marker})" in trace.text
    screenshot(d, "logs")

    wait(d, lambda d: d.find_element(By.ID, "live").text == "● live", 20, "the live stream")
    _post(logs, token, {"level": "info", "message": f"charge 4 accepted {marker}"})
    _post(logs, token, {"level": "error", "message": f"refund failed {marker}"})
    wait(
        d,
        lambda d: f"refund failed {marker}" in d.find_element(By.ID, "logs-table").text,
        20,
        "the new error log, live",
    )
    assert "accepted" not in d.find_element(By.ID, "logs-table").text

    d.find_element(By.CSS_SELECTOR, 'a[data-tab="overview"]').click()
    wait(d, lambda d: d.find_element(By.CSS_SELECTOR, '[data-chart="CPU"]'), 20, "the charts")
    Select(d.find_element(By.NAME, "hours")).select_by_value("0.25")
    d.find_element(By.CSS_SELECTOR, "#plugin-filters button").click()

    def charted(d: WebDriver) -> bool:
        card = d.find_element(By.CSS_SELECTOR, '[data-chart="CPU"]')
        return bool(card.find_elements(By.CSS_SELECTOR, "polyline"))  # two points or more

    wait(d, charted, 30, "the plugin's CPU series charted from Prometheus")
    screenshot(d, "plugin")


def see_capacity(d: WebDriver, stack: Path) -> None:
    d.get(f"{console_url(stack)}/#/capacity")

    def cpu_rows(d: WebDriver) -> list[WebElement] | None:
        rows = d.find_elements(By.CSS_SELECTOR, "tr.capacity-row")
        return [r for r in rows if r.text.startswith("cpu")] or None

    rows = wait(d, cpu_rows, 30, "the cpu forecast target's series")
    assert any("agent=euw1-web-01" in r.text for r in rows)
    screenshot(d, "capacity")


def hostile_values_stay_text(d: WebDriver, stack: Path) -> None:
    """Label and annotation values with markup show as the text they are."""
    hook = next(p["url"] for p in runner.procs(stack) if p["kind"] == "webhook")
    token = runner.token(stack, "GLOBALMON_WEBHOOK_TOKEN")
    payload = (
        '<img src=x onerror="document.title=\'owned\'"><script>document.title="owned"</script>'
    )
    starts = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    alert = {
        "status": "firing",
        "labels": {
            "alertname": "ConsoleMarkup",
            "severity": "warning",
            "region": "eu-west-1",
            "service": payload,
        },
        "annotations": {"summary": payload},
        "startsAt": starts,
        "endsAt": "0001-01-01T00:00:00Z",
        "fingerprint": uuid.uuid4().hex[:16],
    }
    body = {"version": "4", "status": "firing", "receiver": "globalmon-webhook", "groupKey": "{}",
            "alerts": [alert]}  # fmt: skip
    _post(f"{hook}/webhook", token, body)
    [found] = scenarios._hook_get(stack, "/api/v1/incidents?alertname=ConsoleMarkup")["incidents"]
    try:
        d.get(f"{console_url(stack)}/#/incidents/{found['id']}")
        sign_in(d, stack)
        text = wait(
            d,
            lambda d: (
                payload in d.find_element(By.ID, "incident").text
                and d.find_element(By.ID, "incident").text
            ),
            20,
            "the markup shown as text",
        )
        assert text
        assert d.title == "globalmon console"
        assert not d.find_elements(By.CSS_SELECTOR, "main img, main script")
    finally:
        _post(f"{hook}/webhook", token, {**body, "status": "resolved", "alerts": [
            {**alert, "status": "resolved", "endsAt": starts}]})  # fmt: skip
