"""Host rules read node_exporter where it runs and the agent's own collector elsewhere: a real
Prometheus on the generated region config scrapes a real `globalmon agent` and a real
node_exporter (Debian's prometheus-node-exporter), and every host recording rule has a series
in 0..1 for each agent, with the same labels whichever exporter it came from."""

from __future__ import annotations

import subprocess
import sys
import textwrap
import urllib.parse
from collections.abc import Iterator
from pathlib import Path

import pytest

from globalmon import conventions as c
from globalmon.conventions import AlertName
from globalmon.spec import load_spec
from local_stack import servers
from rules_generator.generate import generate
from rules_generator.writer import write

pytestmark = pytest.mark.integration

REPO = Path(__file__).resolve().parent.parent.parent
RECORDS = (c.RECORD_HOST_CPU_BUSY, c.RECORD_HOST_MEMORY_USED, c.RECORD_HOST_DISK_USED)
HOST_ALERTS = (AlertName.HOST_CPU_HIGH, AlertName.HOST_MEMORY_HIGH, AlertName.HOST_DISK_HIGH)
AGENT = [sys.executable, "-m", "globalmon", "agent"]
NODE_COLLECTORS = [
    "--collector.disable-defaults",
    "--collector.cpu",
    "--collector.meminfo",
    "--collector.filesystem",
]


def _spec(p: dict[str, int]) -> str:
    return textwrap.dedent(
        f"""\
            version: v1
            global:
              scrape_interval: 1s
              evaluation_interval: 1s
              alertmanager_urls: ["http://127.0.0.1:{p["am"]}"]
              webhook_url: "http://127.0.0.1:{p["webhook"]}"
            regions:
              - id: r1
                name: Region one
                prometheus_urls: ["http://127.0.0.1:{p["prometheus"]}"]
                agents:
                  - {{id: own, type: system, address: "127.0.0.1:{p["agent"]}"}}
                  # node_exporter only: no agent process answers at its address
                  - id: node
                    type: database
                    address: "127.0.0.1:{p["absent"]}"
                    node_exporter: "127.0.0.1:{p["node"]}"
        """
    )


@pytest.fixture(scope="module")
def prometheus(prometheus_bin: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    node_bin = servers.find_binary(servers.NODE_EXPORTER_NAMES)
    assert node_bin, "prometheus-node-exporter is missing: run make setup"
    work = tmp_path_factory.mktemp("real-hosts")
    names = ["agent", "absent", "node", "prometheus", "am", "webhook"]
    ports = dict(zip(names, servers.free_ports(len(names)), strict=True))
    spec_path = work / "spec.yaml"
    spec_path.write_text(_spec(ports))
    write(work / "gen", generate(load_spec(spec_path), "spec.yaml"))
    procs = [
        subprocess.Popen(
            [*AGENT, "--spec", str(spec_path), "--region", "r1", "--agent-id", "own"],
            cwd=REPO,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        ),
        subprocess.Popen(
            [node_bin, f"--web.listen-address=127.0.0.1:{ports['node']}", *NODE_COLLECTORS],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        ),
    ]
    prom = servers.prometheus(
        prometheus_bin, work / "gen" / "prometheus" / "r1.yml", work, port=ports["prometheus"]
    )
    try:
        prom.start().wait_ready()
        yield prom.url
    finally:
        prom.stop()
        for p in procs:
            p.kill()
            p.wait(10)


def _query(url: str, expr: str) -> list[dict[str, object]]:
    q = urllib.parse.quote(expr)
    result: list[dict[str, object]] = servers.get_json(f"{url}/api/v1/query?query={q}")["data"][
        "result"
    ]
    return result


def test_every_host_record_has_each_agent_from_its_exporter(prometheus: str) -> None:
    def recorded() -> dict[str, list[dict[str, object]]] | None:
        out = {r: _query(prometheus, r) for r in RECORDS}
        agents = {r: {s["metric"]["agent"] for s in res} for r, res in out.items()}  # type: ignore[index]
        return out if all(a == {"own", "node"} for a in agents.values()) else None

    found = servers.wait_for(recorded, timeout=90, what="host records for both agents")
    for record, series in found.items():
        for s in series:
            labels = dict(s["metric"])  # type: ignore[call-overload]
            value = float(s["value"][1])  # type: ignore[index]
            assert 0 <= value <= 1, (record, labels, value)
            keys = {"__name__", "region", "agent", "agent_type"}
            if record == c.RECORD_HOST_DISK_USED:
                keys.add("mountpoint")
            assert set(labels) == keys, (record, labels)  # no job or instance: one per agent
            assert labels["region"] == "r1"
    # the node-only agent's values are node_exporter's: nothing of the agent's own is scraped
    assert not _query(prometheus, f'{c.HOST_CPU.name}{{agent="node"}}')
    assert _query(prometheus, f'{c.NODE_CPU}{{agent="node",job="{c.JOB_NODE}"}}')


def test_host_alert_rules_evaluate_without_errors(prometheus: str) -> None:
    def evaluated() -> list[dict[str, object]] | None:
        groups = servers.get_json(f"{prometheus}/api/v1/rules")["data"]["groups"]
        rules = [r for g in groups for r in g["rules"] if r["name"] in (*HOST_ALERTS, *RECORDS)]
        done = len(rules) == 6 and all(r.get("lastEvaluation", "").startswith("2") for r in rules)
        return rules if done and all(r["health"] != "unknown" for r in rules) else None

    rules = servers.wait_for(evaluated, timeout=60, what="host rules evaluated")
    assert all(r["health"] == "ok" for r in rules), [(r["name"], r.get("lastError")) for r in rules]
