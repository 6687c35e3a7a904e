"""Every metric, label, recording-rule, rule-group and alert name globalmon uses.

Exporters, generated rules, dashboards, the sidecar and the webhook all import their names from
here, so a rename happens in one place and a test can check every name against Prometheus'
naming rules (prefix, base units, ``_total`` on counters, ``level:metric:operations``).
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Literal

from globalmon import alerts as _catalogue

# the alert catalogue lives beside this module (it is more than names); found here all the same
ALERTS = _catalogue.ALERTS
ALERTS_BY_NAME = _catalogue.ALERTS_BY_NAME
META_PATH_ALERTS = _catalogue.META_PATH_ALERTS
WATCHDOG_MISSING_AFTER_SECONDS = _catalogue.WATCHDOG_MISSING_AFTER_SECONDS
AlertDef = _catalogue.AlertDef
AlertName = _catalogue.AlertName
Scope = _catalogue.Scope
Severity = _catalogue.Severity
alert_names = _catalogue.alert_names
alerts_in_scope = _catalogue.alerts_in_scope

PREFIX = "globalmon_"

# --- label names -------------------------------------------------------------------------------
LABEL_REGION = "region"
LABEL_AGENT = "agent"
LABEL_AGENT_TYPE = "agent_type"
LABEL_HOSTNAME = "hostname"
LABEL_SERVICE = "service"
LABEL_PLUGIN = "plugin"
LABEL_SEVERITY = "severity"
LABEL_VERSION = "version"
LABEL_GROUP = "group"
LABEL_PROBE = "probe"
LABEL_MOUNTPOINT = "mountpoint"
LABEL_INTERFACE = "interface"
LABEL_DIRECTION = "direction"
LABEL_TARGET = "target"
LABEL_HORIZON = "horizon"
LABEL_BOUND = "bound"
LABEL_SLO = "slo"

LABEL_LEVEL = "level"
LABEL_TYPE = "type"
LABEL_REASON = "reason"
LABEL_COMPONENT = "component"
LABEL_KIND = "kind"
LABEL_RECEIVER = "receiver"
LABEL_OUTCOME = "outcome"
LABEL_ACTION = "action"
LABEL_AUTO_RECOVERED = "auto_recovered"
LABEL_RESULT = "result"
LABEL_STEP = "step"
LABEL_STATUS = "status"
LABEL_MODE = "mode"  # CPU time's mode, as node_exporter names them: user, system, idle, ...

# Labels the generator and the stack set themselves; a spec may not set them as external labels.
RESERVED_EXTERNAL_LABELS = frozenset({LABEL_REGION, "replica", "prometheus"})

# Target labels Prometheus attaches to every agent (from the spec or the registry's http_sd).
# Exporters never emit these themselves, so no label is renamed to exported_*.
AGENT_TARGET_LABELS = (LABEL_REGION, LABEL_AGENT, LABEL_AGENT_TYPE)

# --- scrape jobs -----------------------------------------------------------------------------
JOB_AGENT = "globalmon-agent"
JOB_PLUGIN_EXPORTER = "globalmon-plugin-exporter"
JOB_SIDECAR = "globalmon-sidecar"
JOB_WEBHOOK = "globalmon-webhook"
JOB_PROMETHEUS = "prometheus"
JOB_ALERTMANAGER = "alertmanager"
JOB_FEDERATE = "globalmon-federate"
JOB_NODE = "node"  # node_exporter next to an agent (agents[].node_exporter), the usual job name
# a scraped service's job is named after it, so it must not be one of these
OWN_JOBS = frozenset(
    (JOB_AGENT, JOB_PLUGIN_EXPORTER, JOB_SIDECAR, JOB_WEBHOOK, JOB_PROMETHEUS, JOB_ALERTMANAGER,
     JOB_FEDERATE, JOB_NODE)
)  # fmt: skip

MetricType = Literal["counter", "gauge", "histogram", "info"]


@dataclass(frozen=True)
class MetricDef:
    """One metric family: its full name, type, help text and label names."""

    name: str
    type: MetricType
    help: str
    labels: tuple[str, ...] = ()


def _m(name: str, type_: MetricType, help_: str, *labels: str) -> MetricDef:
    return MetricDef(PREFIX + name, type_, help_, labels)


# --- agent exporter: identity and liveness -----------------------------------------------------
AGENT_INFO = _m(
    "agent_info",
    "info",
    "Identity of a globalmon agent; value is always 1.",
    LABEL_HOSTNAME,
    LABEL_VERSION,
)
AGENT_HEARTBEAT = _m(
    "agent_heartbeat_timestamp_seconds", "gauge", "Unix time of the agent's last heartbeat."
)
AGENT_UPTIME = _m("agent_uptime_seconds", "gauge", "Seconds since the agent started.")
BUILD_INFO = _m("build_info", "info", "globalmon build; value is always 1.", LABEL_VERSION)

# --- agent exporter: host ----------------------------------------------------------------------
# CPU time as node_exporter's node_cpu_seconds_total counts it, summed over the host's CPUs: a
# counter Prometheus rates, right on the first scrape and under any number of scrapers.
HOST_CPU = _m("host_cpu_seconds_total", "counter", "CPU seconds per mode, all CPUs.", LABEL_MODE)
CPU_IDLE_MODES = ("idle", "iowait")
HOST_MEMORY_USED = _m("host_memory_used_bytes", "gauge", "Memory in use.")
HOST_MEMORY_AVAILABLE = _m("host_memory_available_bytes", "gauge", "Memory available.")
HOST_MEMORY_TOTAL = _m("host_memory_total_bytes", "gauge", "Physical memory.")
HOST_DISK_USED = _m("host_disk_used_bytes", "gauge", "Bytes used per mount.", LABEL_MOUNTPOINT)
HOST_DISK_SIZE = _m("host_disk_size_bytes", "gauge", "Size per mount.", LABEL_MOUNTPOINT)
HOST_NETWORK = _m(
    "host_network_bytes_total",
    "counter",
    "Bytes per interface and direction.",
    LABEL_INTERFACE,
    LABEL_DIRECTION,
)
HOST_LOAD1 = _m("host_load1", "gauge", "One-minute load average.")

# --- agent exporter: process groups and probes -------------------------------------------------
PROCESS_UP = _m("process_up", "gauge", "1 when the process group has a process.", LABEL_GROUP)
PROCESS_COUNT = _m("process_count", "gauge", "Processes in the group.", LABEL_GROUP)
PROCESS_CPU = _m("process_cpu_seconds_total", "counter", "CPU seconds of the group.", LABEL_GROUP)
PROCESS_RESIDENT = _m(
    "process_resident_memory_bytes", "gauge", "Resident memory of the group.", LABEL_GROUP
)
PROCESS_OPEN_FDS = _m("process_open_fds", "gauge", "Open file descriptors.", LABEL_GROUP)
PROBE_SUCCESS = _m("probe_success", "gauge", "1 when the last probe succeeded.", LABEL_PROBE)
PROBE_DURATION = _m("probe_duration_seconds", "histogram", "Probe duration.", LABEL_PROBE)

PROBE_HTTP_STATUS = _m(
    "probe_http_status_code", "gauge", "HTTP status of the last probe (0: none).", LABEL_PROBE
)
AGENT_REGISTRATIONS = _m(
    "agent_registrations_total",
    "counter",
    "Registration heartbeats sent, by outcome.",
    LABEL_OUTCOME,
)

# --- agent registry ---------------------------------------------------------------------------
LABEL_STATE = "state"
REGISTRY_AGENTS = _m(
    "registry_agents", "gauge", "Registered agents by state (live, stale).", LABEL_STATE
)
REGISTRY_REQUESTS = _m(
    "registry_requests_total", "counter", "Registry requests by outcome.", LABEL_OUTCOME
)

# --- services (instrumented by the services themselves, or by the demo load generator) ---------
SERVICE_REQUESTS = _m("service_requests_total", "counter", "Requests served.", LABEL_SERVICE)
SERVICE_ERRORS = _m("service_errors_total", "counter", "Requests failed.", LABEL_SERVICE)
SERVICE_DURATION = _m(
    "service_request_duration_seconds", "histogram", "Request duration.", LABEL_SERVICE
)


@dataclass(frozen=True)
class MetricPreset:
    """A service's request signals as a common instrumentation names them: a requests counter,
    the matcher that makes it the failed ones (or a counter of its own), a duration histogram."""

    requests: str
    errors: str
    error_matcher: str  # added to `errors`; empty when `errors` counts only failures
    buckets: str


METRIC_PRESETS = {
    # globalmon's own names (the SDK, the demo's services)
    "globalmon": MetricPreset(
        SERVICE_REQUESTS.name, SERVICE_ERRORS.name, "", SERVICE_DURATION.name + "_bucket"
    ),
    # client_python, promhttp middlewares, starlette/aiohttp exporters
    "prometheus-http": MetricPreset(
        "http_requests_total",
        "http_requests_total",
        'code=~"5.."',
        "http_request_duration_seconds_bucket",
    ),
    # OpenTelemetry HTTP server semantic conventions through the Prometheus exporter
    "opentelemetry": MetricPreset(
        "http_server_request_duration_seconds_count",
        "http_server_request_duration_seconds_count",
        'http_response_status_code=~"5.."',
        "http_server_request_duration_seconds_bucket",
    ),
    # Micrometer (Spring Boot) with percentile histograms on
    "micrometer": MetricPreset(
        "http_server_requests_seconds_count",
        "http_server_requests_seconds_count",
        'status=~"5.."',
        "http_server_requests_seconds_bucket",
    ),
}

# --- plugin exporter -------------------------------------------------------------------------
PLUGIN_CPU = _m("plugin_cpu_usage_ratio", "gauge", "Plugin CPU usage, 0-1.", LABEL_PLUGIN)
PLUGIN_MEMORY = _m("plugin_memory_bytes", "gauge", "Plugin resident memory.", LABEL_PLUGIN)
PLUGIN_MEMORY_USAGE = _m(
    "plugin_memory_usage_ratio", "gauge", "Plugin memory over its limit, 0-1.", LABEL_PLUGIN
)
PLUGIN_REQUESTS = _m("plugin_requests_total", "counter", "Plugin requests.", LABEL_PLUGIN)
PLUGIN_ERRORS = _m("plugin_errors_total", "counter", "Plugin errors.", LABEL_PLUGIN)
PLUGIN_RESPONSE_TIME = _m(
    "plugin_response_time_seconds", "histogram", "Plugin response time.", LABEL_PLUGIN
)
PLUGIN_LOGS = _m(
    "plugin_log_messages_total", "counter", "Log messages by level.", LABEL_PLUGIN, LABEL_LEVEL
)
PLUGIN_EVENTS = _m(
    "plugin_events_total",
    "counter",
    "Events by type and severity.",
    LABEL_PLUGIN,
    LABEL_TYPE,
    LABEL_SEVERITY,
)
PLUGIN_IO = _m(
    "plugin_io_bytes_total",
    "counter",
    "Disk and network IO by kind (disk, network) and direction (read, write).",
    LABEL_PLUGIN,
    LABEL_KIND,
    LABEL_DIRECTION,
)
PLUGIN_SNAPSHOTS = _m("plugin_snapshots_total", "counter", "Snapshots stored.", LABEL_PLUGIN)
PLUGIN_LAST_REPORT = _m(
    "plugin_last_report_timestamp_seconds",
    "gauge",
    "Unix time of a plugin's last report.",
    LABEL_PLUGIN,
)
# Custom plugin metrics are gauges named PREFIX + NAME, one family per name (names are checked
# against Prometheus' rules and this list of reserved suffixes before they are accepted).
PLUGIN_CUSTOM_PREFIX = PREFIX + "plugin_custom_"
PLUGIN_CUSTOM_HELP = "Custom plugin metric {name}."
# The seed design's one-metric calls with no series of their own land as these custom names
# (globalmon_plugin_custom_<name>): its error rate and throughput as the plugin reported them,
# and a `custom` metric without metadata.name.
PLUGIN_SEED_ERROR_RATE = "reported_error_rate"
PLUGIN_SEED_THROUGHPUT = "throughput_per_second"
PLUGIN_SEED_CUSTOM_DEFAULT = "value"
PLUGIN_EXPORTER_PLUGINS = _m(
    "plugin_exporter_plugins", "gauge", "Plugins by state (live, evicted).", LABEL_STATE
)
PLUGIN_EXPORTER_SCRAPE_DURATION = _m(
    "plugin_exporter_scrape_duration_seconds", "gauge", "Time the last /metrics render took."
)
PLUGIN_EXPORTER_STORED = _m(
    "plugin_exporter_stored_records", "gauge", "Records in the store by kind.", LABEL_KIND
)
PLUGIN_EXPORTER_PUSHES = _m(
    "plugin_exporter_webhook_pushes_total",
    "counter",
    "Critical events pushed to the alert webhook, by outcome.",
    LABEL_OUTCOME,
)
INGEST_ACCEPTED = _m("ingest_accepted_total", "counter", "Ingest items accepted.", LABEL_KIND)
INGEST_REJECTED = _m("ingest_rejected_total", "counter", "Ingest requests rejected.", LABEL_REASON)
HTTP_AUTH_FAILURES = _m(
    "http_auth_failures_total",
    "counter",
    "Requests refused for bad credentials.",
    LABEL_COMPONENT,
)
HTTP_RATE_LIMITED = _m(
    "http_rate_limited_total", "counter", "Requests refused by a rate limit.", LABEL_COMPONENT
)

# --- forecaster sidecar: outputs keep the source series' labels plus these -------------------
# the `bound` label's values: the forecast itself and each band's edges (the 95% band kept the
# plain names it always had; the 80% band is new beside it)
BOUND_YHAT = "yhat"
BAND_BOUNDS = {0.95: ("yhat_lower", "yhat_upper"), 0.8: ("yhat_lower_80", "yhat_upper_80")}
FORECAST = _m(
    "forecast_value",
    "gauge",
    "Forecast of a target's series.",
    LABEL_TARGET,
    LABEL_HORIZON,
    LABEL_BOUND,
)
ANOMALY_SCORE = _m(
    "anomaly_score",
    "gauge",
    "Anomaly score, 0-1 (causal): r / (1 + r), r the surprise over the week's largest.",
    LABEL_TARGET,
)
ANOMALY_FLAG = _m("anomaly_flag", "gauge", "1 when the series is anomalous now.", LABEL_TARGET)
CAPACITY_EXHAUSTION = _m(
    "capacity_exhaustion_seconds",
    "gauge",
    "Seconds until the forecast crosses the limit.",
    LABEL_TARGET,
)
CAPACITY_EXHAUSTION_AT = _m(
    "capacity_exhaustion_timestamp_seconds",
    "gauge",
    "Unix time the forecast crosses the limit.",
    LABEL_TARGET,
)
TREND_SLOPE = _m("trend_slope_per_second", "gauge", "Trend slope per second.", LABEL_TARGET)
TREND_DIRECTION = _m(
    "trend_direction", "gauge", "-1 improving, 0 stable, 1 degrading.", LABEL_TARGET
)
FORECAST_MASE = _m(
    "forecast_backtest_mase", "gauge", "Backtest MASE per target.", LABEL_TARGET, LABEL_HORIZON
)
FORECASTER_RUN_DURATION = _m("forecaster_run_duration_seconds", "gauge", "Last run's duration.")
FORECASTER_LAST_SUCCESS = _m(
    "forecaster_last_success_timestamp_seconds", "gauge", "Unix time of the last good run."
)
FORECASTER_SERIES = _m("forecaster_series", "gauge", "Series forecast.", LABEL_TARGET)
FORECASTER_FAILURES = _m(
    "forecaster_failures_total", "counter", "Failed fits and queries.", LABEL_REASON
)

# --- alert webhook ------------------------------------------------------------------------------
WEBHOOK_ALERTS = _m("webhook_alerts_received_total", "counter", "Alerts received.", LABEL_STATUS)
WEBHOOK_INCIDENTS_OPEN = _m(
    "webhook_incidents_open", "gauge", "Open incidents.", LABEL_SEVERITY, LABEL_REGION
)
WEBHOOK_NOTIFICATIONS = _m(
    "webhook_notifications_total",
    "counter",
    "Notifications sent.",
    LABEL_RECEIVER,
    LABEL_OUTCOME,
)
WEBHOOK_ESCALATIONS = _m("webhook_escalations_total", "counter", "Escalation steps.", LABEL_STEP)
WEBHOOK_ACTIONS = _m(
    "webhook_actions_total", "counter", "Recovery actions.", LABEL_ACTION, LABEL_RESULT
)
# Operational KPIs: each acknowledgement and resolution as it happens (histograms), and the
# means and the recovery success of the last KPI_WINDOW_SECONDS from the webhook's database
# (gauges: they survive restarts and need no increase() over a series born mid-window).
WEBHOOK_TIME_TO_ACKNOWLEDGE = _m(
    "webhook_incident_time_to_acknowledge_seconds",
    "histogram",
    "From an incident's opening to an operator's acknowledgement.",
    LABEL_REGION,
    LABEL_SEVERITY,
)
WEBHOOK_TIME_TO_RESOLVE = _m(
    "webhook_incident_time_to_resolve_seconds",
    "histogram",
    "From an incident's opening to its resolution; auto_recovered when a recovery action fixed it.",
    LABEL_REGION,
    LABEL_SEVERITY,
    LABEL_AUTO_RECOVERED,
)
WEBHOOK_MEAN_TIME_TO_RESOLVE = _m(
    "webhook_mean_time_to_resolve_seconds",
    "gauge",
    "Mean time to resolve (MTTR) of the incidents resolved in the last 7 days.",
    LABEL_REGION,
    LABEL_SERVICE,
)
WEBHOOK_MEAN_TIME_TO_ACKNOWLEDGE = _m(
    "webhook_mean_time_to_acknowledge_seconds",
    "gauge",
    "Mean time to acknowledge of the incidents acknowledged in the last 7 days.",
    LABEL_REGION,
)
WEBHOOK_RECOVERY_SUCCESS = _m(
    "webhook_recovery_success_ratio",
    "gauge",
    "Share of the last 7 days' finished recovery runs that succeeded (and were verified, "
    "where the action has a check).",
    LABEL_ACTION,
)
KPI_WINDOW_SECONDS = 7 * 86400
KPI_BUCKETS = (30, 60, 120, 300, 600, 1800, 3600, 7200, 14400, 43200, 86400, 259200)
WEBHOOK_PROCESSING = _m(
    "webhook_processing_duration_seconds", "histogram", "Time to commit a webhook payload."
)
WEBHOOK_DUPLICATES = _m(
    "webhook_alerts_duplicate_total",
    "counter",
    "Alerts already received (Alertmanager retries, HA pairs); ignored.",
)
WEBHOOK_WATCHDOG = _m(
    "webhook_watchdog_last_seen_timestamp_seconds",
    "gauge",
    "When each region's Watchdog alert last arrived (the alert pipeline works).",
    LABEL_REGION,
)
WEBHOOK_REJECTED = _m(
    "webhook_payloads_rejected_total", "counter", "Payloads refused, by reason.", LABEL_REASON
)

# Prometheus' and Alertmanager's own metrics that meta-monitoring reads (not ours: no prefix).
PROMETHEUS_RULE_FAILURES = "prometheus_rule_evaluation_failures_total"

# services[].profile: fast. The service's job scrapes every FAST_SCRAPE_INTERVAL; its RED rules
# are evaluated as often, with windows and `for` divided by FAST_TIME_FACTOR (5m -> 5s, at least
# two scrapes); Alertmanager sends its alerts after FAST_GROUP_WAIT.
FAST_SCRAPE_INTERVAL = "1s"
FAST_TIME_FACTOR = 60
FAST_GROUP_WAIT = "0s"
FAST_GROUP_INTERVAL = "5s"

# node_exporter's series the host rules read where agents[].node_exporter is set.
NODE_CPU = "node_cpu_seconds_total"
NODE_MEMORY_AVAILABLE = "node_memory_MemAvailable_bytes"
NODE_MEMORY_TOTAL = "node_memory_MemTotal_bytes"
NODE_FILESYSTEM_AVAIL = "node_filesystem_avail_bytes"
NODE_FILESYSTEM_SIZE = "node_filesystem_size_bytes"
# File systems that say nothing about disk space (node_exporter's own default exclusions).
NODE_PSEUDO_FS = (
    "autofs|binfmt_misc|bpf|cgroup2?|configfs|debugfs|devpts|devtmpfs|fusectl|"
    "hugetlbfs|iso9660|mqueue|nsfs|overlay|proc|procfs|pstore|rpc_pipefs|securityfs|"
    "selinuxfs|squashfs|sysfs|tracefs|tmpfs"
)
ALERTMANAGER_NOTIFY_FAILURES = "alertmanager_notifications_failed_total"

METRICS: tuple[MetricDef, ...] = tuple(
    v for v in dict(globals()).values() if isinstance(v, MetricDef)
)

# --- recording rules (level:metric:operations) -------------------------------------------------
RECORD_AGENTS_UP_RATIO = "region:globalmon_agent_up:ratio"
RECORD_REGION_HEALTH = "region:globalmon_health:ratio"
RECORD_SERVICE_REQUEST_RATE = "region_service:globalmon_service_requests:rate5m"
RECORD_SERVICE_ERROR_RATIO = "region_service:globalmon_service_errors:ratio_rate5m"
RECORD_SLO_ERROR_RATIO = "slo:sli_error:ratio_rate{window}"  # window e.g. 5m, 1h, 3d

RECORD_PROBE_SUCCESS_RATIO = "region:globalmon_probe_success:ratio"
# Host resources per agent, from node_exporter where it runs, else the agent's own collector.
RECORD_HOST_CPU_BUSY = "agent:globalmon_host_cpu_busy:ratio_rate5m"
RECORD_HOST_MEMORY_USED = "agent:globalmon_host_memory_used:ratio"
RECORD_HOST_DISK_USED = "agent:globalmon_host_disk_used:ratio"
RECORD_SERVICE_LATENCY_P95 = "region_service:globalmon_service_request_duration_seconds:p95_rate5m"
RECORD_PLUGIN_ERROR_RATIO = "plugin:globalmon_plugin_errors:ratio_rate5m"
RECORD_PLUGIN_LATENCY_P95 = "plugin:globalmon_plugin_response_time_seconds:p95_rate5m"
RECORD_FORECAST_INPUT = "target:globalmon_forecast_input:value"
RECORD_SLO_OBJECTIVE = "slo:objective:ratio"
RECORD_SLO_BUDGET_REMAINING = "slo:error_budget:remaining_ratio"

# --- dashboards (Grafana uids) ----------------------------------------------------------------
DASH_OVERVIEW = "globalmon-overview"
DASH_REGION = "globalmon-region"
DASH_SERVICE = "globalmon-service"
DASH_PLUGIN = "globalmon-plugin"
DASH_CAPACITY = "globalmon-capacity"
DASH_INCIDENTS = "globalmon-incidents"

# --- rule groups -------------------------------------------------------------------------------
GROUP_RECORDING = "globalmon.recording"
GROUP_AGENTS = "globalmon.agents"
GROUP_REGIONS = "globalmon.regions"
GROUP_RESOURCES = "globalmon.resources"
GROUP_SERVICES = "globalmon.services"
GROUP_SLOS = "globalmon.slos"
GROUP_CAPACITY = "globalmon.capacity"
GROUP_ANOMALY = "globalmon.anomaly"
GROUP_PLUGINS = "globalmon.plugins"
GROUP_SECURITY = "globalmon.security"
GROUP_META = "globalmon.meta"


# --- the webhook's records: the states its API reports -----------------------------------------
class IncidentState(StrEnum):
    FIRING = "firing"
    ACKNOWLEDGED = "acknowledged"
    RESOLVED = "resolved"


class ActionState(StrEnum):
    """A recovery action's run, from queued to its end (all but the first four are final)."""

    PENDING = "pending"
    AWAITING_APPROVAL = "awaiting_approval"
    RUNNING = "running"
    VERIFYING = "verifying"
    SUCCEEDED = "succeeded"
    VERIFIED = "verified"
    VERIFY_FAILED = "verify_failed"
    FAILED = "failed"
    TIMEOUT = "timeout"
    ERROR = "error"
    SKIPPED = "skipped"
    PRECONDITION_FAILED = "precondition_failed"
    REFUSED = "refused"
    REJECTED = "rejected"
    INTERRUPTED = "interrupted"


class DeliveryState(StrEnum):
    PENDING = "pending"
    SENT = "sent"
    FAILED = "failed"
