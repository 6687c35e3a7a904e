"""Grafana dashboards built with grafana-foundation-sdk, and Grafana's provisioning files.

Boards drill down: overview -> region -> service or plugin. Every query uses names from
globalmon/conventions.py; a test evaluates each one on a real Prometheus.
"""

from __future__ import annotations

from typing import Any

from globalmon import conventions as c
from globalmon.spec import Spec
from rules_generator.panels import (
    REGION_VAR,
    R,
    board,
    link,
    query,
    st,
    tbl,
    ts,
    variable,
)


def overview() -> dict[str, Any]:
    to_region = [
        link(
            "Region ${__field.labels.region}", c.DASH_REGION, "var-region=${__field.labels.region}"
        )
    ]
    return board(
        c.DASH_OVERVIEW,
        "globalmon / Global overview",
        [],
        [
            st("Region health", "percentunit", c.RECORD_REGION_HEALTH, "{{region}}", to_region),
            st(
                "Agents online",
                "none",
                f'sum by (region) (up{{job="{c.JOB_AGENT}"}})',
                "{{region}}",
                to_region,
            ),
            st(
                "Firing alerts",
                "none",
                'count by (severity) (ALERTS{alertstate="firing"})',
                "{{severity}}",
            ),
            ts(
                "Agents up ratio",
                "percentunit",
                query(c.RECORD_AGENTS_UP_RATIO, "{{region}}"),
                links=to_region,
            ),
            tbl("Active alerts", "none", 'ALERTS{alertstate="firing"}', to_region),
        ],
    )


def region_board() -> dict[str, Any]:
    to_service = [
        link(
            "Service ${__field.labels.service}",
            c.DASH_SERVICE,
            "var-region=${region}&var-service=${__field.labels.service}",
        )
    ]
    to_plugin = [
        link(
            "Plugin ${__field.labels.plugin}",
            c.DASH_PLUGIN,
            "var-region=${region}&var-plugin=${__field.labels.plugin}",
        )
    ]
    a = f'job="{c.JOB_AGENT}",{R}'
    return board(
        c.DASH_REGION,
        "globalmon / Region",
        [variable("region", REGION_VAR)],
        [
            st("Agents up", "percentunit", f"{c.RECORD_AGENTS_UP_RATIO}{{{R}}}", "{{region}}"),
            st(
                "Probe success",
                "percentunit",
                f"{c.RECORD_PROBE_SUCCESS_RATIO}{{{R}}}",
                "{{region}}",
            ),
            st("Health", "percentunit", f"{c.RECORD_REGION_HEALTH}{{{R}}}", "{{region}}"),
            tbl("Agents", "none", f"up{{{a}}}"),
            # node_exporter's series where it runs next to the agent, else the agent's own
            ts("CPU busy", "percentunit", query(f"{c.RECORD_HOST_CPU_BUSY}{{{R}}}", "{{agent}}")),
            ts(
                "Memory used",
                "percentunit",
                query(f"{c.RECORD_HOST_MEMORY_USED}{{{R}}}", "{{agent}}"),
            ),
            ts(
                "Disk used",
                "percentunit",
                query(f"{c.RECORD_HOST_DISK_USED}{{{R}}}", "{{agent}} {{mountpoint}}"),
            ),
            ts(
                "Probe duration p95",
                "s",
                query(
                    f"histogram_quantile(0.95, sum by (le, probe) "
                    f"(rate({c.PROBE_DURATION.name}_bucket{{{a}}}[5m])))",
                    "{{probe}}",
                ),
            ),
            ts(
                "Service request rate",
                "reqps",
                query(f"{c.RECORD_SERVICE_REQUEST_RATE}{{{R}}}", "{{service}}"),
                links=to_service,
            ),
            ts(
                "Service error ratio",
                "percentunit",
                query(f"{c.RECORD_SERVICE_ERROR_RATIO}{{{R}}}", "{{service}}"),
                links=to_service,
            ),
            ts(
                "Plugin error ratio",
                "percentunit",
                query(f"{c.RECORD_PLUGIN_ERROR_RATIO}{{{R}}}", "{{plugin}}"),
                links=to_plugin,
            ),
        ],
        links=[link("Overview", c.DASH_OVERVIEW, "")],
    )


def service_board() -> dict[str, Any]:
    s = f'{R},service="$service"'
    slo_burn = (
        f"{c.RECORD_SLO_ERROR_RATIO.format(window='1h')}{{{s}}} / on (region, service, slo)"
        f" (1 - {c.RECORD_SLO_OBJECTIVE}{{{s}}})"
    )
    return board(
        c.DASH_SERVICE,
        "globalmon / Service",
        [
            variable("region", REGION_VAR),
            variable("service", f"label_values({c.RECORD_SERVICE_REQUEST_RATE}{{{R}}}, service)"),
        ],
        [
            ts(
                "Request rate",
                "reqps",
                query(f"{c.RECORD_SERVICE_REQUEST_RATE}{{{s}}}", "requests"),
            ),
            ts(
                "Error ratio",
                "percentunit",
                query(f"{c.RECORD_SERVICE_ERROR_RATIO}{{{s}}}", "errors"),
            ),
            ts("Latency p95", "s", query(f"{c.RECORD_SERVICE_LATENCY_P95}{{{s}}}", "p95")),
            ts("SLO burn rate (1h)", "none", query(slo_burn, "{{slo}}")),
            st(
                "Error budget left",
                "percentunit",
                f"{c.RECORD_SLO_BUDGET_REMAINING}{{{s}}}",
                "{{slo}}",
            ),
        ],
        links=[link("Region", c.DASH_REGION, "var-region=${region}")],
    )


def plugin_board() -> dict[str, Any]:
    p = f'{R},plugin="$plugin"'
    return board(
        c.DASH_PLUGIN,
        "globalmon / Plugin",
        [
            variable("region", REGION_VAR),
            variable("plugin", f"label_values({c.PLUGIN_REQUESTS.name}{{{R}}}, plugin)"),
        ],
        [
            ts("CPU usage", "percentunit", query(f"{c.PLUGIN_CPU.name}{{{p}}}", "cpu")),
            ts("Memory", "bytes", query(f"{c.PLUGIN_MEMORY.name}{{{p}}}", "resident")),
            ts(
                "Error ratio",
                "percentunit",
                query(f"{c.RECORD_PLUGIN_ERROR_RATIO}{{{p}}}", "errors"),
            ),
            ts("Response time p95", "s", query(f"{c.RECORD_PLUGIN_LATENCY_P95}{{{p}}}", "p95")),
            ts(
                "Log messages",
                "cps",
                query(f"sum by (level) (rate({c.PLUGIN_LOGS.name}{{{p}}}[5m]))", "{{level}}"),
            ),
            ts(
                "Events",
                "cps",
                query(
                    f"sum by (severity) (rate({c.PLUGIN_EVENTS.name}{{{p}}}[5m]))", "{{severity}}"
                ),
            ),
            ts(
                "IO",
                "Bps",
                query(
                    f"sum by (kind, direction) (rate({c.PLUGIN_IO.name}{{{p}}}[5m]))",
                    "{{kind}} {{direction}}",
                ),
            ),
            st(
                "Snapshots (24h)",
                "none",
                f"sum(increase({c.PLUGIN_SNAPSHOTS.name}{{{p}}}[24h]))",
                "snapshots",
            ),
        ],
        links=[link("Region", c.DASH_REGION, "var-region=${region}")],
    )


def capacity_board() -> dict[str, Any]:
    t = f'{R},target="$target"'
    return board(
        c.DASH_CAPACITY,
        "globalmon / Capacity and forecasts",
        [
            variable("region", REGION_VAR),
            variable("target", f"label_values({c.RECORD_FORECAST_INPUT}{{{R}}}, target)"),
        ],
        [
            ts(
                "Actual and forecast",
                "none",
                query(f"{c.RECORD_FORECAST_INPUT}{{{t}}}", "actual {{instance}}"),
                query(
                    f'{c.FORECAST.name}{{{t},bound=~"yhat|yhat_lower|yhat_upper"}}',
                    "{{bound}} {{horizon}} {{instance}}",
                    "B",
                ),
            ),
            ts(
                "Anomaly score",
                "percentunit",
                query(f"{c.ANOMALY_SCORE.name}{{{t}}}", "{{instance}}"),
            ),
            tbl("Time to exhaustion", "s", f"{c.CAPACITY_EXHAUSTION.name}{{{R}}}"),
            ts(
                "Trend slope per second",
                "none",
                query(f"{c.TREND_SLOPE.name}{{{t}}}", "{{instance}}"),
            ),
            st("Backtest MASE", "none", f"{c.FORECAST_MASE.name}{{{t}}}", "{{horizon}}"),
            st(
                "Last forecast run",
                "dateTimeFromNow",
                f"{c.FORECASTER_LAST_SUCCESS.name}{{{R}}} * 1000",
                "{{instance}}",
            ),
        ],
    )


def incidents_board() -> dict[str, Any]:
    return board(
        c.DASH_INCIDENTS,
        "globalmon / Incidents",
        [],
        [
            st(
                "Open incidents",
                "none",
                # one copy per incident region (every region's Prometheus scrapes the webhook)
                f"sum by (severity) (max by (severity, exported_region) "
                f"({c.WEBHOOK_INCIDENTS_OPEN.name}))",
                "{{severity}}",
            ),
            ts(
                "Escalations",
                "cps",
                query(f"sum by (step) (rate({c.WEBHOOK_ESCALATIONS.name}[5m]))", "step {{step}}"),
            ),
            ts(
                "Recovery actions",
                "cps",
                query(
                    f"sum by (action, result) (rate({c.WEBHOOK_ACTIONS.name}[5m]))",
                    "{{action}} {{result}}",
                ),
            ),
            ts(
                "Notifications",
                "cps",
                query(
                    f"sum by (receiver, outcome) (rate({c.WEBHOOK_NOTIFICATIONS.name}[5m]))",
                    "{{receiver}} {{outcome}}",
                ),
            ),
            ts(
                "Webhook processing p99",
                "s",
                query(
                    f"histogram_quantile(0.99, sum by (le) "
                    f"(rate({c.WEBHOOK_PROCESSING.name}_bucket[5m])))",
                    "p99",
                ),
            ),
            # The KPIs: every region's Prometheus scrapes the webhook, so each series is there
            # once per region (the incident's region as exported_region): max takes one copy.
            ts(
                "Mean time to resolve, last 7 days",
                "s",
                query(
                    f"max by (exported_region, service) ({c.WEBHOOK_MEAN_TIME_TO_RESOLVE.name})",
                    "{{exported_region}} {{service}}",
                ),
            ),
            ts(
                "Mean time to acknowledge, last 7 days",
                "s",
                query(
                    f"max by (exported_region) ({c.WEBHOOK_MEAN_TIME_TO_ACKNOWLEDGE.name})",
                    "{{exported_region}}",
                ),
            ),
            ts(
                "Automatic recovery success, last 7 days",
                "percentunit",
                query(f"max by (action) ({c.WEBHOOK_RECOVERY_SUCCESS.name})", "{{action}}"),
            ),
            ts(
                "Security rejections",
                "cps",
                query(f"sum by (job) (rate({c.HTTP_AUTH_FAILURES.name}[5m]))", "auth {{job}}"),
                query(
                    f"sum by (job) (rate({c.HTTP_RATE_LIMITED.name}[5m]))",
                    "rate-limited {{job}}",
                    "B",
                ),
            ),
        ],
    )


def dashboards(source: str) -> dict[str, dict[str, Any]]:
    """Every board by uid; JSON has no comments, so the DO NOT EDIT note is the description."""
    boards = [
        overview(),
        region_board(),
        service_board(),
        plugin_board(),
        capacity_board(),
        incidents_board(),
    ]
    for b in boards:
        b["description"] = f"Generated by globalmon generate from {source}. DO NOT EDIT."
    return {b["uid"]: b for b in boards}


def provisioning(spec: Spec) -> dict[str, dict[str, Any]]:
    """Grafana provisioning: one Prometheus data source per region (and the global one), and
    the dashboards folder."""
    sources = []
    view = spec.global_.global_view
    if view is not None:
        sources.append(
            {
                "name": "globalmon-global",
                "uid": "globalmon-global",
                "type": "prometheus",
                "access": "proxy",
                "url": view.url,
                "isDefault": True,
                "jsonData": {"timeInterval": spec.global_.scrape_interval},
            }
        )
    for i, r in enumerate(spec.regions):
        sources.append(
            {
                "name": f"globalmon-{r.id}",
                "uid": f"globalmon-{r.id}",
                "type": "prometheus",
                "access": "proxy",
                "url": r.prometheus_urls[0],
                "isDefault": view is None and i == 0,
                "jsonData": {"timeInterval": spec.global_.scrape_interval},
            }
        )
    return {
        "datasources/globalmon.yml": {"apiVersion": 1, "datasources": sources},
        "dashboards/globalmon.yml": {
            "apiVersion": 1,
            "providers": [
                {
                    "name": "globalmon",
                    "folder": "globalmon",
                    "type": "file",
                    "disableDeletion": True,
                    "allowUiUpdates": False,
                    "options": {
                        "path": "/var/lib/grafana/dashboards/globalmon",
                        "foldersFromFilesStructure": False,
                    },
                }
            ],
        },
    }
