"""A scraped service's job in each region: its targets from the spec's source, the `region` and
`service` labels set; promtool accepts what Debian's Prometheus can run (it is built without
Kubernetes and Consul discovery, so those jobs are checked against Prometheus' documented
fields here)."""

from __future__ import annotations

import subprocess
from pathlib import Path

from globalmon.spec import load_spec_text
from rules_generator.generate import generate
from rules_generator.prometheus_config import service_job
from rules_generator.rules.services import selectors

SPEC = """
version: v1
regions:
  - {id: r1, name: One, prometheus_urls: [http://127.0.0.1:9090]}
  - {id: r2, name: Two, prometheus_urls: [http://127.0.0.1:9091]}
services:
  - name: api
    scrape:
      scheme: https
      metrics_path: /internal/metrics
      static: ["api-a:8443"]
      regions:
        r2: {file_sd: [/etc/prometheus/api.json], metrics_path: /m}
    metrics: {preset: opentelemetry}
  - name: web
    regions: [r1]
    scrape:
      kubernetes:
        {role: pod, namespaces: [shop, shop-canary], selector: "app=web", port: http-metrics}
  - name: cache
    scrape:
      consul: {server: "consul:8500", services: [cache], tags: [primary]}
      dns: {names: [cache.internal], type: A, port: 9121}
  - name: legacy
"""


def _labels(job: dict[str, object]) -> list[object]:
    relabel = job["relabel_configs"]
    assert isinstance(relabel, list)
    return relabel[-2:]


def test_static_and_per_region_targets() -> None:
    spec = load_spec_text(SPEC)
    api = spec.services[0]
    assert service_job(api, "r1") == {
        "job_name": "api",
        "metrics_path": "/internal/metrics",
        "scheme": "https",
        "static_configs": [{"targets": ["api-a:8443"]}],
        "relabel_configs": [
            {"target_label": "region", "replacement": "r1"},
            {"target_label": "service", "replacement": "api"},
        ],
    }
    r2 = service_job(api, "r2")
    assert r2 is not None
    assert r2["metrics_path"] == "/m"
    assert r2["file_sd_configs"] == [{"files": ["/etc/prometheus/api.json"]}]
    assert "static_configs" not in r2
    assert _labels(r2) == [
        {"target_label": "region", "replacement": "r2"},
        {"target_label": "service", "replacement": "api"},
    ]


def test_kubernetes_consul_and_dns_use_prometheus_fields() -> None:
    spec = load_spec_text(SPEC)
    web, cache, legacy = spec.services[1], spec.services[2], spec.services[3]
    job = service_job(web, "r1")
    assert job is not None
    assert job["kubernetes_sd_configs"] == [
        {
            "role": "pod",
            "namespaces": {"names": ["shop", "shop-canary"]},
            "selectors": [{"role": "pod", "label": "app=web"}],
        }
    ]
    relabel = job["relabel_configs"]
    assert relabel[0] == {
        "source_labels": ["__meta_kubernetes_pod_container_port_name"],
        "regex": "http\\-metrics",
        "action": "keep",
    }
    assert {"source_labels": ["__meta_kubernetes_pod_name"], "target_label": "pod"} in relabel
    assert service_job(web, "r2") is None  # web runs in r1 only
    job = service_job(cache, "r2")
    assert job is not None
    assert job["consul_sd_configs"] == [
        {"server": "consul:8500", "services": ["cache"], "tags": ["primary"]}
    ]
    assert job["dns_sd_configs"] == [{"names": ["cache.internal"], "type": "A", "port": 9121}]
    assert service_job(legacy, "r1") is None  # its series reach Prometheus another way


def test_presets_select_by_the_jobs_labels() -> None:
    spec = load_spec_text(SPEC)
    assert selectors(spec.services[0], "r1") == (
        'http_server_request_duration_seconds_count{service="api",region="r1"}',
        'http_server_request_duration_seconds_count{service="api",region="r1",'
        'http_response_status_code=~"5.."}',
        'http_server_request_duration_seconds_bucket{service="api",region="r1"}',
    )


def test_promtool_accepts_static_file_and_dns_jobs(tmp_path: Path, promtool_bin: str) -> None:
    no_sd_plugins = SPEC.split("  - name: web")[0] + (
        "  - name: cache\n    scrape: {dns: {names: [cache.internal], type: A, port: 9121}}\n"
    )
    files = generate(load_spec_text(no_sd_plugins), "spec.yaml")
    for region in ("r1", "r2"):
        (tmp_path / "rules").mkdir(exist_ok=True)
        (tmp_path / "rules" / f"{region}.rules.yml").write_text(files[f"rules/{region}.rules.yml"])
        (tmp_path / "prometheus").mkdir(exist_ok=True)
        config = tmp_path / "prometheus" / f"{region}.yml"
        config.write_text(files[f"prometheus/{region}.yml"])
        out = subprocess.run([promtool_bin, "check", "config", str(config)], capture_output=True)
        assert out.returncode == 0, out.stderr.decode() + out.stdout.decode()
