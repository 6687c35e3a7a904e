"""Per-region and global Prometheus configuration files (plain data, no I/O)."""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import urlsplit

from globalmon import conventions as c
from globalmon.spec import Spec
from globalmon.spec.services import Service
from globalmon.spec.topology import Region
from globalmon.spec.types import SecretRef
from rules_generator.build import GLOBAL_REGION, scrapes_alertmanagers

# Series the global Prometheus federates from each region: agent liveness and every
# recording rule (level:metric:operations names), never raw high-cardinality series.
FEDERATE_MATCH = (
    f'{{job="{c.JOB_AGENT}",__name__="up"}}',
    '{__name__=~"region:.+|region_service:.+|slo:.+|plugin:.+|target:.+"}',
    '{__name__="ALERTS"}',
)


def hostport(url: str) -> str:
    parts = urlsplit(url)
    port = parts.port or (443 if parts.scheme == "https" else 80)
    return f"{parts.hostname}:{port}"


def credentials_file(ref: SecretRef, secrets_dir: str) -> str:
    """Prometheus and Alertmanager read secrets from files; an env reference becomes the file
    the deployment writes that variable to (SECRETS_DIR/VARIABLE)."""
    return ref.file if ref.file is not None else f"{secrets_dir.rstrip('/')}/{ref.env}"


def _alerting(spec: Spec) -> dict[str, Any]:
    by_scheme: dict[str, list[str]] = {}
    for url in spec.global_.alertmanager_urls:
        by_scheme.setdefault(urlsplit(url).scheme, []).append(hostport(url))
    return {
        "alertmanagers": [
            {"scheme": scheme, "static_configs": [{"targets": targets}]}
            for scheme, targets in sorted(by_scheme.items())
        ]
    }


def _job(name: str, targets: list[str], labels: dict[str, str], **extra: Any) -> dict[str, Any]:
    return {"job_name": name, **extra, "static_configs": [{"targets": targets, "labels": labels}]}


def region_config(spec: Spec, region: Region, secrets_dir: str) -> dict[str, Any]:
    g = spec.global_
    own = {"region": region.id}
    agents: dict[str, Any] = {
        "job_name": c.JOB_AGENT,
        "static_configs": [
            {
                "targets": [a.address],
                "labels": {**a.labels, "region": region.id, "agent": a.id, "agent_type": a.type},
            }
            for a in region.agents
        ],
    }
    registry = region.endpoints.registry_url
    if registry:
        sd: dict[str, Any] = {"url": f"{registry}?region={region.id}"}
        token = g.credentials.registry_token
        if token:
            sd["authorization"] = {"credentials_file": credentials_file(token, secrets_dir)}
        agents["http_sd_configs"] = [sd]
    if not agents["static_configs"]:
        del agents["static_configs"]
    jobs: list[dict[str, Any]] = [
        _job(c.JOB_PROMETHEUS, [hostport(u) for u in region.prometheus_urls], own),
    ]
    if "static_configs" in agents or "http_sd_configs" in agents:
        jobs.append(agents)
    nodes = [
        {
            "targets": [a.node_exporter],
            "labels": {**a.labels, "region": region.id, "agent": a.id, "agent_type": a.type},
        }
        for a in region.agents
        if a.node_exporter
    ]
    if nodes:
        jobs.append({"job_name": c.JOB_NODE, "static_configs": nodes})
    if region.endpoints.plugin_exporter:
        jobs.append(_job(c.JOB_PLUGIN_EXPORTER, [region.endpoints.plugin_exporter], own))
    if region.endpoints.sidecar:
        # honor_labels: the sidecar's outputs carry their source series' job and instance.
        jobs.append(_job(c.JOB_SIDECAR, [region.endpoints.sidecar], own, honor_labels=True))
    jobs.append(_job(c.JOB_WEBHOOK, [hostport(g.webhook_url)], own))
    jobs += [job for s in spec.services if (job := service_job(s, region.id)) is not None]
    if scrapes_alertmanagers(spec, region):
        jobs.append(_job(c.JOB_ALERTMANAGER, [hostport(u) for u in g.alertmanager_urls], own))
    config: dict[str, Any] = {
        "global": {
            "scrape_interval": g.scrape_interval,
            "evaluation_interval": g.evaluation_interval,
            "external_labels": {**g.external_labels, **region.external_labels, **own},
        },
        "rule_files": [f"../rules/{region.id}.rules.yml"],
        "alerting": _alerting(spec),
        "scrape_configs": jobs,
    }
    view = g.global_view
    if view is not None and view.mode == "remote_write":
        config["remote_write"] = [{"url": remote_write_url(view.url)}]
    return config


# Write endpoints of Prometheus' receiver, Thanos Receive and Mimir: a URL ending in one is
# used as it is; a base URL gets Prometheus' path.
WRITE_PATHS = ("/api/v1/write", "/api/v1/receive", "/api/v1/push")


def remote_write_url(url: str) -> str:
    base = url.rstrip("/")
    return base if base.endswith(WRITE_PATHS) else f"{base}/api/v1/write"


def global_config(spec: Spec) -> dict[str, Any] | None:
    g = spec.global_
    view = g.global_view
    if view is None:
        return None
    own = {"region": GLOBAL_REGION}
    jobs: list[dict[str, Any]] = [
        _job(c.JOB_PROMETHEUS, [hostport(view.url)], own),
        _job(c.JOB_ALERTMANAGER, [hostport(u) for u in g.alertmanager_urls], own),
    ]
    if view.mode == "federation":
        jobs += [
            {
                "job_name": f"{c.JOB_FEDERATE}-{r.id}",
                "honor_labels": True,
                "metrics_path": "/federate",
                "params": {"match[]": list(FEDERATE_MATCH)},
                "static_configs": [{"targets": [hostport(u) for u in r.prometheus_urls]}],
            }
            for r in spec.regions
        ]
    return {
        "global": {
            "scrape_interval": g.scrape_interval,
            "evaluation_interval": g.evaluation_interval,
            "external_labels": {**g.external_labels, "prometheus": "global"},
        },
        "rule_files": ["../rules/global.rules.yml"],
        "alerting": _alerting(spec),
        "scrape_configs": jobs,
    }


# what a Kubernetes role names the port of a target
_K8S_PORT = {
    "pod": "__meta_kubernetes_pod_container_port_name",
    "endpoints": "__meta_kubernetes_endpoint_port_name",
    "endpointslice": "__meta_kubernetes_endpointslice_port_name",
    "service": "__meta_kubernetes_service_port_name",
}


def service_job(service: Service, region: str) -> dict[str, Any] | None:
    """The scrape job of ``service`` in ``region``: named after the service, its targets given
    the `region` and `service` labels the rules select on (None when it is not scraped here)."""
    if service.scrape is None or (service.regions is not None and region not in service.regions):
        return None
    found = service.scrape.targets_in(region)
    if found is None:
        return None
    src, path = found
    job: dict[str, Any] = {"job_name": service.name, "metrics_path": path}
    if service.profile == "fast":  # a timeout may not exceed its interval
        job["scrape_interval"] = job["scrape_timeout"] = c.FAST_SCRAPE_INTERVAL
    if service.scrape.scheme != "http":
        job["scheme"] = service.scrape.scheme
    relabel: list[dict[str, Any]] = []
    if src.static:
        job["static_configs"] = [{"targets": list(src.static)}]
    if src.file_sd:
        job["file_sd_configs"] = [{"files": list(src.file_sd)}]
    if src.dns:
        dns: dict[str, Any] = {"names": list(src.dns.names), "type": src.dns.type}
        if src.dns.port is not None:
            dns["port"] = src.dns.port
        job["dns_sd_configs"] = [dns]
    if src.consul:
        consul: dict[str, Any] = {"server": src.consul.server, "services": src.consul.services}
        if src.consul.tags:
            consul["tags"] = list(src.consul.tags)
        job["consul_sd_configs"] = [consul]
    if src.kubernetes:
        k = src.kubernetes
        sd: dict[str, Any] = {"role": k.role}
        if k.namespaces:
            sd["namespaces"] = {"names": list(k.namespaces)}
        if k.selector:
            sd["selectors"] = [{"role": k.role, "label": k.selector}]
        job["kubernetes_sd_configs"] = [sd]
        if k.port:
            relabel.append(
                {"source_labels": [_K8S_PORT[k.role]], "regex": re.escape(k.port), "action": "keep"}
            )
        relabel.append(
            {"source_labels": ["__meta_kubernetes_namespace"], "target_label": "namespace"}
        )
        if k.role == "pod":
            relabel.append({"source_labels": ["__meta_kubernetes_pod_name"], "target_label": "pod"})
    relabel += [
        {"target_label": "region", "replacement": region},
        {"target_label": "service", "replacement": service.name},
    ]
    job["relabel_configs"] = relabel
    return job
