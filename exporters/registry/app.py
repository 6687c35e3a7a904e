"""The registry's HTTP API.

    POST URL  {"region", "agent", "agent_type", "address", "labels"}   register or heartbeat
    GET  URL[?region=R]                                                 Prometheus http_sd JSON
    GET  /api/v1/registry/agents                                        every agent with its state
    GET  /metrics

URL is the spec's ``endpoints.registry_url`` path (default ``/api/v1/registry/targets``).
A registration needs the registry token; a read needs it too, or a named credential whose role
may read, unless the spec opens reads. Each credential has a request budget (the registry
token's per client address, since every agent holds it): past it, a 429 with Retry-After.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from typing import Annotated

from aiohttp import web
from prometheus_client import CollectorRegistry, Counter, Gauge, generate_latest
from prometheus_client.exposition import CONTENT_TYPE_LATEST
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from exporters.registry.store import Registration, RegistryStore
from globalmon import conventions as c
from globalmon.access import Budget, Credentials, Principal, ReadGuard
from globalmon.durable import WriterClosed
from globalmon.http import RAW_BODIES, bearer_ok, error, read_body
from globalmon.spec.topology import AgentType
from globalmon.spec.types import HostPort, Id, LabelName, is_host_port, is_id, is_label_name

log = logging.getLogger("globalmon.registry")

TARGETS_PATH = "/api/v1/registry/targets"
MAX_BODY = 16 * 1024
MAX_LABELS = 16
MAX_LABEL_VALUE = 128
# Target labels an agent may not set: Prometheus' own (job, instance) and the registry's.
RESERVED_LABELS = frozenset({"job", "instance", c.LABEL_REGION, c.LABEL_AGENT, c.LABEL_AGENT_TYPE})


class RegistrationIn(BaseModel):
    """What an agent sends; strict, so a wrong type is a 400 naming the field."""

    model_config = ConfigDict(extra="forbid", strict=True)
    region: Id
    agent: Id
    agent_type: AgentType
    address: HostPort
    labels: Annotated[
        dict[LabelName, Annotated[str, Field(max_length=MAX_LABEL_VALUE)]],
        Field(max_length=MAX_LABELS),
    ] = Field(default_factory=dict)

    @field_validator("labels")
    @classmethod
    def _not_reserved(cls, labels: dict[str, str]) -> dict[str, str]:
        taken = sorted(set(labels) & RESERVED_LABELS)
        if taken:
            raise ValueError(
                f"label {taken[0]!r} is set by Prometheus or the registry; "
                f"expected other names than {', '.join(sorted(RESERVED_LABELS))}"
            )
        return labels


@dataclass(frozen=True)
class RegistryConfig:
    token: str | None  # bearer token for POST; None only when the spec names none
    stale_after: float  # seconds without a heartbeat before an agent counts as stale
    ttl: float  # seconds without a heartbeat before an agent is removed
    path: str = TARGETS_PATH
    named: tuple[tuple[str, str, str], ...] = ()  # (name, role, token digest): may read
    open_reads: bool = False  # anyone may read the agent lists
    rate: float = 20.0  # requests a second per credential (the token's: per client address)
    burst: float = 100.0


STORE = web.AppKey("store", RegistryStore)
CONFIG = web.AppKey("config", RegistryConfig)
CLOCK: web.AppKey[Callable[[], float]] = web.AppKey("clock")
METRICS = web.AppKey("metrics", CollectorRegistry)
REQUESTS = web.AppKey("requests", Counter)
AGENTS = web.AppKey("agents", Gauge)
READS = web.AppKey("reads", ReadGuard)
TOKEN_NAME = "registry-token"  # the identity of the registry token (every agent's)
OUTCOMES = ("registered", "invalid", "unauthorized", "forbidden", "rate_limited", "too_large")


def _read_refused(request: web.Request) -> web.Response | None:
    app = request.app
    refused = app[READS].refused(request, app[CLOCK]())
    if refused is not None:
        app[REQUESTS].labels(_OUTCOME_OF[refused.status]).inc()
    return refused


_OUTCOME_OF = {401: "unauthorized", 403: "forbidden", 429: "rate_limited"}


async def register(request: web.Request) -> web.Response:
    app = request.app
    config = app[CONFIG]
    outcome = app[REQUESTS]
    if not bearer_ok(request, config.token):
        outcome.labels("unauthorized").inc()
        return error(401, "missing or wrong bearer token", "Authorization")
    agent = Principal(TOKEN_NAME, "admin", shared=True)
    if (limited := app[READS].charge(request, agent, app[CLOCK]())) is not None:
        outcome.labels("rate_limited").inc()
        return limited
    try:
        raw = await read_body(request)
        reg = RegistrationIn.model_validate_json(raw)
    except web.HTTPRequestEntityTooLarge:
        outcome.labels("too_large").inc()
        return error(413, f"body larger than {MAX_BODY} bytes")
    except ValidationError as exc:
        outcome.labels("invalid").inc()
        first = exc.errors()[0]
        field = ".".join(str(p) for p in first["loc"]) or "body"
        return error(400, first["msg"], field)
    registration = Registration(
        reg.region, reg.agent, reg.agent_type, reg.address, dict(reg.labels)
    )
    await app[STORE].upsert(registration, app[CLOCK]())
    outcome.labels("registered").inc()
    return web.json_response({"status": "registered", "stale_after": config.stale_after})


def _state(last: float, now: float, config: RegistryConfig) -> str:
    return "stale" if now - last > config.stale_after else "live"


async def targets(request: web.Request) -> web.Response:
    """http_sd: one group per agent (its labels differ), sorted by region, type and agent.
    Stale agents stay listed until their TTL, so Prometheus shows them down (up == 0)."""
    app = request.app
    if (refused := _read_refused(request)) is not None:
        return refused
    now, config = app[CLOCK](), app[CONFIG]
    entries = await app[STORE].entries(request.query.get("region") or None)
    groups = [
        {
            "targets": [e.registration.address],
            "labels": {
                **e.registration.labels,
                c.LABEL_REGION: e.registration.region,
                c.LABEL_AGENT: e.registration.agent,
                c.LABEL_AGENT_TYPE: e.registration.agent_type,
            },
        }
        for e in entries
        if now - e.last_heartbeat <= config.ttl and _servable(e.registration)
    ]
    return web.json_response(groups)


def _servable(reg: Registration) -> bool:
    """Whether a stored registration still passes today's checks. Prometheus drops the whole
    http_sd answer for one bad label, so a row stored by an older, laxer version is left out
    rather than allowed to hide every other agent."""
    return (
        is_id(reg.region)
        and is_id(reg.agent)
        and is_host_port(reg.address)
        and all(is_label_name(k) and k not in RESERVED_LABELS for k in reg.labels)
    )


async def agents(request: web.Request) -> web.Response:
    app = request.app
    if (refused := _read_refused(request)) is not None:
        return refused
    now, config = app[CLOCK](), app[CONFIG]
    entries = await app[STORE].entries(request.query.get("region") or None)
    return web.json_response(
        [
            {
                "region": e.registration.region,
                "agent": e.registration.agent,
                "agent_type": e.registration.agent_type,
                "address": e.registration.address,
                "labels": e.registration.labels,
                "last_heartbeat": e.last_heartbeat,
                "state": _state(e.last_heartbeat, now, config),
            }
            for e in entries
            if now - e.last_heartbeat <= config.ttl
        ]
    )


async def metrics(request: web.Request) -> web.Response:
    app = request.app
    now, config = app[CLOCK](), app[CONFIG]
    entries = await app[STORE].entries()
    counts = {"live": 0, "stale": 0}
    for e in entries:
        if now - e.last_heartbeat <= config.ttl:
            counts[_state(e.last_heartbeat, now, config)] += 1
    for state, n in counts.items():
        app[AGENTS].labels(state).set(n)
    body = await asyncio.to_thread(generate_latest, app[METRICS])
    return web.Response(body=body, headers={"Content-Type": CONTENT_TYPE_LATEST})


async def _expire(app: web.Application) -> AsyncIterator[None]:
    """Remove agents past their TTL, in the background."""

    async def loop() -> None:
        while True:
            try:
                await app[STORE].expire(app[CLOCK]() - app[CONFIG].ttl)
            except WriterClosed:
                return  # shutting down
            except Exception as exc:  # a full disk, say: keep serving, try again later
                log.error("expiry failed", extra={"kv": {"err": repr(exc)}})
            await asyncio.sleep(max(1.0, app[CONFIG].stale_after / 2))

    task = asyncio.create_task(loop())
    yield
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task


def create_app(
    config: RegistryConfig, *, clock: Callable[[], float], store: RegistryStore
) -> web.Application:
    app = web.Application(client_max_size=MAX_BODY, handler_args=RAW_BODIES)
    registry = CollectorRegistry()
    app[STORE], app[CONFIG], app[CLOCK], app[METRICS] = store, config, clock, registry
    credentials = Credentials.of(config.token, list(config.named), shared_name=TOKEN_NAME)
    app[READS] = ReadGuard(credentials, config.open_reads, Budget(config.rate, config.burst))
    app[REQUESTS] = Counter(
        c.REGISTRY_REQUESTS.name.removesuffix("_total"),
        c.REGISTRY_REQUESTS.help,
        ["outcome"],
        registry=registry,
    )
    for outcome in OUTCOMES:
        app[REQUESTS].labels(outcome)  # children exist from the first scrape
    app[AGENTS] = Gauge(
        c.REGISTRY_AGENTS.name, c.REGISTRY_AGENTS.help, [c.LABEL_STATE], registry=registry
    )
    app.router.add_post(config.path, register)
    app.router.add_get(config.path, targets)
    app.router.add_get("/api/v1/registry/agents", agents)
    app.router.add_get("/metrics", metrics)
    app.cleanup_ctx.append(_expire)
    return app
