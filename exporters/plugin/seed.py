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
from enum import StrEnum
from typing import Any

from pydantic import Field, model_validator

from exporters.plugin.models import (
    CustomMetric,
    JsonObject,
    MetricReport,
    Strict,
    Timestamp,
    is_metric_name,
)


class MetricType(StrEnum):
    CPU_USAGE = "cpu_usage"
    MEMORY_USAGE = "memory_usage"
    RESPONSE_TIME = "response_time"
    ERROR_RATE = "error_rate"
    REQUEST_COUNT = "request_count"
    THROUGHPUT = "throughput"
    DISK_IO = "disk_io"
    NETWORK_IO = "network_io"
    CUSTOM = "custom"


_PERCENT = {MetricType.CPU_USAGE, MetricType.MEMORY_USAGE}
_RANGES: dict[MetricType, tuple[float, float | None, str]] = {
    MetricType.CPU_USAGE: (0, 100, "a percentage from 0 to 100"),
    MetricType.MEMORY_USAGE: (0, 100, "a percentage from 0 to 100"),
}
_NOT_NEGATIVE = (0, None, "a value of 0 or more")


class SeedMetric(Strict):
    """One metric as the seed's ``record_metric(plugin_id, metric_type, value, metadata)``."""

    metric_type: MetricType
    value: float
    metadata: JsonObject = Field(default_factory=dict)
    timestamp: Timestamp | None = None

    @model_validator(mode="after")
    def _in_range(self) -> SeedMetric:
        lo, hi, expected = _RANGES.get(self.metric_type, _NOT_NEGATIVE)
        custom = self.metric_type is MetricType.CUSTOM
        if not custom and (self.value < lo or (hi is not None and self.value > hi)):
            raise ValueError(f"value of {self.metric_type.value}: expected {expected}")
        name = self.metadata.get("name", "value")
        if self.metric_type is MetricType.CUSTOM and not (
            isinstance(name, str) and is_metric_name(name)
        ):
            raise ValueError(
                "metadata.name: expected a metric name of lowercase letters, digits, _"
            )
        direction = self.metadata.get("direction", "read")
        if self.metric_type in (MetricType.DISK_IO, MetricType.NETWORK_IO) and direction not in (
            "read",
            "write",
        ):
            raise ValueError('metadata.direction: expected "read" or "write"')
        return self

    def report(self) -> MetricReport:
        """The same measurement as globalmon's own report (validated like any other)."""
        t, v = self.metric_type, self.value
        fields: dict[str, Any] = {"timestamp": self.timestamp}
        if t is MetricType.CPU_USAGE:
            fields["cpu_usage_ratio"] = v / 100
        elif t is MetricType.MEMORY_USAGE:
            fields["memory_usage_ratio"] = v / 100
        elif t is MetricType.RESPONSE_TIME:
            fields["response_times_seconds"] = [v / 1000]
        elif t is MetricType.REQUEST_COUNT:
            fields["requests"] = v
        elif t in (MetricType.DISK_IO, MetricType.NETWORK_IO):
            kind = "disk" if t is MetricType.DISK_IO else "network"
            fields[f"{kind}_{self.metadata.get('direction', 'read')}_bytes"] = v
        else:
            name = {
                MetricType.ERROR_RATE: "reported_error_rate",
                MetricType.THROUGHPUT: "throughput_per_second",
            }.get(t) or str(self.metadata.get("name", "value"))
            fields["custom"] = [CustomMetric.model_validate({"name": name, "value": v})]
        return MetricReport.model_validate(fields)

    def record(self) -> dict[str, Any]:
        """What is stored beside the report's numbers, so a query gives it back as sent."""
        return {
            "metric_type": self.metric_type.value,
            "value": self.value,
            "metadata": self.metadata,
        }


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
