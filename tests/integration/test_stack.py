"""`globalmon stack`: a two-region stack on real Prometheus and Alertmanager, a scenario's
timeline, and a clean stop."""

from __future__ import annotations

import os
import textwrap
from collections.abc import Iterator
from pathlib import Path

import pytest

from globalmon import servers
from globalmon.cli import main
from globalmon.stack import runner, scenarios

pytestmark = pytest.mark.integration


def two_regions(path: Path) -> Path:
    names = (
        "am0", "am1", "hook", "global", "p_eu", "p_us", "pe_eu", "pe_us", "sc_eu", "reg",
        "a_eu", "a_us", "health",
    )  # fmt: skip
    p = dict(zip(names, servers.free_ports(len(names)), strict=True))
    path.write_text(
        textwrap.dedent(
            f"""
            version: v1
            global:
              alertmanager_urls: [http://127.0.0.1:{p["am0"]}, http://127.0.0.1:{p["am1"]}]
              webhook_url: http://127.0.0.1:{p["hook"]}
              global_view: {{mode: federation, url: "http://127.0.0.1:{p["global"]}"}}
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
              - id: us-east-1
                name: US
                prometheus_urls: ["http://127.0.0.1:{p["p_us"]}"]
                endpoints: {{plugin_exporter: "127.0.0.1:{p["pe_us"]}"}}
                agents:
                  - {{id: use1-web-01, type: system, address: "127.0.0.1:{p["a_us"]}"}}
            services:
              - {{name: web, depends_on: [api]}}
              - {{name: api}}
            plugins:
              - {{id: payments, owner: team-payments}}
            forecasts:
              - {{name: cpu, expr: globalmon_host_cpu_usage_ratio, horizons: [1h], limit: 0.95}}
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
            """
        )
    )
    return path


@pytest.fixture
def stack(tmp_path: Path) -> Iterator[Path]:
    root = tmp_path / "stack"
    spec = two_regions(tmp_path / "spec.yaml")
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


def test_up_scenario_down(stack: Path, capsys: pytest.CaptureFixture[str]) -> None:
    rows = runner.status(stack)
    kinds = sorted({r["kind"] for r in rows})
    assert kinds == [
        "agent", "alertmanager", "plugin-exporter", "prometheus", "registry", "sidecar",
        "webhook", "world",
    ]  # fmt: skip
    assert all(r["ready_now"] for r in rows), runner.table(rows)
    assert main(["stack", "status", "--dir", str(stack)]) == 0

    # nothing but the Watchdog fires on a healthy stack (no start-up gaps)
    for p in (r for r in rows if r["kind"] == "prometheus"):
        alerts = servers.get_json(p["url"] + "/api/v1/alerts")["data"]["alerts"]
        assert {a["labels"]["alertname"] for a in alerts} <= {"Watchdog"}, (p["name"], alerts)

    timeline = scenarios.agent_offline(stack, lambda _line: None)
    order = [name for name, _, _ in timeline.steps]
    assert [n for n in order if n != "alert pending"] == [
        "breach", "detected", "alert firing", "webhook received", "notified", "agent restarted",
        "resolved",
    ]  # fmt: skip
    at = dict((name, t) for name, t, _ in timeline.steps)
    # bounds generous enough for a loaded 2-core CI machine (the demo prints the real ones)
    assert at["detected"] < 10
    assert at["alert firing"] < 20
    assert at["webhook received"] < 30
    assert at["resolved"] - at["agent restarted"] < 60
    print(timeline.render(scenarios.TARGETS))

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
