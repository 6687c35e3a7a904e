"""Generated configs scrape real services under their own metric names, and every service rule
reads them: a real Prometheus runs the generated region config against real processes
instrumented as frameworks do (tests/integration/real_service.py), not globalmon's demo world.
"""

from __future__ import annotations

import subprocess
import sys
import textwrap
import urllib.parse
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from globalmon.spec import load_spec
from local_stack import servers
from rules_generator.generate import generate
from rules_generator.writer import write

pytestmark = pytest.mark.integration

REPO = Path(__file__).resolve().parent.parent.parent
SERVICES = {"shop": "prometheus-http", "catalog": "opentelemetry"}
FAST = "catalog"  # on services[].profile: fast


def _spec(ports: dict[str, int]) -> str:
    services = "".join(
        textwrap.dedent(
            f"""\
              - name: {name}
                scrape: {{static: ["127.0.0.1:{ports[name]}"]}}
                metrics: {{preset: {preset}}}
                profile: {"fast" if name == FAST else "standard"}
                thresholds: {{response_time: 300ms}}
                slos:
                  - {{name: availability, objective: 99.9, sli: {{kind: availability}}}}
                  - {{name: fast, objective: 99, sli: {{kind: latency, threshold: 250ms}}}}
            """
        )
        for name, preset in SERVICES.items()
    )
    return textwrap.dedent(
        f"""\
            version: v1
            global:
              scrape_interval: 2s  # the fast service: 1 s
              evaluation_interval: 2s
              alertmanager_urls: ["http://127.0.0.1:{ports["am"]}"]
              webhook_url: "http://127.0.0.1:{ports["webhook"]}"
            regions:
              - id: r1
                name: Region one
                prometheus_urls: ["http://127.0.0.1:{ports["prometheus"]}"]
            services:
            """
    ) + textwrap.indent(services, "  ")


@pytest.fixture(scope="module")
def prometheus(prometheus_bin: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    work = tmp_path_factory.mktemp("real-services")
    ports = dict(
        zip([*SERVICES, "prometheus", "am", "webhook"], servers.free_ports(5), strict=True)
    )
    spec_path = work / "spec.yaml"
    spec_path.write_text(_spec(ports))
    write(work / "gen", generate(load_spec(spec_path), "spec.yaml"))
    apps = [
        subprocess.Popen(
            [sys.executable, "-m", "tests.integration.real_service", preset, str(ports[name])],
            cwd=REPO,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        for name, preset in SERVICES.items()
    ]
    prom = servers.prometheus(
        prometheus_bin, work / "gen" / "prometheus" / "r1.yml", work, port=ports["prometheus"]
    )
    try:
        prom.start().wait_ready()
        yield prom.url
    finally:
        prom.stop()
        for app in apps:
            app.kill()
            app.wait(10)


def _rules(url: str) -> list[dict[str, Any]]:
    groups = servers.get_json(f"{url}/api/v1/rules")["data"]["groups"]
    return [r for g in groups for r in g["rules"] if r.get("labels", {}).get("service") in SERVICES]


def test_each_service_is_scraped_by_its_own_job_with_its_labels(prometheus: str) -> None:
    def up() -> set[tuple[str, str, str]] | None:
        q = urllib.parse.quote('up{job=~"shop|catalog"} == 1')
        res = servers.get_json(f"{prometheus}/api/v1/query?query={q}")["data"]["result"]
        found = {(r["metric"]["job"], r["metric"]["service"], r["metric"]["region"]) for r in res}
        return found if len(found) == len(SERVICES) else None

    assert servers.wait_for(up, timeout=60, what="both services scraped") == {
        ("shop", "shop", "r1"),
        ("catalog", "catalog", "r1"),
    }


def test_every_service_rule_reads_the_services_own_metrics(prometheus: str) -> None:
    """Every recording rule of each service returns a series, and every alert on it holds
    (pending or firing): a rule reading names the service does not expose would stay empty."""

    def all_hold() -> list[dict[str, Any]] | None:
        rules = _rules(prometheus)
        recorded = [r for r in rules if r["type"] == "recording"]
        for r in recorded:
            q = urllib.parse.quote(f'{r["name"]}{{service="{r["labels"]["service"]}"}}')
            res = servers.get_json(f"{prometheus}/api/v1/query?query={q}")["data"]["result"]
            if not res or res[0]["value"][1] in ("NaN", "+Inf", "-Inf"):
                return None
        alerts = [r for r in rules if r["type"] == "alerting"]
        if not recorded or any(a["state"] == "inactive" for a in alerts):
            return None
        return rules

    rules = servers.wait_for(all_hold, timeout=90, what="every service rule with data")
    by_service: dict[str, set[str]] = {}
    for r in rules:
        by_service.setdefault(r["labels"]["service"], set()).add(r["name"])
    for names in by_service.values():  # the same rules for each preset
        assert {"ServiceErrorRateHigh", "ServiceResponseTimeHigh"} <= names
        assert "SLOErrorBudgetBurnFast" in names
        assert any(n.startswith("region_service:") for n in names)
    assert by_service["shop"] == by_service["catalog"]


def test_a_fast_services_alerts_fire_in_seconds(prometheus: str) -> None:
    """The fast service's error and latency alerts (for 5 s, 1 s evaluations over 5 s windows of
    a 1 s scrape) go firing from a real process's metrics, while the same alerts of the standard
    service are still pending (their for is minutes)."""

    def states() -> dict[tuple[str, str], str] | None:
        rules = _rules(prometheus)
        alerts = {
            (r["labels"]["service"], r["name"]): r["state"]
            for r in rules
            if r["type"] == "alerting" and r["name"].startswith("Service")
        }
        fast = [v for (svc, _), v in alerts.items() if svc == FAST]
        return alerts if len(fast) == 2 and all(v == "firing" for v in fast) else None

    found = servers.wait_for(states, timeout=60, what="the fast service's alerts firing")
    assert found[("shop", "ServiceErrorRateHigh")] != "firing"
    groups = servers.get_json(f"{prometheus}/api/v1/rules")["data"]["groups"]
    intervals = {
        g["name"]: g["interval"] for g in groups if g["name"].startswith("globalmon.services.")
    }
    assert intervals == {"globalmon.services.catalog": 1, "globalmon.services.shop": 2}
