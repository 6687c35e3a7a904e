"""A region's scrape jobs as prometheus-operator resources, so the operator path scrapes what
the plain config does: a ServiceMonitor or PodMonitor for a service found by Kubernetes service
discovery with a named port (the operator's own way), a ScrapeConfig (v1alpha1) for everything
else (agents, node_exporters, globalmon's exporters, services on static targets, file_sd, DNS,
Consul). Every resource carries ``globalmon.dev/region`` for the region's Prometheus resource
to select, and the job keeps the plain config's name, so the rules read the same series.
"""

from __future__ import annotations

import re
from typing import Any

from globalmon import conventions as c
from globalmon.spec import Spec
from globalmon.spec.services import Service
from globalmon.spec.topology import Region
from rules_generator.operator import PART_OF
from rules_generator.prometheus_config import region_config, service_job

# The operator scrapes its own Prometheus and Alertmanager through its own monitors.
OPERATOR_OWNS = (c.JOB_PROMETHEUS, c.JOB_ALERTMANAGER)
TOKENS_SECRET = "globalmon-tokens"  # deploy/k8s: one key per environment variable
_ROLES = {
    "pod": "Pod",
    "endpoints": "Endpoints",
    "endpointslice": "EndpointSlice",
    "service": "Service",
    "node": "Node",
    "ingress": "Ingress",
}
_RELABEL = {
    "source_labels": "sourceLabels",
    "target_label": "targetLabel",
    "regex": "regex",
    "replacement": "replacement",
    "action": "action",
    "separator": "separator",
}
_EQUALITY = re.compile(r"\s*([A-Za-z0-9_./-]+)\s*=\s*([A-Za-z0-9_.-]*)\s*")


def _meta(kind: str, name: str, region: str, api: str = "monitoring.coreos.com/v1") -> Any:
    labels = {**PART_OF, "globalmon.dev/region": region}
    return {"apiVersion": api, "kind": kind, "metadata": {"name": name, "labels": labels}}


def _relabelings(job: dict[str, Any]) -> list[dict[str, Any]]:
    out = [{_RELABEL[k]: v for k, v in r.items()} for r in job.get("relabel_configs", [])]
    # the job label the rules select on, whatever the operator would call the job
    return [*out, {"targetLabel": "job", "replacement": job["job_name"], "action": "replace"}]


def _secret_of(credentials_file: str) -> dict[str, str]:
    """``/run/globalmon/secrets/GLOBALMON_REGISTRY_TOKEN`` -> key of the tokens Secret."""
    return {"name": TOKENS_SECRET, "key": credentials_file.rsplit("/", 1)[-1]}


def scrape_config(job: dict[str, Any], region: str) -> dict[str, Any]:
    """A plain scrape job as a ScrapeConfig resource."""
    spec: dict[str, Any] = {"jobName": job["job_name"]}
    if "metrics_path" in job:
        spec["metricsPath"] = job["metrics_path"]
    if "params" in job:
        spec["params"] = job["params"]
    if "scheme" in job:
        spec["scheme"] = job["scheme"].upper()
    if job.get("honor_labels"):
        spec["honorLabels"] = True
    if "static_configs" in job:
        spec["staticConfigs"] = [
            {"targets": s["targets"], **({"labels": dict(s["labels"])} if s.get("labels") else {})}
            for s in job["static_configs"]
        ]
    if "file_sd_configs" in job:
        spec["fileSDConfigs"] = [{"files": f["files"]} for f in job["file_sd_configs"]]
    if "dns_sd_configs" in job:
        spec["dnsSDConfigs"] = [dict(d) for d in job["dns_sd_configs"]]
    if "consul_sd_configs" in job:
        spec["consulSDConfigs"] = [dict(d) for d in job["consul_sd_configs"]]
    if "http_sd_configs" in job:
        spec["httpSDConfigs"] = []
        for h in job["http_sd_configs"]:
            sd: dict[str, Any] = {"url": h["url"]}
            if "authorization" in h:
                auth = h["authorization"]["credentials_file"]
                sd["authorization"] = {"type": "Bearer", "credentials": _secret_of(auth)}
            spec["httpSDConfigs"].append(sd)
    if "kubernetes_sd_configs" in job:
        spec["kubernetesSDConfigs"] = [
            {
                "role": _ROLES[k["role"]],
                **({"namespaces": k["namespaces"]} if "namespaces" in k else {}),
                **(
                    {"selectors": [{**s, "role": _ROLES[s["role"]]} for s in k["selectors"]]}
                    if "selectors" in k
                    else {}
                ),
            }
            for k in job["kubernetes_sd_configs"]
        ]
    spec["relabelings"] = _relabelings(job)
    out: dict[str, Any] = _meta(
        "ScrapeConfig",
        f"globalmon-{region}-{job['job_name']}",
        region,
        "monitoring.coreos.com/v1alpha1",
    )
    out["spec"] = spec
    return out


def _match_labels(selector: str) -> dict[str, str] | None:
    """``app=api,tier=web`` -> matchLabels; None for what a label selector of equalities
    cannot say (``!=``, ``in``...): that service gets a ScrapeConfig."""
    out = {}
    for part in selector.split(","):
        m = _EQUALITY.fullmatch(part)
        if m is None or "!" in part:
            return None
        out[m[1]] = m[2]
    return out


def monitor(service: Service, region: str) -> dict[str, Any] | None:
    """A ServiceMonitor (endpoints, endpointslice, service roles) or PodMonitor (pod role) for a
    service discovered in Kubernetes with a named port; None when one cannot say it."""
    job = service_job(service, region)
    found = service.scrape.targets_in(region) if service.scrape else None
    if job is None or found is None or found[0].kubernetes is None:
        return None
    k = found[0].kubernetes
    if k.port is None or k.role not in ("pod", "endpoints", "endpointslice", "service"):
        return None
    labels = _match_labels(k.selector) if k.selector else {}
    if labels is None:
        return None
    endpoint: dict[str, Any] = {"port": k.port, "path": job["metrics_path"]}
    if "scheme" in job:
        endpoint["scheme"] = job["scheme"]
    # the operator keeps the port and adds namespace/pod itself: only region, service and job
    relabel = [r for r in _relabelings(job) if "sourceLabels" not in r]
    endpoint["relabelings"] = relabel
    pod = k.role == "pod"
    kind = "PodMonitor" if pod else "ServiceMonitor"
    out: dict[str, Any] = _meta(kind, f"globalmon-{region}-{service.name}", region)
    out["spec"] = {
        "namespaceSelector": {"matchNames": list(k.namespaces)} if k.namespaces else {"any": True},
        "selector": {"matchLabels": labels},
        ("podMetricsEndpoints" if pod else "endpoints"): [endpoint],
    }
    return out


def region_monitors(spec: Spec, region: Region, secrets_dir: str) -> list[dict[str, Any]]:
    """Every scrape of ``region``'s plain config, as operator resources."""
    services = {s.name: s for s in spec.services}
    out = []
    for job in region_config(spec, region, secrets_dir)["scrape_configs"]:
        if job["job_name"] in OPERATOR_OWNS:
            continue
        service = services.get(job["job_name"])
        found = monitor(service, region.id) if service is not None else None
        out.append(found if found is not None else scrape_config(job, region.id))
    return out
