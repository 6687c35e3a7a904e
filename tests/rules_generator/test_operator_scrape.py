"""The prometheus-operator format scrapes what the plain config scrapes: the same jobs, as
ServiceMonitor/PodMonitor where Kubernetes discovers a service by a named port and ScrapeConfig
elsewhere, each valid against the operator's own types."""

from __future__ import annotations

import subprocess
import textwrap
from typing import Any

import jsonschema
import pytest
import yaml

from globalmon.spec import load_spec, load_spec_text
from local_stack import servers
from rules_generator.generate import generate
from tests.rules_generator.cases import REPO
from tests.rules_generator.operator_schema import spec_schemas

SPEC = textwrap.dedent(
    """\
    version: v1
    regions:
      - id: eu
        name: Europe
        prometheus_urls: ["http://prometheus-eu:9090"]
        endpoints: {registry_url: "http://registry:9469/api/v1/registry/targets"}
        agents:
          - {id: n1, type: system, address: "10.0.0.1:9464", node_exporter: "10.0.0.1:9100"}
    global:
      credentials: {registry_token: {env: GLOBALMON_REGISTRY_TOKEN}}
    services:
      - name: shop
        scrape: {kubernetes: {role: pod, namespaces: [shop], selector: "app=shop", port: metrics}}
      - name: cart
        scrape:
          kubernetes: {role: endpoints, selector: "app=cart,tier=web", port: http}
          metrics_path: /prometheus
          scheme: https
      - name: search
        scrape: {kubernetes: {role: endpoints, selector: "app!=legacy", port: http}}
      - name: legacy
        scrape: {static: ["10.0.9.9:8080"]}
      - name: mail
        scrape: {dns: {names: [_metrics._tcp.mail.internal], type: SRV}}
      - name: files
        scrape: {file_sd: [/etc/prometheus/files.json]}
      - name: billing
        scrape: {consul: {server: "consul:8500", services: [billing]}}
    """
)


def _manifests(spec_text: str) -> list[dict[str, Any]]:
    files = generate(load_spec_text(spec_text), "s.yaml", format="prometheus-operator")
    return [d for d in yaml.safe_load_all(files["kubernetes/monitors-eu.yaml"]) if d]


def test_kinds_follow_how_each_service_is_found() -> None:
    docs = {d["spec"].get("jobName") or d["metadata"]["name"]: d for d in _manifests(SPEC)}
    kinds = {name.removeprefix("globalmon-eu-"): d["kind"] for name, d in docs.items()}
    assert kinds == {
        "shop": "PodMonitor",
        "cart": "ServiceMonitor",
        "search": "ScrapeConfig",  # `!=` is no matchLabels: Prometheus' own discovery
        "legacy": "ScrapeConfig",
        "mail": "ScrapeConfig",
        "files": "ScrapeConfig",
        "billing": "ScrapeConfig",
        "globalmon-agent": "ScrapeConfig",
        "node": "ScrapeConfig",
        "globalmon-webhook": "ScrapeConfig",
    }
    cart = docs["globalmon-eu-cart"]["spec"]
    assert cart["selector"] == {"matchLabels": {"app": "cart", "tier": "web"}}
    assert cart["namespaceSelector"] == {"any": True}
    [endpoint] = cart["endpoints"]
    assert (endpoint["port"], endpoint["path"], endpoint["scheme"]) == (
        "http",
        "/prometheus",
        "https",
    )
    labels = {r["targetLabel"]: r["replacement"] for r in endpoint["relabelings"]}
    assert labels == {"region": "eu", "service": "cart", "job": "cart"}
    shop = docs["globalmon-eu-shop"]["spec"]
    assert shop["namespaceSelector"] == {"matchNames": ["shop"]}
    assert shop["podMetricsEndpoints"][0]["port"] == "metrics"
    agents = docs["globalmon-agent"]["spec"]
    assert agents["httpSDConfigs"][0]["authorization"]["credentials"] == {
        "name": "globalmon-tokens",
        "key": "GLOBALMON_REGISTRY_TOKEN",
    }
    for d in docs.values():
        assert d["metadata"]["labels"]["globalmon.dev/region"] == "eu"


def test_every_plain_job_is_scraped_under_the_operator() -> None:
    """Job for job: the plain config's jobs (but the operator's own Prometheus and
    Alertmanager) each appear once, by jobName or by the job relabelling of a monitor."""
    spec = load_spec(REPO / "examples" / "regions.yaml")
    plain = generate(spec, "regions.yaml")
    manifests = generate(spec, "regions.yaml", format="prometheus-operator")
    for region in spec.regions:
        jobs = {
            j["job_name"]
            for j in yaml.safe_load(plain[f"prometheus/{region.id}.yml"])["scrape_configs"]
        } - {"prometheus", "alertmanager"}
        docs = [d for d in yaml.safe_load_all(manifests[f"kubernetes/monitors-{region.id}.yaml"])]
        found = []
        for d in docs:
            endpoints = (
                d["spec"].get("endpoints") or d["spec"].get("podMetricsEndpoints") or [d["spec"]]
            )
            for e in endpoints:
                found += [
                    r["replacement"] for r in e["relabelings"] if r.get("targetLabel") == "job"
                ]
        assert sorted(found) == sorted(jobs), region.id


@pytest.fixture(scope="module")
def schemas() -> dict[str, tuple[str, dict[str, Any]]]:
    try:
        return spec_schemas(REPO / ".cache" / "operator-schema")
    except (FileNotFoundError, subprocess.CalledProcessError) as exc:
        message = f"cannot build prometheus-operator's schemas with npm: {exc}"
        if servers.in_ci():
            pytest.fail(message)
        pytest.skip(message)


@pytest.mark.integration
def test_every_monitor_matches_the_operators_types(
    schemas: dict[str, tuple[str, dict[str, Any]]],
) -> None:
    docs = _manifests(SPEC)
    spec = load_spec(REPO / "examples" / "regions.yaml")
    for region in spec.regions:
        files = generate(spec, "regions.yaml", format="prometheus-operator")
        docs += list(yaml.safe_load_all(files[f"kubernetes/monitors-{region.id}.yaml"]))
    for d in docs:
        api, schema = schemas[d["kind"]]
        assert d["apiVersion"] == api
        errors = sorted(jsonschema.Draft7Validator(schema).iter_errors(d["spec"]), key=str)
        assert not errors, (d["metadata"]["name"], [e.message for e in errors[:5]])


@pytest.mark.integration
def test_the_schema_check_can_fail(schemas: dict[str, tuple[str, dict[str, Any]]]) -> None:
    """A field the operator does not know (a plain-config spelling) is refused."""
    _, schema = schemas["ScrapeConfig"]
    bad = {"jobName": "x", "static_configs": [{"targets": ["a:1"]}]}
    assert list(jsonschema.Draft7Validator(schema).iter_errors(bad))
