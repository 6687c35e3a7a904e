"""Grafana dashboards built with grafana-foundation-sdk, and Grafana's provisioning files.

Boards drill down: overview -> region -> service or plugin. Every query uses names from
globalmon/conventions.py; a test evaluates each one on a real Prometheus.
"""

from __future__ import annotations

import json
from typing import Any

from grafana_foundation_sdk.builders import dashboard as db
from grafana_foundation_sdk.builders import prometheus, stat, table, timeseries
from grafana_foundation_sdk.cog.builder import Builder
from grafana_foundation_sdk.cog.encoder import JSONEncoder
from grafana_foundation_sdk.models.dashboard import (
    DashboardLink,
    DashboardLinkType,
    DataSourceRef,
    VariableRefresh,
)

from globalmon import conventions as c
from globalmon.spec import Spec

INTERVAL_ONLY = ("auto", "auto_count", "auto_min")
REFRESH = "10s"  # the seed design's "dashboards within 30 s" needs at most this
DS = DataSourceRef(type_val="prometheus", uid="${datasource}")
Panel = timeseries.Panel | stat.Panel | table.Panel
Links = list[Builder[DashboardLink]]


def _q(
    expr: str, legend: str = "", ref: str = "A", *, instant: bool = False
) -> prometheus.Dataquery:
    q = prometheus.Dataquery().expr(expr).ref_id(ref).legend_format(legend or "__auto")
    return q.instant() if instant else q


def _link(title: str, uid: str, query: str) -> Builder[DashboardLink]:
    return (
        db.DashboardLink(title)
        .type(DashboardLinkType.LINK)
        .url(f"/d/{uid}?{query}&${{__url_time_range}}")
    )


def ts(
    title: str,
    unit: str,
    *queries: prometheus.Dataquery,
    links: Links | None = None,
) -> timeseries.Panel:
    p = timeseries.Panel().title(title).unit(unit).datasource(DS).span(12).height(8)
    for q in queries:
        p = p.with_target(q)
    return p.data_links(links) if links else p


def st(title: str, unit: str, expr: str, legend: str, links: Links | None = None) -> stat.Panel:
    p = (
        stat.Panel()
        .title(title)
        .unit(unit)
        .datasource(DS)
        .span(8)
        .height(5)
        .with_target(_q(expr, legend, instant=True))
    )
    return p.data_links(links) if links else p


def tbl(title: str, unit: str, expr: str, links: Links | None = None) -> table.Panel:
    p = (
        table.Panel()
        .title(title)
        .unit(unit)
        .datasource(DS)
        .span(12)
        .height(8)
        .with_target(_q(expr, instant=True))
    )
    return p.data_links(links) if links else p


def _var(name: str, query: str, *, multi: bool = False) -> db.QueryVariable:
    v = (
        db.QueryVariable(name)
        .label(name.capitalize())
        .query(query)
        .datasource(DS)
        .refresh(VariableRefresh.ON_TIME_RANGE_CHANGED)
    )
    return v.multi(True).include_all(True) if multi else v


def _board(
    uid: str,
    title: str,
    variables: list[db.QueryVariable],
    panels: list[Panel],
    links: Links | None = None,
) -> dict[str, Any]:
    ds = db.DatasourceVariable("datasource").label("Prometheus").type("prometheus")
    b = (
        db.Dashboard(title)
        .uid(uid)
        .tags(["globalmon"])
        .refresh(REFRESH)
        .time("now-6h", "now")
        .timezone("browser")
        .with_variable(ds)
    )
    for v in variables:
        b = b.with_variable(v)
    for p in panels:
        b = b.with_panel(p)
    for link in links or []:
        b = b.link(link)
    data: dict[str, Any] = json.loads(JSONEncoder(sort_keys=True).encode(b.build()))
    # The SDK writes interval-variable fields on every variable; Grafana's schema (checked by a
    # test) allows them on interval variables only.
    for var in data["templating"]["list"]:
        if var["type"] != "interval":
            for key in INTERVAL_ONLY:
                var.pop(key, None)
    return data


REGION_VAR = f'label_values(up{{job="{c.JOB_AGENT}"}}, region)'
R = 'region="$region"'


def overview() -> dict[str, Any]:
    to_region = [
        _link(
            "Region ${__field.labels.region}", c.DASH_REGION, "var-region=${__field.labels.region}"
        )
    ]
    return _board(
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
                _q(c.RECORD_AGENTS_UP_RATIO, "{{region}}"),
                links=to_region,
            ),
            tbl("Active alerts", "none", 'ALERTS{alertstate="firing"}', to_region),
        ],
    )


def region_board() -> dict[str, Any]:
    to_service = [
        _link(
            "Service ${__field.labels.service}",
            c.DASH_SERVICE,
            "var-region=${region}&var-service=${__field.labels.service}",
        )
    ]
    to_plugin = [
        _link(
            "Plugin ${__field.labels.plugin}",
            c.DASH_PLUGIN,
            "var-region=${region}&var-plugin=${__field.labels.plugin}",
        )
    ]
    a = f'job="{c.JOB_AGENT}",{R}'
    return _board(
        c.DASH_REGION,
        "globalmon / Region",
        [_var("region", REGION_VAR)],
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
            ts("CPU usage", "percentunit", _q(f"{c.HOST_CPU_USAGE.name}{{{a}}}", "{{agent}}")),
            ts(
                "Memory used",
                "percentunit",
                _q(
                    f"{c.HOST_MEMORY_USED.name}{{{a}}} / {c.HOST_MEMORY_TOTAL.name}{{{a}}}",
                    "{{agent}}",
                ),
            ),
            ts(
                "Disk used",
                "percentunit",
                _q(
                    f"{c.HOST_DISK_USED.name}{{{a}}} / {c.HOST_DISK_SIZE.name}{{{a}}}",
                    "{{agent}} {{mountpoint}}",
                ),
            ),
            ts(
                "Probe duration p95",
                "s",
                _q(
                    f"histogram_quantile(0.95, sum by (le, probe) "
                    f"(rate({c.PROBE_DURATION.name}_bucket{{{a}}}[5m])))",
                    "{{probe}}",
                ),
            ),
            ts(
                "Service request rate",
                "reqps",
                _q(f"{c.RECORD_SERVICE_REQUEST_RATE}{{{R}}}", "{{service}}"),
                links=to_service,
            ),
            ts(
                "Service error ratio",
                "percentunit",
                _q(f"{c.RECORD_SERVICE_ERROR_RATIO}{{{R}}}", "{{service}}"),
                links=to_service,
            ),
            ts(
                "Plugin error ratio",
                "percentunit",
                _q(f"{c.RECORD_PLUGIN_ERROR_RATIO}{{{R}}}", "{{plugin}}"),
                links=to_plugin,
            ),
        ],
        links=[_link("Overview", c.DASH_OVERVIEW, "")],
    )


def service_board() -> dict[str, Any]:
    s = f'{R},service="$service"'
    slo_burn = (
        f"{c.RECORD_SLO_ERROR_RATIO.format(window='1h')}{{{s}}} / on (region, service, slo)"
        f" (1 - {c.RECORD_SLO_OBJECTIVE}{{{s}}})"
    )
    return _board(
        c.DASH_SERVICE,
        "globalmon / Service",
        [
            _var("region", REGION_VAR),
            _var("service", f"label_values({c.RECORD_SERVICE_REQUEST_RATE}{{{R}}}, service)"),
        ],
        [
            ts("Request rate", "reqps", _q(f"{c.RECORD_SERVICE_REQUEST_RATE}{{{s}}}", "requests")),
            ts(
                "Error ratio", "percentunit", _q(f"{c.RECORD_SERVICE_ERROR_RATIO}{{{s}}}", "errors")
            ),
            ts("Latency p95", "s", _q(f"{c.RECORD_SERVICE_LATENCY_P95}{{{s}}}", "p95")),
            ts("SLO burn rate (1h)", "none", _q(slo_burn, "{{slo}}")),
            st(
                "Error budget left",
                "percentunit",
                f"{c.RECORD_SLO_BUDGET_REMAINING}{{{s}}}",
                "{{slo}}",
            ),
        ],
        links=[_link("Region", c.DASH_REGION, "var-region=${region}")],
    )


def plugin_board() -> dict[str, Any]:
    p = f'{R},plugin="$plugin"'
    return _board(
        c.DASH_PLUGIN,
        "globalmon / Plugin",
        [
            _var("region", REGION_VAR),
            _var("plugin", f"label_values({c.PLUGIN_REQUESTS.name}{{{R}}}, plugin)"),
        ],
        [
            ts("CPU usage", "percentunit", _q(f"{c.PLUGIN_CPU.name}{{{p}}}", "cpu")),
            ts("Memory", "bytes", _q(f"{c.PLUGIN_MEMORY.name}{{{p}}}", "resident")),
            ts("Error ratio", "percentunit", _q(f"{c.RECORD_PLUGIN_ERROR_RATIO}{{{p}}}", "errors")),
            ts("Response time p95", "s", _q(f"{c.RECORD_PLUGIN_LATENCY_P95}{{{p}}}", "p95")),
            ts(
                "Log messages",
                "cps",
                _q(f"sum by (level) (rate({c.PLUGIN_LOGS.name}{{{p}}}[5m]))", "{{level}}"),
            ),
            ts(
                "Events",
                "cps",
                _q(f"sum by (severity) (rate({c.PLUGIN_EVENTS.name}{{{p}}}[5m]))", "{{severity}}"),
            ),
            ts(
                "IO",
                "Bps",
                _q(
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
        links=[_link("Region", c.DASH_REGION, "var-region=${region}")],
    )


def capacity_board() -> dict[str, Any]:
    t = f'{R},target="$target"'
    return _board(
        c.DASH_CAPACITY,
        "globalmon / Capacity and forecasts",
        [
            _var("region", REGION_VAR),
            _var("target", f"label_values({c.RECORD_FORECAST_INPUT}{{{R}}}, target)"),
        ],
        [
            ts(
                "Actual and forecast",
                "none",
                _q(f"{c.RECORD_FORECAST_INPUT}{{{t}}}", "actual {{instance}}"),
                _q(
                    f'{c.FORECAST.name}{{{t},bound=~"yhat|yhat_lower|yhat_upper"}}',
                    "{{bound}} {{horizon}} {{instance}}",
                    "B",
                ),
            ),
            ts(
                "Anomaly score", "percentunit", _q(f"{c.ANOMALY_SCORE.name}{{{t}}}", "{{instance}}")
            ),
            tbl("Time to exhaustion", "s", f"{c.CAPACITY_EXHAUSTION.name}{{{R}}}"),
            ts(
                "Trend slope per second", "none", _q(f"{c.TREND_SLOPE.name}{{{t}}}", "{{instance}}")
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
    return _board(
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
                _q(f"sum by (step) (rate({c.WEBHOOK_ESCALATIONS.name}[5m]))", "step {{step}}"),
            ),
            ts(
                "Recovery actions",
                "cps",
                _q(
                    f"sum by (action, result) (rate({c.WEBHOOK_ACTIONS.name}[5m]))",
                    "{{action}} {{result}}",
                ),
            ),
            ts(
                "Notifications",
                "cps",
                _q(
                    f"sum by (receiver, outcome) (rate({c.WEBHOOK_NOTIFICATIONS.name}[5m]))",
                    "{{receiver}} {{outcome}}",
                ),
            ),
            ts(
                "Webhook processing p99",
                "s",
                _q(
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
                _q(
                    f"max by (exported_region, service) ({c.WEBHOOK_MEAN_TIME_TO_RESOLVE.name})",
                    "{{exported_region}} {{service}}",
                ),
            ),
            ts(
                "Mean time to acknowledge, last 7 days",
                "s",
                _q(
                    f"max by (exported_region) ({c.WEBHOOK_MEAN_TIME_TO_ACKNOWLEDGE.name})",
                    "{{exported_region}}",
                ),
            ),
            ts(
                "Automatic recovery success, last 7 days",
                "percentunit",
                _q(f"max by (action) ({c.WEBHOOK_RECOVERY_SUCCESS.name})", "{{action}}"),
            ),
            ts(
                "Security rejections",
                "cps",
                _q(f"sum by (job) (rate({c.HTTP_AUTH_FAILURES.name}[5m]))", "auth {{job}}"),
                _q(
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
