"""What plugins send: strict pydantic models, so a bad value is a 4xx naming its field.

Strict types (no "1" for 1), no extra keys, no NaN or infinities, no negative increments. Every
string that could become a label is bounded in length and shape; free text (log messages, event
descriptions, tracebacks) is data and never becomes a label.
"""

from __future__ import annotations

import math
import re
from enum import StrEnum
from typing import Annotated, Any

from pydantic import (
    AfterValidator,
    AliasChoices,
    BaseModel,
    ConfigDict,
    Discriminator,
    Field,
    Tag,
    model_validator,
)

from globalmon import conventions as c

MAX_LABEL_VALUE = 128
MAX_CUSTOM_LABELS = 8
MAX_MESSAGE = 16 * 1024
MAX_TRACEBACK = 64 * 1024
MAX_OBSERVATIONS = 10_000
MAX_BATCH_ITEMS = 5_000

_METRIC_NAME = re.compile(r"[a-z_][a-z0-9_]{0,99}")
# Suffixes Prometheus gives a meaning to: a gauge named like this would confuse every reader.
_RESERVED_SUFFIXES = ("_total", "_count", "_sum", "_bucket", "_created", "_info")
_LABEL_NAME = re.compile(r"[a-zA-Z][a-zA-Z0-9_]{0,63}")
# Labels Prometheus or the exporter sets; a plugin may not set them on a custom metric.
RESERVED_LABELS = frozenset(
    {c.LABEL_PLUGIN, *c.AGENT_TARGET_LABELS, "job", "instance", "le", "quantile"}
)
_TYPE = re.compile(r"[a-z0-9][a-z0-9_.-]{0,63}")


class Level(StrEnum):
    DEBUG = "debug"
    INFO = "info"
    WARNING = "warning"
    ERROR = "error"
    CRITICAL = "critical"


class Severity(StrEnum):
    INFO = "info"
    LOW = "low"
    MEDIUM = "medium"
    HIGH = "high"
    CRITICAL = "critical"


class SnapshotStatus(StrEnum):
    HEALTHY = "healthy"
    DEGRADED = "degraded"
    UNHEALTHY = "unhealthy"
    STOPPED = "stopped"


def is_metric_name(name: str) -> bool:
    """A custom metric name the exposition can carry (``globalmon_plugin_custom_<name>``)."""
    return _METRIC_NAME.fullmatch(name) is not None and not name.endswith(_RESERVED_SUFFIXES)


def _metric_name(name: str) -> str:
    if not _METRIC_NAME.fullmatch(name):
        raise ValueError("a metric name of lowercase letters, digits and _ (at most 100)")
    if name.endswith(_RESERVED_SUFFIXES):
        raise ValueError(f"a gauge name not ending in {', '.join(_RESERVED_SUFFIXES)}")
    return name


def _label_name(name: str) -> str:
    if not _LABEL_NAME.fullmatch(name) or name in RESERVED_LABELS:
        raise ValueError(
            f"a label name [a-zA-Z][a-zA-Z0-9_]* other than {', '.join(sorted(RESERVED_LABELS))}"
        )
    return name


def _event_type(value: str) -> str:
    if not _TYPE.fullmatch(value):
        raise ValueError("an event type of lowercase letters, digits, _ . - (at most 64)")
    return value


def _finite(value: dict[str, Any]) -> dict[str, Any]:
    """Free-form objects too: NaN and infinities are not JSON and would poison every reader."""
    stack: list[Any] = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, float) and not math.isfinite(item):
            raise ValueError("finite numbers only (no NaN or Infinity)")
        if isinstance(item, dict):
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)
    return value


JsonObject = Annotated[dict[str, Any], AfterValidator(_finite)]
MetricName = Annotated[str, AfterValidator(_metric_name)]
CustomLabelName = Annotated[str, AfterValidator(_label_name)]
LabelValue = Annotated[str, Field(max_length=MAX_LABEL_VALUE)]
EventType = Annotated[str, AfterValidator(_event_type)]
Increment = Annotated[float, Field(ge=0)]
Ratio = Annotated[float, Field(ge=0, le=1)]
Timestamp = Annotated[float, Field(gt=0)]


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True, allow_inf_nan=False, frozen=True)


class CustomMetric(Strict):
    name: MetricName
    value: float
    labels: Annotated[dict[CustomLabelName, LabelValue], Field(max_length=MAX_CUSTOM_LABELS)] = (
        Field(default_factory=dict)
    )


class MetricReport(Strict):
    """One report of a plugin's metrics. Counters are increments since the previous report."""

    timestamp: Timestamp | None = None
    cpu_usage_ratio: Ratio | None = None
    memory_bytes: Annotated[float, Field(ge=0)] | None = None
    memory_usage_ratio: Ratio | None = None
    requests: Increment = 0
    errors: Increment = 0
    response_times_seconds: Annotated[
        list[Annotated[float, Field(ge=0)]], Field(max_length=MAX_OBSERVATIONS)
    ] = Field(default_factory=list)
    disk_read_bytes: Increment = 0
    disk_write_bytes: Increment = 0
    network_read_bytes: Increment = 0
    network_write_bytes: Increment = 0
    custom: Annotated[list[CustomMetric], Field(max_length=100)] = Field(default_factory=list)

    @model_validator(mode="after")
    def _errors_are_requests(self) -> MetricReport:
        if self.errors > self.requests:
            raise ValueError("errors to be at most requests (errors are failed requests)")
        return self


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
    """One metric as the seed design's ``record_metric(plugin_id, metric_type, value, metadata)``;
    ``report()`` is the same measurement in globalmon's own shape (exporters/plugin/seed.py
    says how each type lands)."""

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
        name = self.metadata.get("name", c.PLUGIN_SEED_CUSTOM_DEFAULT)
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
                MetricType.ERROR_RATE: c.PLUGIN_SEED_ERROR_RATE,
                MetricType.THROUGHPUT: c.PLUGIN_SEED_THROUGHPUT,
            }.get(t) or str(self.metadata.get("name", c.PLUGIN_SEED_CUSTOM_DEFAULT))
            fields["custom"] = [CustomMetric.model_validate({"name": name, "value": v})]
        return MetricReport.model_validate(fields)

    def record(self) -> dict[str, Any]:
        """What is stored beside the report's numbers, so a query gives it back as sent."""
        return {
            "metric_type": self.metric_type.value,
            "value": self.value,
            "metadata": self.metadata,
        }


def _metric_shape(value: Any) -> str:
    return (
        "seed"
        if isinstance(value, dict | SeedMetric)
        and (isinstance(value, SeedMetric) or "metric_type" in value)
        else "report"
    )


# A batch's metric: globalmon's report, or the seed design's one-metric shape
MetricItem = Annotated[
    Annotated[MetricReport, Tag("report")] | Annotated[SeedMetric, Tag("seed")],
    Discriminator(_metric_shape),
]


class LogIn(Strict):
    timestamp: Timestamp | None = None
    level: Level
    message: Annotated[str, Field(min_length=1, max_length=MAX_MESSAGE)]
    context: JsonObject = Field(default_factory=dict)
    traceback: Annotated[str, Field(max_length=MAX_TRACEBACK)] | None = None


class EventIn(Strict):
    timestamp: Timestamp | None = None
    # `event_type` is the seed design's name for it
    type: EventType = Field(validation_alias=AliasChoices("type", "event_type"))
    severity: Severity
    description: Annotated[str, Field(max_length=MAX_MESSAGE)] = ""
    data: JsonObject = Field(default_factory=dict)


Percent = Annotated[float, Field(ge=0, le=100)]
NonNegative = Annotated[float, Field(ge=0)]


class SnapshotIn(Strict):
    """A point-in-time picture of a plugin: globalmon's fields in base units, and the seed
    design's (``cpu_usage``/``memory_usage`` in percent, ``response_time`` in milliseconds,
    ``disk_io``/``network_io`` as byte counts by name), each optional."""

    timestamp: Timestamp | None = None
    status: SnapshotStatus | None = None
    version: Annotated[str, Field(max_length=MAX_LABEL_VALUE)] = ""
    uptime_seconds: Annotated[float, Field(ge=0)] | None = None
    cpu_usage_ratio: Ratio | None = None
    memory_bytes: Annotated[float, Field(ge=0)] | None = None
    active_connections: Annotated[int, Field(ge=0)] | None = None
    request_count: Annotated[int, Field(ge=0)] | None = None
    error_count: Annotated[int, Field(ge=0)] | None = None
    average_response_time_seconds: Annotated[float, Field(ge=0)] | None = None
    configuration: JsonObject = Field(default_factory=dict)
    dependencies: dict[str, Annotated[str, Field(max_length=MAX_LABEL_VALUE)]] = Field(
        default_factory=dict
    )
    custom: JsonObject = Field(default_factory=dict)
    cpu_usage: Percent | None = None
    memory_usage: Percent | None = None
    response_time: NonNegative | None = None
    error_rate: Ratio | None = None
    throughput: NonNegative | None = None
    disk_io: Annotated[dict[str, NonNegative], Field(max_length=16)] = Field(default_factory=dict)
    network_io: Annotated[dict[str, NonNegative], Field(max_length=16)] = Field(
        default_factory=dict
    )
    custom_metrics: Annotated[dict[str, float], Field(max_length=100)] = Field(default_factory=dict)


SEED_SNAPSHOT_FIELDS = frozenset(
    {"cpu_usage", "memory_usage", "response_time", "error_rate", "throughput", "disk_io",
     "network_io", "custom_metrics"}
)  # fmt: skip


class BatchIn(Strict):
    """Any mix of reports, committed together or not at all."""

    metrics: list[MetricItem] = Field(default_factory=list)
    logs: list[LogIn] = Field(default_factory=list)
    events: list[EventIn] = Field(default_factory=list)
    snapshots: list[SnapshotIn] = Field(default_factory=list)

    @model_validator(mode="after")
    def _bounded(self) -> BatchIn:
        n = len(self.metrics) + len(self.logs) + len(self.events) + len(self.snapshots)
        if n == 0:
            raise ValueError("at least one of metrics, logs, events, snapshots")
        if n > MAX_BATCH_ITEMS:
            raise ValueError(f"at most {MAX_BATCH_ITEMS} items in one batch")
        return self

    def reports(self) -> list[tuple[MetricReport, dict[str, Any] | None]]:
        """Each metric as globalmon's report, with the seed's record when sent in that shape."""
        return [
            (m.report(), m.record()) if isinstance(m, SeedMetric) else (m, None)
            for m in self.metrics
        ]

    @property
    def size(self) -> int:
        return len(self.metrics) + len(self.logs) + len(self.events) + len(self.snapshots)
