"""Panel, variable and board builders the dashboards share (grafana-foundation-sdk)."""

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

INTERVAL_ONLY = ("auto", "auto_count", "auto_min")
REFRESH = "10s"  # the seed design's "dashboards within 30 s" needs at most this
DS = DataSourceRef(type_val="prometheus", uid="${datasource}")
Panel = timeseries.Panel | stat.Panel | table.Panel
Links = list[Builder[DashboardLink]]


def query(
    expr: str, legend: str = "", ref: str = "A", *, instant: bool = False
) -> prometheus.Dataquery:
    q = prometheus.Dataquery().expr(expr).ref_id(ref).legend_format(legend or "__auto")
    return q.instant() if instant else q


def link(title: str, uid: str, query: str) -> Builder[DashboardLink]:
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
        .with_target(query(expr, legend, instant=True))
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
        .with_target(query(expr, instant=True))
    )
    return p.data_links(links) if links else p


def variable(name: str, query: str, *, multi: bool = False) -> db.QueryVariable:
    v = (
        db.QueryVariable(name)
        .label(name.capitalize())
        .query(query)
        .datasource(DS)
        .refresh(VariableRefresh.ON_TIME_RANGE_CHANGED)
    )
    return v.multi(True).include_all(True) if multi else v


def board(
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
