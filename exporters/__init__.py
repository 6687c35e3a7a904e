"""Agent exporter, agent registry and plugin exporter (issue 4)."""

from prometheus_client import disable_created_metrics

# Our counters are process-lifetime or restored from SQLite; *_created gauges would only double
# the series count (Prometheus 2.42 does not use them from the text format).
disable_created_metrics()  # type: ignore[no-untyped-call]
