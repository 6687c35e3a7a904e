"""Synthetic history for every metric globalmon's rules and boards query, as OpenMetrics text.

`promtool tsdb create-blocks-from openmetrics` turns it into TSDB blocks, so a real Prometheus
can evaluate every generated rule and panel query on data with the right names and labels.
"""

from __future__ import annotations

import math
from collections.abc import Iterator

from globalmon import conventions as c
from globalmon.spec import Spec
from globalmon.spec.topology import Region

BUCKETS = ("0.1", "0.25", "0.5", "1", "2.5", "5", "+Inf")
# Label values for metric labels that are not identities taken from the spec.
VALUES = {
    c.LABEL_MOUNTPOINT: "/",
    c.LABEL_INTERFACE: "eth0",
    c.LABEL_DIRECTION: "read",
    c.LABEL_GROUP: "nginx",
    c.LABEL_PROBE: "web-health",
    c.LABEL_LEVEL: "error",
    c.LABEL_TYPE: "crash",
    c.LABEL_SEVERITY: "critical",
    c.LABEL_REASON: "invalid",
    c.LABEL_KIND: "disk",
    c.LABEL_COMPONENT: "ingest",
    c.LABEL_RECEIVER: "ops",
    c.LABEL_OUTCOME: "sent",
    c.LABEL_ACTION: "restart-api",
    c.LABEL_RESULT: "success",
    c.LABEL_STEP: "1",
    c.LABEL_STATUS: "firing",
    c.LABEL_HORIZON: "1h",
    c.LABEL_BOUND: "yhat",
    c.LABEL_HOSTNAME: "host-1",
    c.LABEL_VERSION: "0.1.0",
    c.LABEL_SLO: "availability",
    c.LABEL_STATE: "live",
    c.LABEL_AUTO_RECOVERED: "false",
    c.LABEL_MODE: "idle",
}


def _labels(labels: dict[str, str]) -> str:
    inner = ",".join(f'{k}="{v}"' for k, v in labels.items())
    return "{" + inner + "}"


def _owners(spec: Spec, region: Region, metric: c.MetricDef) -> list[dict[str, str]]:
    """The target labels a metric's series carry, one dict per series source."""
    r = region.id
    name = metric.name
    if name.startswith(
        (c.PREFIX + "host_", c.PREFIX + "process_", c.PREFIX + "probe_", c.PREFIX + "agent_")
    ):
        return [
            {
                "job": c.JOB_AGENT,
                "instance": a.address,
                "region": r,
                "agent": a.id,
                "agent_type": a.type,
            }
            for a in region.agents
        ]
    if c.LABEL_PLUGIN in metric.labels:
        return [
            {"job": c.JOB_PLUGIN_EXPORTER, "instance": "plugins:9465", "region": r, "plugin": p.id}
            for p in spec.plugins
            if p.regions is None or r in p.regions
        ]
    if c.LABEL_SERVICE in metric.labels:
        return [
            {"job": "app", "instance": "app:8080", "region": r, "service": s.name}
            for s in spec.services
            if s.regions is None or r in s.regions
        ]
    if c.LABEL_TARGET in metric.labels:  # sidecar outputs keep their source series' labels
        agent = region.agents[0]
        return [
            {
                "job": c.JOB_AGENT,
                "instance": agent.address,
                "region": r,
                "agent": agent.id,
                "target": f.name,
            }
            for f in spec.forecasts
        ]
    if name.startswith(c.PREFIX + "forecaster_"):
        return [{"job": c.JOB_SIDECAR, "instance": "sidecar:9466", "region": r}]
    if name.startswith(c.PREFIX + "webhook_"):
        return [{"job": c.JOB_WEBHOOK, "instance": "webhook:9466", "region": r}]
    return [{"job": c.JOB_PLUGIN_EXPORTER, "instance": "plugins:9465", "region": r}]


def _series(spec: Spec, region: Region) -> Iterator[tuple[str, dict[str, str], str]]:
    """(sample name, labels, kind) for every series; kind is counter, gauge, total (a gauge
    other gauges of its unit are part of), timestamp or up."""
    for metric in c.METRICS:
        for owner in _owners(spec, region, metric):
            labels = {**owner, **{k: VALUES[k] for k in metric.labels if k not in owner}}
            if metric.type == "histogram":
                for le in BUCKETS:
                    yield metric.name + "_bucket", {**labels, "le": le}, "counter"
                yield metric.name + "_count", labels, "counter"
                yield metric.name + "_sum", labels, "counter"
            elif metric.type == "counter":
                yield metric.name, labels, "counter"
            elif metric.name.endswith("_timestamp_seconds"):
                yield metric.name, labels, "timestamp"
            else:
                yield metric.name, labels, "gauge"
    for a in region.agents:
        yield (
            "up",
            {
                "job": c.JOB_AGENT,
                "instance": a.address,
                "region": region.id,
                "agent": a.id,
                "agent_type": a.type,
            },
            "up",
        )
    for a in region.agents:  # node_exporter's series where an agent has one beside it
        if not a.node_exporter:
            continue
        node = {
            "job": c.JOB_NODE,
            "instance": a.node_exporter,
            "region": region.id,
            "agent": a.id,
            "agent_type": a.type,
        }
        yield "up", node, "up"
        yield c.NODE_CPU, {**node, "cpu": "0", "mode": "idle"}, "counter"
        yield c.NODE_CPU, {**node, "cpu": "0", "mode": "user"}, "counter"
        yield c.NODE_MEMORY_AVAILABLE, node, "gauge"
        yield c.NODE_MEMORY_TOTAL, node, "total"
        disk = {**node, "device": "/dev/sda1", "fstype": "ext4", "mountpoint": "/"}
        yield c.NODE_FILESYSTEM_AVAIL, disk, "gauge"
        yield c.NODE_FILESYSTEM_SIZE, disk, "total"
    for job in (
        c.JOB_PLUGIN_EXPORTER,
        c.JOB_SIDECAR,
        c.JOB_WEBHOOK,
        c.JOB_PROMETHEUS,
        c.JOB_ALERTMANAGER,
    ):
        yield "up", {"job": job, "instance": f"{job}:9000", "region": region.id}, "up"
    for f in spec.forecasts:  # the forecast input the recording rule would have written
        agent = region.agents[0]
        yield (
            c.RECORD_FORECAST_INPUT,
            {
                "job": c.JOB_AGENT,
                "instance": agent.address,
                "region": region.id,
                "agent": agent.id,
                "target": f.name,
            },
            "gauge",
        )


def _value(kind: str, name: str, labels: dict[str, str], i: int, t: float) -> float:
    if kind == "up":
        return 1.0
    if kind == "timestamp":
        return t
    if kind == "total":  # the whole a gauge of the same unit is part of
        return 16e9
    if kind == "counter":
        le = labels.get("le")
        if le is not None:  # a histogram: most observations fast, a tail slower
            share = 1.0 if le == "+Inf" else min(1.0, float(le) / 1.5)
            return i * 60 * share
        return i * 60.0
    # gauges: a daily wave around the middle of each metric's range
    wave = 0.5 + 0.2 * math.sin(2 * math.pi * t / 86400)
    if name.endswith("_bytes"):
        return wave * 8e9
    if name.endswith(("_ratio", "_score", "_flag")):
        return wave
    return wave * 100


def openmetrics(spec: Spec, region: Region, *, end: float, hours: float = 3, step: int = 60) -> str:
    """History of ``hours`` up to ``end`` (Unix seconds) for one region, one sample a step."""
    start = end - hours * 3600
    times = [start + i * step for i in range(int(hours * 3600 // step) + 1)]
    lines = []
    by_name: dict[str, list[tuple[dict[str, str], str]]] = {}
    for name, labels, kind in _series(spec, region):
        by_name.setdefault(name, []).append((labels, kind))
    for name in sorted(by_name):  # a family's samples must stand together
        for labels, kind in by_name[name]:
            text = name + _labels(labels)
            lines += [
                f"{text} {_value(kind, name, labels, i, t):.6g} {t:.0f}"
                for i, t in enumerate(times)
            ]
    lines.append("# EOF")
    return "\n".join(lines) + "\n"
