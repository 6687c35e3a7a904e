"""The alert webhook's aiohttp app.

POST /webhook                                   Alertmanager webhook payloads (version 4)
GET  /api/v1/incidents[?state=&severity=&region=&service=&alertname=&limit=&before=]
GET  /api/v1/incidents/{id}                     with timeline, notifications, actions, root causes
POST /api/v1/incidents/{id}/{acknowledge|unacknowledge|resolve|annotate}   {"by": ..., "note": ...}
GET  /api/v1/actions[?state=awaiting_approval]
POST /api/v1/actions/{id}/{approve|reject}      {"by": ...}
GET  /metrics, /-/healthy, /-/ready

Everything under /webhook and /api authenticates (bearer token, or basic auth with the token as
password) and is authorised by the credential's role (alert_webhook.access); /metrics and the
health checks do not.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import json
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Annotated

from aiohttp import web
from prometheus_client import generate_latest
from prometheus_client.exposition import CONTENT_TYPE_LATEST
from pydantic import BaseModel, ConfigDict, StringConstraints, ValidationError

from alert_webhook.payload import BadPayload
from alert_webhook.records import STATES, Conflict, NotFound, Timed
from alert_webhook.runtime import Clock, Sleep, Webhook, WebhookConfig
from alert_webhook.store import WebhookStore
from globalmon.access import SHARED, Budget, Credentials, Permission
from globalmon.conventions import ActionState as A
from globalmon.durable import WriterClosed
from globalmon.http import RAW_BODIES, error, invalid, read_body

HOOK: web.AppKey[Webhook] = web.AppKey("webhook", Webhook)
FILTERS = ("state", "severity", "region", "service", "alertname")
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


class Act(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)
    # who acts comes from the credential; `by` names the person only on the shared token
    by: Annotated[str, StringConstraints(min_length=1, max_length=128)] | None = None
    note: Annotated[str, StringConstraints(max_length=4096)] = ""


def actor(request: web.Request, body: Act) -> str:
    """The identity the audit trail records: the credential's name; on the shared token the
    caller's `by`, marked as claimed."""
    who = request.app[CREDENTIALS].authenticate(request)  # again: requests carry no typed state
    assert who is not None  # the handler runs only after _refused let the request through
    if who.shared:
        return f"{body.by} (claimed, {SHARED})" if body.by else SHARED
    return who.name


CREDENTIALS: web.AppKey[Credentials] = web.AppKey("credentials", Credentials)
BUDGET: web.AppKey[Budget] = web.AppKey("budget", Budget)


def _refused(request: web.Request, permission: Permission) -> web.Response | None:
    """401 without known credentials, 403 when they lack ``permission``, 429 over the
    credential's API budget; None when the request may go (its principal kept on it)."""
    hook = request.app[HOOK]
    who = request.app[CREDENTIALS].authenticate(request)
    if who is None:
        hook.metrics.auth_failures.labels("webhook").inc()
        hook.metrics.rejected.labels("unauthorized").inc()
        return error(401, "missing or wrong credentials", "Authorization")
    if not who.may(permission):
        hook.metrics.rejected.labels("forbidden").inc()
        return error(
            403, f"the {who.role} role of {who.name} may not {permission}", "Authorization"
        )
    if permission != "send":
        wait = request.app[BUDGET].take(who.name, hook.clock())
        if wait > 0:
            hook.metrics.rejected.labels("rate_limited").inc()
            response = error(429, f"too many requests from {who.name}", "Authorization")
            response.headers["Retry-After"] = str(max(1, round(wait)))
            return response
    return None


def _too_large(hook: Webhook) -> web.Response:
    hook.metrics.rejected.labels("too_large").inc()
    return error(413, f"body larger than {hook.config.max_body_bytes} bytes", "body")


def protected(handler: Handler, permission: Permission) -> Handler:
    """The API's handlers: authenticated and authorised for ``permission``, and a closing
    writer or a huge body answered as such. A wrapper per route, not a middleware: any
    middleware costs every request, /webhook's too, 5-8 us in aiohttp (measured on a no-op
    handler), and /webhook does its own checks inline."""

    @functools.wraps(handler)
    async def checked(request: web.Request) -> web.StreamResponse:
        hook = request.app[HOOK]
        refused = _refused(request, permission)
        if refused is not None:
            return refused
        try:
            return await handler(request)
        except WriterClosed:
            return error(503, "shutting down")
        except web.HTTPRequestEntityTooLarge:
            return _too_large(hook)

    return checked


async def receive(request: web.Request) -> web.Response:
    hook = request.app[HOOK]
    started = time.perf_counter()
    refused = _refused(request, "send")
    if refused is not None:
        return refused
    try:
        body = await read_body(request)
    except web.HTTPRequestEntityTooLarge:
        return _too_large(hook)
    try:
        out = await hook.store.ingest(body, hook.clock())  # parsed and validated by the writer
    except BadPayload as bad:
        hook.metrics.rejected.labels("invalid").inc()
        return error(bad.status, bad.reason, bad.field)
    except WriterClosed:
        return error(503, "shutting down")
    except Exception as exc:  # the disk: Alertmanager retries on 5xx, so nothing is lost
        hook.metrics.rejected.labels("unavailable").inc()
        return error(503, f"cannot store the alerts: {exc}")
    hook.metrics.processing.observe(time.perf_counter() - started)
    hook.metrics.count(out, hook.clock())
    if out.due_now:  # a first step due at once, a resolution to tell, an action to run
        hook.wake.set()  # now, not at the next second's pass
    # three numbers and a list of ids, formatted directly: json_response's encoder showed in the
    # event loop's profile at one alert per POST
    opened = ",".join(map(str, out.opened))
    return web.Response(
        body=f'{{"received": {sum(out.received.values())}, "duplicates": {out.duplicates}, '
        f'"incidents_opened": [{opened}]}}'.encode(),
        content_type="application/json",
    )


MAX_ID = 2**63 - 1  # SQLite's integers


def _int(request: web.Request, name: str, *, least: int = 0) -> int:
    """A whole number from the path or query, ``least`` to 2**63-1; else a 400 naming it."""
    text = request.match_info.get(name) or request.query.get(name, "")
    # ASCII digits only: str.isdigit() also takes superscripts and other scripts' digits
    if not (0 < len(text) <= 19 and text.isascii() and text.isdigit()) or not (
        least <= int(text) <= MAX_ID
    ):
        raise web.HTTPBadRequest(
            text=json.dumps({"error": f"a whole number from {least} to {MAX_ID}", "field": name}),
            content_type="application/json",
        )
    return int(text)


async def list_incidents(request: web.Request) -> web.Response:
    hook = request.app[HOOK]
    unknown = set(request.query) - {*FILTERS, "limit", "before"}
    if unknown:
        return error(
            400,
            f"unknown parameter; expected one of {', '.join(FILTERS)}, limit, before",
            sorted(unknown)[0],
        )
    state = request.query.get("state")
    if state is not None and state not in STATES:
        return error(400, f"one of {', '.join(STATES)}", "state")
    limit = min(_int(request, "limit", least=1), 1000) if "limit" in request.query else 100
    before = _int(request, "before") if "before" in request.query else None
    filters = {k: request.query[k] for k in FILTERS if k in request.query}
    found = await hook.store.incidents(filters, limit, before)
    page: dict[str, object] = {"incidents": found}
    if len(found) == limit:
        page["next"] = found[-1]["id"]
    return web.json_response(page)


async def show_incident(request: web.Request) -> web.Response:
    found = await request.app[HOOK].store.incident(_int(request, "id"))
    if found is None:
        return error(404, "no such incident", "id")
    return web.json_response(found)


async def _change(
    request: web.Request, what: str, change: Callable[[Act, float], Awaitable[None]]
) -> web.Response | None:
    """Validate the body and apply ``change``; an error response, or None when it is done."""
    hook = request.app[HOOK]
    try:
        body = Act.model_validate_json(await read_body(request))
    except ValidationError as exc:
        return invalid(exc)
    try:
        await change(body, hook.clock())
    except NotFound:
        return error(404, f"no such {what}", "id")
    except Conflict as exc:
        return error(409, str(exc), "state")
    hook.wake.set()  # an unacknowledged step or an approved action may be due now
    return None


async def act_on_incident(request: web.Request) -> web.Response:
    hook = request.app[HOOK]
    store = hook.store
    incident = _int(request, "id")
    verb = request.match_info["verb"]
    operation: Callable[[int, str, str, float], Awaitable[Timed | None]] = {
        "acknowledge": store.acknowledge,
        "unacknowledge": store.unacknowledge,
        "resolve": store.resolve,
        "annotate": store.annotate,
    }[verb]
    done: list[Timed] = []

    async def change(body: Act, now: float) -> None:
        if (timed := await operation(incident, actor(request, body), body.note, now)) is not None:
            done.append(timed)

    failed = await _change(request, "incident", change)
    if failed:
        return failed
    for timed in done:  # the KPI histograms, once the change is committed
        (hook.metrics.acknowledged if verb == "acknowledge" else hook.metrics.resolved)(timed)
    return web.json_response(await store.incident(incident))


async def list_actions(request: web.Request) -> web.Response:
    return web.json_response(
        {"actions": await request.app[HOOK].store.actions(request.query.get("state"))}
    )


async def approve_action(request: web.Request) -> web.Response:
    store = request.app[HOOK].store
    row = _int(request, "id")
    approved = request.match_info["verb"] == "approve"
    failed = await _change(
        request,
        "action",
        lambda body, now: store.approve(row, actor(request, body), approved, now),
    )
    return failed or web.json_response({"id": row, "state": A.PENDING if approved else A.REJECTED})


async def metrics(request: web.Request) -> web.Response:
    hook = request.app[HOOK]
    await hook.refresh_open()
    await hook.refresh_kpis()
    body = generate_latest(hook.metrics.registry)
    return web.Response(body=body, headers={"Content-Type": CONTENT_TYPE_LATEST})


async def healthy(request: web.Request) -> web.Response:
    return web.Response(text="ok\n")


def create_app(
    config: WebhookConfig,
    *,
    clock: Clock,
    store: WebhookStore,
    sleep: Sleep = asyncio.sleep,
    background: bool = True,
) -> web.Application:
    """The app; ``background=False`` leaves ticking to the caller (tests with a fake clock)."""
    app = web.Application(client_max_size=config.max_body_bytes, handler_args=RAW_BODIES)
    hook = Webhook(config, store, clock=clock, sleep=sleep)
    app[HOOK] = hook
    app.router.add_post("/webhook", receive)
    app[CREDENTIALS] = Credentials.of(config.token, list(config.tokens), config.basic_user)
    app[BUDGET] = Budget(config.api_rate, config.api_burst)
    app.router.add_get("/api/v1/incidents", protected(list_incidents, "read"))
    app.router.add_get(r"/api/v1/incidents/{id:\d+}", protected(show_incident, "read"))
    app.router.add_post(
        r"/api/v1/incidents/{id:\d+}/{verb:acknowledge|unacknowledge|resolve|annotate}",
        protected(act_on_incident, "operate"),
    )
    app.router.add_get("/api/v1/actions", protected(list_actions, "read"))
    app.router.add_post(
        r"/api/v1/actions/{id:\d+}/{verb:approve|reject}", protected(approve_action, "approve")
    )
    app.router.add_get("/metrics", metrics)
    app.router.add_get("/-/healthy", healthy)
    app.router.add_get("/-/ready", healthy)

    async def lifecycle(app: web.Application) -> AsyncIterator[None]:
        await hook.start()
        task = asyncio.create_task(hook.loop()) if background else None
        yield
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        await hook.close()

    app.cleanup_ctx.append(lifecycle)
    return app
