"""Reading the store back: paged lists, plugin summaries, snapshot comparison, analytics."""

from __future__ import annotations

import math
from collections import Counter
from typing import Any

from aiohttp import web

from exporters.plugin.models import Level, Severity
from exporters.plugin.seed import RECORDS, MetricType, iso, metric_records, snapshot_record
from exporters.plugin.state import State
from exporters.plugin.store import Filters
from globalmon.http import error
from globalmon.spec.types import duration_seconds

MAX_PAGE = 1000
CURRENT_ROWS = 100  # the summary's latest value of each metric type comes from these rows
# a plugin's state as the seed design says it
SEED_STATUS = {"live": "active", "stale": "inactive", "evicted": "inactive", "never": "unknown"}
MAX_WINDOW = 90 * 86400.0


class BadQuery(Exception):
    def __init__(self, field: str, reason: str) -> None:
        super().__init__(reason)
        self.field, self.reason = field, reason


def _float(request: web.Request, name: str) -> float | None:
    raw = request.query.get(name)
    if raw is None:
        return None
    try:
        value = float(raw)
    except ValueError:
        raise BadQuery(name, f"found {raw!r}; expected Unix seconds") from None
    if not math.isfinite(value):
        raise BadQuery(name, f"found {raw!r}; expected a finite number")
    return value


def _int(request: web.Request, name: str, default: int | None, lo: int, hi: int) -> int | None:
    raw = request.query.get(name)
    if raw is None:
        return default
    if not raw.isdigit() or not lo <= int(raw) <= hi:
        raise BadQuery(name, f"found {raw!r}; expected an integer from {lo} to {hi}")
    return int(raw)


def _choices(request: web.Request, name: str, allowed: set[str] | None) -> list[str]:
    values = [v for raw in request.query.getall(name, []) for v in raw.split(",") if v]
    bad = [v for v in values if allowed is not None and v not in allowed]
    if bad:
        raise BadQuery(
            name, f"found {bad[0]!r}; expected one of {', '.join(sorted(allowed or ()))}"
        )
    return values


def _hours(request: web.Request) -> float:
    """The seed design's ``hours`` window, in seconds."""
    hours = _int(request, "hours", 24, 1, int(MAX_WINDOW // 3600))
    assert hours is not None
    return hours * 3600.0


def _window(request: web.Request, default: str) -> float:
    if "window" not in request.query and "hours" in request.query:
        return _hours(request)
    raw = request.query.get("window", default)
    try:
        seconds = duration_seconds(raw)
    except ValueError:
        raise BadQuery("window", f"found {raw!r}; expected a duration like 1h") from None
    if not 0 < seconds <= MAX_WINDOW:
        raise BadQuery("window", f"found {raw!r}; expected at most 90d")
    return seconds


def _plugin(request: web.Request) -> str:
    plugin = request.match_info.get("plugin_id") or request.query.get("plugin")
    if plugin is not None and plugin not in request.app[State.KEY].config.plugins:
        raise BadQuery("plugin_id", f"no plugin {plugin!r} in the spec")
    return plugin or ""


@web.middleware
async def bad_queries(request: web.Request, handler: Any) -> web.StreamResponse:
    try:
        response: web.StreamResponse = await handler(request)
    except BadQuery as exc:
        status = 404 if exc.field == "plugin_id" else 400
        return error(status, exc.reason, exc.field)
    return response


async def listing(request: web.Request) -> web.Response:
    """GET /plugins/{id}/{logs,events,snapshots,metrics}?since&until&level&severity&type&text
    &limit&cursor: newest first; pass ``next_cursor`` back as ``cursor`` for the next page."""
    state = request.app[State.KEY]
    kind = request.match_info["kind"]
    plugin = _plugin(request)
    since = _float(request, "since")
    if since is None and "hours" in request.query:  # the seed design's window
        since = state.clock() - _hours(request)
    filters = Filters(
        since=since,
        until=_float(request, "until"),
        levels=_choices(request, "level", {lv.value for lv in Level}) if kind == "logs" else (),
        severities=(
            _choices(request, "severity", {sv.value for sv in Severity}) if kind == "events" else ()
        ),
        types=(
            _choices(request, "type", None) + _choices(request, "event_type", None)
            if kind == "events"
            else ()
        ),
        text=request.query.get("text") or None,
    )
    limit = _int(request, "limit", 100, 1, MAX_PAGE)
    cursor = _int(request, "cursor", None, 1, 2**63 - 1)
    assert limit is not None
    page = await state.store.page(kind, plugin, filters, limit, cursor)
    if kind == "metrics":
        wanted = _choices(request, "metric_type", {t.value for t in MetricType})
        data = [
            r
            for row in page.items
            for r in metric_records(plugin, row)
            if not wanted or r["metric_type"] in wanted
        ]
    else:
        data = [RECORDS[kind](plugin, row) for row in page.items]
    # `data` in the seed design's records, `items` as stored, for globalmon's own clients
    return web.json_response(
        {"success": True, "data": data, "items": page.items, "next_cursor": page.next_cursor}
    )


def _plugin_state(state: State, plugin: str, now: float) -> tuple[str, float | None]:
    last = state.series.last_report(plugin)
    if last is None:
        return "never", None
    if plugin in state.series.hidden:
        return "evicted", last
    return ("stale" if now - last > state.config.stale_after else "live"), last


async def plugins(request: web.Request) -> web.Response:
    state = request.app[State.KEY]
    now = state.clock()
    out = []
    for plugin in state.config.plugins.values():
        status, last = _plugin_state(state, plugin.id, now)
        out.append(
            {
                "id": plugin.id,
                "plugin_id": plugin.id,
                "owner": plugin.owner,
                "description": plugin.description,
                "state": status,
                "status": SEED_STATUS[status],
                "last_report": last,
                "last_update": iso(last) if last is not None else None,
            }
        )
    return web.json_response({"success": True, "data": out, "plugins": out})


async def status(request: web.Request) -> web.Response:
    state = request.app[State.KEY]
    now = state.clock()
    states = Counter(_plugin_state(state, p, now)[0] for p in state.config.plugins)
    stored = await state.store.counts()
    seed = Counter(SEED_STATUS[s] for s in states.elements())
    return web.json_response(
        {
            "success": True,
            "data": {  # the seed design's figures
                "monitoring_active": True,
                "total_plugins": len(state.config.plugins),
                "active_plugins": seed["active"],
                "inactive_plugins": seed["inactive"],
                "total_metrics": stored["metrics"],
                "total_logs": stored["logs"],
                "total_events": stored["events"],
            },
            "status": "ok",
            "plugins": {s: states.get(s, 0) for s in ("live", "stale", "evicted", "never")},
            "stored": stored,
            "retention_seconds": state.config.retention,
            "stream_subscribers": len(state.hub.subscribers),
        }
    )


async def summary(request: web.Request) -> web.Response:
    """The latest metrics and snapshot, and log and event counts over ``window`` (24h)."""
    state = request.app[State.KEY]
    plugin = _plugin(request)
    now = state.clock()
    since = now - _window(request, "24h")
    status_, last = _plugin_state(state, plugin, now)
    latest_metrics = await state.store.page("metrics", plugin, Filters(), 1, None)
    latest_snapshot = await state.store.page("snapshots", plugin, Filters(), 1, None)
    logs = await state.store.between("logs", plugin, since)
    events = await state.store.between("events", plugin, since)
    spec = state.config.plugins[plugin]
    errors = [r for r in logs if r["level"] in (Level.ERROR, Level.CRITICAL)]
    # a plugin may report every second: count its metric rows, decode only the latest ones
    metrics_count = await state.store.count("metrics", plugin, since)
    recent = await state.store.page("metrics", plugin, Filters(since=since), CURRENT_ROWS, None)
    current: dict[str, float] = {}
    for row in reversed(recent.items):  # newest last: the latest value of each type wins
        current |= {r["metric_type"]: r["value"] for r in metric_records(plugin, row)}
    return web.json_response(
        {
            "success": True,
            "data": {  # the seed design's summary
                "plugin_id": plugin,
                "status": SEED_STATUS[status_],
                "last_update": iso(last) if last is not None else None,
                "metrics_count": metrics_count,
                "logs_count": len(logs),
                "error_logs_count": len(errors),
                "events_count": len(events),
                "current_metrics": current,
                "recent_errors": [r["message"] for r in errors[-5:]],
            },
            "plugin": {"id": plugin, "owner": spec.owner, "description": spec.description},
            "state": status_,
            "last_report": last,
            "latest_metrics": latest_metrics.items[0] if latest_metrics.items else None,
            "latest_snapshot": latest_snapshot.items[0] if latest_snapshot.items else None,
            "logs_by_level": dict(Counter(r["level"] for r in logs)),
            "events_by_severity": dict(Counter(r["severity"] for r in events)),
            "window_seconds": now - since,
        }
    )


async def compare(request: web.Request) -> web.Response:
    """GET /plugins/{id}/snapshots/compare?a=ID&b=ID: side by side, with what changed."""
    state = request.app[State.KEY]
    plugin = _plugin(request)
    a = _int(request, "a", None, 1, 2**63 - 1)
    b = _int(request, "b", None, 1, 2**63 - 1)
    if a is None or b is None:
        raise BadQuery("a" if a is None else "b", "expected two snapshot ids, a and b")
    found = {s["id"]: s for s in await state.store.get("snapshots", plugin, (a, b))}
    for name, ident in (("a", a), ("b", b)):
        if ident not in found:
            return error(404, f"no snapshot {ident} of plugin {plugin}", name)
    left, right = found[a], found[b]
    changes: dict[str, Any] = {}
    for k in sorted(set(left) | set(right) - {"id"}):
        x, y = left.get(k), right.get(k)
        if x == y:
            continue
        change: dict[str, Any] = {"a": x, "b": y}
        if isinstance(x, int | float) and isinstance(y, int | float) and k != "timestamp":
            change["delta"] = y - x
        changes[k] = change
    return web.json_response({"a": left, "b": right, "changes": changes})


def _slope(points: list[tuple[float, float]]) -> float | None:
    """Least-squares slope per second."""
    if len(points) < 2:
        return None
    n = len(points)
    mx = sum(t for t, _ in points) / n
    my = sum(v for _, v in points) / n
    var = sum((t - mx) ** 2 for t, _ in points)
    if var == 0:
        return None
    return sum((t - mx) * (v - my) for t, v in points) / var


async def trends(request: web.Request) -> web.Response:
    """GET /analytics/trends?plugin=P&metric=M&window=1h&buckets=60: per bucket count, avg,
    min, max and sum, with the least-squares slope per second over the window."""
    state = request.app[State.KEY]
    plugin = _plugin(request)
    if "metric_type" in request.query and "metric" not in request.query:
        return await _seed_trends(request, state, plugin or None)
    if not plugin:
        raise BadQuery("plugin", "expected a plugin id")
    metric = request.query.get("metric")
    if not metric:
        raise BadQuery("metric", "expected a metric, e.g. cpu_usage_ratio or custom.NAME")
    window = _window(request, "1h")
    n = _int(request, "buckets", 60, 1, 1000)
    assert n is not None
    now = state.clock()
    rows = await state.store.between("metrics", plugin, now - window)
    points = [
        (float(r["timestamp"]), float(r[metric]))
        for r in rows
        if isinstance(r.get(metric), int | float)
    ]
    width = window / n
    buckets: list[dict[str, Any]] = []
    for i in range(n):
        start = now - window + i * width
        values = [v for t, v in points if start <= t < start + width or (i == n - 1 and t == now)]
        bucket: dict[str, Any] = {"start": start, "count": len(values)}
        if values:
            bucket |= {
                "avg": sum(values) / len(values),
                "min": min(values),
                "max": max(values),
                "sum": sum(values),
            }
        buckets.append(bucket)
    slope = _slope(points)
    return web.json_response(
        {
            "plugin": plugin,
            "metric": metric,
            "window_seconds": window,
            "points": len(points),
            "slope_per_second": slope,
            "buckets": buckets,
        }
    )


async def _seed_trends(request: web.Request, state: State, plugin: str | None) -> web.Response:
    """The seed design's trends: hourly means of one metric type over ``hours``, every plugin
    (or one, with ``plugin``)."""
    [metric_type] = _choices(request, "metric_type", {t.value for t in MetricType})[:1] or [""]
    if not metric_type:
        raise BadQuery("metric_type", "expected a metric type such as cpu_usage")
    hours = _hours(request)
    rows = await state.store.between("metrics", plugin, state.clock() - hours)
    hourly: dict[str, list[float]] = {}
    for row in rows:
        for r in metric_records(row["plugin"], row):
            if r["metric_type"] == metric_type:
                hour = r["timestamp"][:13].replace("T", " ") + ":00"
                hourly.setdefault(hour, []).append(float(r["value"]))
    trends = [
        {"timestamp": hour, "average_value": sum(v) / len(v), "data_points": len(v)}
        for hour, v in sorted(hourly.items())
    ]
    data = {"metric_type": metric_type, "hours": round(hours / 3600), "trends": trends}
    return web.json_response({"success": True, "data": data})


def _seed_performance(snapshots: list[dict[str, Any]]) -> dict[str, Any]:
    """The seed design's performance figures over snapshots (fields a snapshot lacks are left
    out of their mean)."""
    records = [snapshot_record(r["plugin"], r) for r in snapshots]

    def mean(name: str) -> float:
        values = [r[name] for r in records if r[name] is not None]
        return sum(values) / len(values) if values else 0

    return {
        "total_snapshots": len(records),
        "average_cpu": mean("cpu_usage"),
        "average_memory": mean("memory_usage"),
        "average_response_time": mean("response_time"),
        "average_error_rate": mean("error_rate"),
        "total_requests": sum(r["request_count"] or 0 for r in records),
        "average_throughput": mean("throughput"),
    }


async def performance(request: web.Request) -> web.Response:
    """GET /analytics/performance?window=1h[&plugin=P]: per plugin requests, errors, error
    ratio, throughput, mean and max response time, CPU and memory, logs and events."""
    state = request.app[State.KEY]
    plugin = _plugin(request) or None
    window = _window(request, "1h")
    since = state.clock() - window
    rows = await state.store.between("metrics", plugin, since)
    logs = await state.store.between("logs", plugin, since)
    events = await state.store.between("events", plugin, since)
    out: dict[str, dict[str, Any]] = {}
    for p in [plugin] if plugin else list(state.config.plugins):
        mine = [r for r in rows if r["plugin"] == p]
        requests = sum(r.get("requests", 0) for r in mine)
        errors = sum(r.get("errors", 0) for r in mine)
        responses = sum(r.get("responses", 0) for r in mine)
        rt_total = sum(r.get("response_time_seconds", 0) * r.get("responses", 0) for r in mine)
        cpu = [r["cpu_usage_ratio"] for r in mine if "cpu_usage_ratio" in r]
        memory = [r["memory_bytes"] for r in mine if "memory_bytes" in r]
        out[p] = {
            "reports": len(mine),
            "requests": requests,
            "errors": errors,
            "error_ratio": errors / requests if requests else None,
            "throughput_per_second": requests / window,
            "response_time_seconds_mean": rt_total / responses if responses else None,
            "response_time_seconds_max": max(
                (r["response_time_seconds_max"] for r in mine if "responses" in r), default=None
            ),
            "cpu_usage_ratio_mean": sum(cpu) / len(cpu) if cpu else None,
            "memory_bytes_max": max(memory, default=None),
            "logs_by_level": dict(Counter(r["level"] for r in logs if r["plugin"] == p)),
            "events_by_severity": dict(Counter(r["severity"] for r in events if r["plugin"] == p)),
        }
    snapshots = await state.store.between("snapshots", plugin, since)
    return web.json_response(
        {
            "success": True,
            "data": _seed_performance(snapshots),
            "window_seconds": window,
            "plugins": out,
        }
    )
