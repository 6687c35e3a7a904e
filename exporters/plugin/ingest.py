"""Ingest: POST a plugin's metrics, logs, events, snapshots, or a batch of them.

Checks run in this order, and a request that fails one stores nothing: bearer token (401),
known plugin (404), body size (413), shape and values (400 malformed JSON, 422 a bad value; the
field is named), timestamps neither ahead of our clock nor past retention (422), rate limit
(429 + Retry-After), cardinality budget (422). Then the rows and the series delta are committed
together and only then answered 200, exposed on /metrics and streamed.
"""

from __future__ import annotations

import json
import sqlite3
from typing import Any

from aiohttp import web
from pydantic import BaseModel, ValidationError
from pydantic_core import from_json

from exporters.plugin import series as s
from exporters.plugin.models import (
    SEED_SNAPSHOT_FIELDS,
    BatchIn,
    EventIn,
    LogIn,
    MetricReport,
    SeedMetric,
    Severity,
    SnapshotIn,
)
from exporters.plugin.state import State
from exporters.plugin.store import Rows
from globalmon import conventions as c
from globalmon.durable import WriterClosed
from globalmon.http import bearer_ok, error, invalid, read_body

COMPONENT = "ingest"


def _reject(state: State, reason: str, response: web.Response) -> web.Response:
    state.metrics.rejected.labels(reason).inc()
    return response


SINGLE: dict[str, type[BaseModel]] = {
    "metrics": MetricReport,
    "logs": LogIn,
    "events": EventIn,
    "snapshots": SnapshotIn,
}


def _batch(kind: str, raw: bytes) -> BatchIn:
    """Parse a single-kind body into a batch, so one path handles all of them. A single metric
    is globalmon's report or the seed design's ``{"metric_type", "value"}``."""
    if kind == "batch":
        return BatchIn.model_validate_json(raw)
    if kind != "metrics":
        return BatchIn.model_validate({kind: [SINGLE[kind].model_validate_json(raw)]})
    try:  # globalmon's own shape first: its clients pay nothing for the other
        report: MetricReport | SeedMetric = MetricReport.model_validate_json(raw)
    except ValidationError:
        if not _seed_shaped(raw):
            raise
        report = SeedMetric.model_validate_json(raw)  # its errors name the seed's fields
    return BatchIn.model_validate({"metrics": [report]})


def _seed_shaped(raw: bytes) -> bool:
    try:
        body = from_json(raw)
    except ValueError:
        return False
    return isinstance(body, dict) and "metric_type" in body


def _time_field(batch: BatchIn, earliest: float, latest: float) -> str | None:
    """The first timestamp outside [earliest, latest]: ahead of our clock, or so old that
    retention would delete it right after we said 200."""
    for kind in ("metrics", "logs", "events", "snapshots"):
        for i, item in enumerate(getattr(batch, kind)):
            if item.timestamp is not None and not earliest <= item.timestamp <= latest:
                return f"{kind}.{i}.timestamp"
    return None


def _budget(state: State, plugin: str, batch: BatchIn) -> tuple[str, str] | None:
    """The first cardinality budget the batch would break: (field, reason)."""
    limits, series = state.config.limits, state.series
    live = len(series.state) - len(series.hidden)
    if (plugin not in series.state or plugin in series.hidden) and live >= limits.max_plugins:
        return "plugin_id", f"more than {limits.max_plugins} live plugins"
    names, n_series = series.custom_names(plugin)
    known = set(series.state.get(plugin, {}))
    for i, (report, _) in enumerate(batch.reports()):
        for j, m in enumerate(report.custom):
            family = c.PLUGIN_CUSTOM_PREFIX + m.name
            if family not in names:
                names.add(family)
                if len(names) > limits.max_custom_names:
                    return (
                        f"metrics.{i}.custom.{j}.name",
                        f"more than {limits.max_custom_names} custom metric names for {plugin}",
                    )
            k = s.custom_key(m)
            if k not in known:
                known.add(k)
                n_series += 1
                if n_series > limits.max_custom_series:
                    return (
                        f"metrics.{i}.custom.{j}.labels",
                        f"more than {limits.max_custom_series} custom series for {plugin}",
                    )
    types = series.event_types(plugin)
    for i, event in enumerate(batch.events):
        types.add(event.type)
        if len(types) > limits.max_event_types:
            return (
                f"events.{i}.type",
                f"more than {limits.max_event_types} event types for {plugin}",
            )
    return None


def _rows(batch: BatchIn, now: float) -> Rows:
    delta = s.Delta()
    rows = Rows([], [], [], [], delta)
    for report, seed in batch.reports():
        ts = report.timestamp or now
        delta.merge(s.metric_delta(report, ts))
        rows.metrics.append((ts, json.dumps(_flat(report) | (seed or {}))))
    for log in batch.logs:
        ts = log.timestamp or now
        delta.merge(s.log_delta(log, ts))
        rows.logs.append((ts, log.level.value, log.message, json.dumps(log.context), log.traceback))
    for event in batch.events:
        ts = event.timestamp or now
        delta.merge(s.event_delta(event, ts))
        rows.events.append(
            (ts, event.type, event.severity.value, event.description, json.dumps(event.data))
        )
    for snap in batch.snapshots:
        ts = snap.timestamp or now
        delta.merge(s.snapshot_delta(ts))
        rows.snapshots.append((ts, json.dumps(_snapshot(snap))))
    # The last report is when we heard from the plugin, whatever times it put on its items.
    delta.sets[s.key(c.PLUGIN_LAST_REPORT.name)] = now
    return rows


def _snapshot(snap: SnapshotIn) -> dict[str, Any]:
    """A snapshot as stored: every field of globalmon's shape, the seed's only when sent."""
    out = snap.model_dump(mode="json", exclude={"timestamp"})
    for name in SEED_SNAPSHOT_FIELDS - snap.model_fields_set:
        del out[name]
    return out


def _flat(report: MetricReport) -> dict[str, Any]:
    """A metric report as the flat numbers analytics work on."""
    out: dict[str, Any] = report.model_dump(
        exclude={"timestamp", "custom", "response_times_seconds"}, exclude_none=True
    )
    times = report.response_times_seconds
    if times:
        out["response_time_seconds"] = sum(times) / len(times)
        out["response_time_seconds_max"] = max(times)
        out["responses"] = len(times)
    for m in report.custom:
        labels = ",".join(f'{k}="{s.escape(v)}"' for k, v in sorted(m.labels.items()))
        out[f"custom.{m.name}" + (f"{{{labels}}}" if labels else "")] = m.value
    return out


async def ingest(request: web.Request) -> web.Response:
    state = request.app[State.KEY]
    kind = request.match_info["kind"]
    plugin = request.match_info["plugin_id"]
    if not bearer_ok(request, state.config.token):
        state.metrics.auth_failures.labels(COMPONENT).inc()
        return _reject(
            state, "unauthorized", error(401, "missing or wrong bearer token", "Authorization")
        )
    if plugin not in state.config.plugins:
        return _reject(
            state, "unknown_plugin", error(404, f"no plugin {plugin!r} in the spec", "plugin_id")
        )
    try:
        batch = _batch(kind, await read_body(request))
    except web.HTTPRequestEntityTooLarge:
        limit = state.config.limits.max_body_bytes
        return _reject(state, "too_large", error(413, f"body larger than {limit} bytes", "body"))
    except ValidationError as exc:
        return _reject(state, "invalid", invalid(exc))
    now = state.clock()
    latest = now + state.config.limits.max_future_seconds
    field = _time_field(batch, now - state.config.retention, latest)
    if field is not None:
        reason = (
            "a Unix time within the retention period and at most max_future_seconds ahead "
            "of the exporter's clock"
        )
        return _reject(state, "invalid", error(422, f"expected {reason}", field))
    wait = state.limiter.allow(plugin, now)
    if wait is not None:
        state.metrics.rate_limited.labels(COMPONENT).inc()
        response = error(429, f"rate limit for {plugin} exceeded", "plugin_id", retry_after=wait)
        response.headers["Retry-After"] = str(max(1, round(wait)))
        return _reject(state, "rate_limited", response)
    rows = _rows(batch, now)
    if not _adds_series(state, plugin, rows):
        return await _store(state, plugin, batch, rows)
    # The budget check and the write that spends it must not interleave with another request's:
    # 40 concurrent requests each checked against the same old count would all pass.
    async with state.budget_lock:
        return await _store(state, plugin, batch, rows)


def _adds_series(state: State, plugin: str, rows: Rows) -> bool:
    """Whether the rows bring a plugin or a series that is not exposed yet."""
    current = state.series.state.get(plugin)
    if current is None or plugin in state.series.hidden:
        return True
    return any(k not in current for k in (*rows.delta.adds, *rows.delta.sets))


async def _store(state: State, plugin: str, batch: BatchIn, rows: Rows) -> web.Response:
    broken = _budget(state, plugin, batch)
    if broken is not None:
        return _reject(state, "cardinality", error(422, broken[1], broken[0]))
    try:
        ids = await state.store.write(plugin, rows)
    except (sqlite3.Error, WriterClosed) as exc:
        return _reject(state, "store_unavailable", error(503, f"not stored: {exc}"))
    state.series.apply(plugin, rows.delta)
    for k, new in ids.items():
        if new:
            state.metrics.accepted.labels(k).inc(len(new))
    await _announce(state, plugin, rows, ids)
    # 200 with `success`, as the seed design's clients check; `status` and `ids` for ours
    return web.json_response(
        {
            "success": True,
            "message": "stored",
            "status": "stored",
            "ids": {k: v for k, v in ids.items() if v},
        }
    )


async def _announce(state: State, plugin: str, rows: Rows, ids: dict[str, list[int]]) -> None:
    """Stream new logs and events; push critical events to the webhook."""
    if not ids["logs"] and not ids["events"]:
        return
    logs = [
        {
            "id": i,
            "plugin": plugin,
            "timestamp": ts,
            "level": level,
            "message": message,
            "context": json.loads(context),
            "traceback": tb,
        }
        for i, (ts, level, message, context, tb) in zip(ids["logs"], rows.logs, strict=True)
    ]
    events = [
        {
            "id": i,
            "plugin": plugin,
            "timestamp": ts,
            "type": type_,
            "severity": severity,
            "description": description,
            "data": json.loads(data),
        }
        for i, (ts, type_, severity, description, data) in zip(
            ids["events"], rows.events, strict=True
        )
    ]
    if logs:
        state.hub.publish("logs", logs)
    if events:
        state.hub.publish("events", events)
        if state.pusher is not None:
            for event in events:
                if event["severity"] == Severity.CRITICAL:
                    state.pusher.submit(event)
