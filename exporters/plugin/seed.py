"""The seed design's wire shapes, beside globalmon's own.

Plugins written against the seed's plugin monitor send one metric at a time as
``{"metric_type": "cpu_usage", "value": 42.0, "metadata": {...}}``, events with ``event_type``,
snapshots of ``cpu_usage``/``memory_usage`` in percent and ``response_time`` in milliseconds,
and read answers as ``{"success": true, "data": ...}``. This module turns such a metric into
globalmon's own report (base units: ratios, seconds, bytes) and stored rows back into the seed's
records, so both kinds of client share one store and one exposition.

How each seed metric type lands in the exposition:

    cpu_usage      percent 0-100    globalmon_plugin_cpu_usage_ratio (value / 100)
    memory_usage   percent 0-100    globalmon_plugin_memory_usage_ratio (value / 100)
    response_time  milliseconds     one observation of globalmon_plugin_response_time_seconds
    request_count  requests         globalmon_plugin_requests_total += value
    error_rate     as reported      globalmon_plugin_custom_reported_error_rate (the plugin's own
                                    figure: a ratio or a percentage, whatever it computes; the
                                    rules use the requests and errors counters instead)
    throughput     per second       globalmon_plugin_custom_throughput_per_second
    disk_io        bytes            globalmon_plugin_io_bytes_total{kind="disk",direction=D}
    network_io     bytes            globalmon_plugin_io_bytes_total{kind="network",direction=D}
    custom         any              globalmon_plugin_custom_<metadata.name, default "value">

D is ``metadata.direction`` (``read`` or ``write``, default ``read``). Metadata is stored with the
row and shown in queries; it never becomes a label.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from exporters.plugin.models import MetricType, SeedMetric

__all__ = ["MetricType", "SeedMetric", "iso", "metric_records", "snapshot_record"]


def iso(seconds: float) -> str:
    return datetime.fromtimestamp(seconds, UTC).isoformat()


def metric_records(plugin: str, row: dict[str, Any]) -> list[dict[str, Any]]:
    """A stored metrics row as the seed's records: the one it was sent as, or one per seed type
    its numbers carry (a report of globalmon's own shape)."""
    at = iso(row["timestamp"])
    base = {"id": row["id"], "plugin_id": plugin, "timestamp": at}
    if "metric_type" in row:
        return [{**base, "metric_type": row["metric_type"], "value": row["value"],
                 "metadata": row.get("metadata", {})}]  # fmt: skip
    values: list[tuple[str, float]] = []
    if "cpu_usage_ratio" in row:
        values.append((MetricType.CPU_USAGE, row["cpu_usage_ratio"] * 100))
    if "memory_usage_ratio" in row:
        values.append((MetricType.MEMORY_USAGE, row["memory_usage_ratio"] * 100))
    if "response_time_seconds" in row:
        values.append((MetricType.RESPONSE_TIME, row["response_time_seconds"] * 1000))
    if row.get("requests"):
        values.append((MetricType.REQUEST_COUNT, row["requests"]))
        values.append((MetricType.ERROR_RATE, row.get("errors", 0) / row["requests"]))
    return [{**base, "metric_type": str(t), "value": v, "metadata": {}} for t, v in values]


def log_record(plugin: str, row: dict[str, Any]) -> dict[str, Any]:
    return {
        "id": row["id"],
        "plugin_id": plugin,
        "level": row["level"],
        "message": row["message"],
        "timestamp": iso(row["timestamp"]),
        "context": row["context"],
        "traceback": row["traceback"],
    }


def event_record(plugin: str, row: dict[str, Any]) -> dict[str, Any]:
    return {
        "id": row["id"],
        "plugin_id": plugin,
        "event_type": row["type"],
        "description": row["description"],
        "timestamp": iso(row["timestamp"]),
        "severity": row["severity"],
        "data": row["data"],
    }


def snapshot_record(plugin: str, row: dict[str, Any]) -> dict[str, Any]:
    """A stored snapshot in the seed's fields, from the seed's own fields or from globalmon's."""

    def pick(seed: str, ours: str, scale: float) -> Any:
        if row.get(seed) is not None:
            return row[seed]
        return row[ours] * scale if row.get(ours) is not None else None

    requests = row.get("request_count")
    errors = row.get("error_count")
    error_rate = row.get("error_rate")
    if error_rate is None and requests and errors is not None:
        error_rate = errors / requests
    return {
        "id": row["id"],
        "plugin_id": plugin,
        "timestamp": iso(row["timestamp"]),
        "status": row.get("status"),
        "cpu_usage": pick("cpu_usage", "cpu_usage_ratio", 100),
        "memory_usage": pick("memory_usage", "memory_usage_ratio", 100),
        "response_time": pick("response_time", "average_response_time_seconds", 1000),
        "error_rate": error_rate,
        "request_count": requests,
        "throughput": row.get("throughput"),
        "disk_io": row.get("disk_io") or {},
        "network_io": row.get("network_io") or {},
        "custom_metrics": row.get("custom_metrics") or row.get("custom") or {},
    }


RECORDS = {"logs": log_record, "events": event_record, "snapshots": snapshot_record}
