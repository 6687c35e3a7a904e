"""The webhook's background work: escalation ticks, notification delivery, recovery actions.

``tick()`` does one pass with the injected clock; the app's loop calls it every second (and at
once after a payload opened an incident). Tests call it directly with a fake clock: the logic
never sleeps, only the loop between ticks and an action's verification polling do, through the
injected ``sleep``.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

import aiohttp
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

from alert_webhook import actions as act
from alert_webhook import replicas
from alert_webhook.channels import DeliveryError, Message, send
from alert_webhook.records import Attempt, Kpis, Outcome, RetryPolicy, Timed
from alert_webhook.rules import Rules
from alert_webhook.store import WebhookStore
from globalmon import conventions as c
from globalmon.conventions import ActionState as A
from globalmon.conventions import DeliveryState as D
from globalmon.spec.types import duration_seconds

log = logging.getLogger("globalmon.webhook")

Clock = Callable[[], float]
Sleep = Callable[[float], Awaitable[None]]


@dataclass(frozen=True)
class WebhookConfig:
    rules: Rules
    token: str | None  # the shared token (an admin); None only when the spec names none
    basic_user: str = "alertmanager"
    # named credentials: (name, role, SHA-256 hex digest of the token); see globalmon.access
    tokens: tuple[tuple[str, str, str], ...] = ()
    api_rate: float = 20.0  # API requests a second per credential (POST /webhook is not limited)
    api_burst: float = 100.0
    secrets: dict[str, str] = field(default_factory=dict)  # receiver name -> its secret
    unavailable: dict[str, str] = field(default_factory=dict)  # receiver name -> why
    max_body_bytes: int = 64 * 1024 * 1024  # a 10k-alert storm is about 10-20 MiB
    delivery_attempts: int = 8
    delivery_backoff: float = 2.0
    tick_interval: float = 1.0
    delivery_concurrency: int = 20


REJECTIONS = ("unauthorized", "forbidden", "rate_limited", "invalid", "too_large", "unavailable")


class WebhookMetrics:
    def __init__(self) -> None:
        self.registry = r = CollectorRegistry()

        def counter(m: c.MetricDef, *children: tuple[str, ...]) -> Counter:
            metric = Counter(m.name.removesuffix("_total"), m.help, m.labels, registry=r)
            for labels in children:
                metric.labels(*labels)  # present from the first scrape, so rate() sees the first
            return metric

        self.alerts = counter(c.WEBHOOK_ALERTS, ("firing",), ("resolved",))
        # bound once: labels() takes a lock and a dict lookup, at every POST
        self._alerts_by_status = {s: self.alerts.labels(s) for s in ("firing", "resolved")}
        self.duplicates = counter(c.WEBHOOK_DUPLICATES)
        self.rejected = counter(
            c.WEBHOOK_REJECTED,
            *[(x,) for x in REJECTIONS],
        )
        self.auth_failures = counter(c.HTTP_AUTH_FAILURES, ("webhook",))
        self.notifications = counter(c.WEBHOOK_NOTIFICATIONS)
        self.escalations = counter(c.WEBHOOK_ESCALATIONS)
        self.actions = counter(c.WEBHOOK_ACTIONS)
        m = c.WEBHOOK_WATCHDOG
        self.watchdog = Gauge(m.name, m.help, m.labels, registry=r)
        m = c.WEBHOOK_INCIDENTS_OPEN
        self.open = Gauge(m.name, m.help, m.labels, registry=r)
        m = c.WEBHOOK_TIME_TO_ACKNOWLEDGE
        self.time_to_ack = Histogram(m.name, m.help, m.labels, registry=r, buckets=c.KPI_BUCKETS)
        m = c.WEBHOOK_TIME_TO_RESOLVE
        self.time_to_resolve = Histogram(
            m.name, m.help, m.labels, registry=r, buckets=c.KPI_BUCKETS
        )
        m = c.WEBHOOK_MEAN_TIME_TO_RESOLVE
        self.mttr = Gauge(m.name, m.help, m.labels, registry=r)
        m = c.WEBHOOK_MEAN_TIME_TO_ACKNOWLEDGE
        self.mtta = Gauge(m.name, m.help, m.labels, registry=r)
        m = c.WEBHOOK_RECOVERY_SUCCESS
        self.recovery_success = Gauge(m.name, m.help, m.labels, registry=r)
        m = c.WEBHOOK_PROCESSING
        self.processing = Histogram(
            m.name,
            m.help,
            registry=r,
            buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5),
        )

    def count(self, out: Outcome, now: float | None = None) -> None:
        for status, n in out.received.items():
            if n:
                self._alerts_by_status[status].inc(n)
        if out.duplicates:
            self.duplicates.inc(out.duplicates)
        for step in out.escalations:
            self.escalations.labels(step).inc()
        for region in set(out.watchdogs):
            self.watchdog.labels(region).set(now or 0.0)
        for t in out.resolved:
            self.resolved(t)

    def acknowledged(self, t: Timed) -> None:
        self.time_to_ack.labels(t.region, t.severity).observe(t.seconds)

    def resolved(self, t: Timed) -> None:
        auto = "true" if t.auto_recovered else "false"
        self.time_to_resolve.labels(t.region, t.severity, auto).observe(t.seconds)

    def kpis(self, k: Kpis) -> None:
        for gauge, values in (
            (self.mttr, k.resolve),
            (self.mtta, k.acknowledge),
            (self.recovery_success, k.recovery),
        ):
            gauge.clear()  # what left the window is gone, not frozen at its last value
            for key, value in values.items():
                gauge.labels(*(key if isinstance(key, tuple) else (key,))).set(value)


class Webhook:
    """Everything that runs after a payload is committed."""

    def __init__(
        self,
        config: WebhookConfig,
        store: WebhookStore,
        *,
        clock: Clock,
        sleep: Sleep = asyncio.sleep,
        metrics: WebhookMetrics | None = None,
    ) -> None:
        self.config, self.store, self.clock, self.sleep = config, store, clock, sleep
        self.rules = config.rules
        self.metrics = metrics or WebhookMetrics()
        self.wake = asyncio.Event()
        self.running: set[asyncio.Task[None]] = set()
        self._session: aiohttp.ClientSession | None = None

    @property
    def session(self) -> aiohttp.ClientSession:
        if self._session is None:
            self._session = aiohttp.ClientSession()
        return self._session

    async def close(self) -> None:
        for task in list(self.running):
            task.cancel()
        await asyncio.gather(*self.running, return_exceptions=True)
        if self._session is not None:
            await self._session.close()

    async def start(self) -> None:
        """At start: actions cut short by a crash are marked interrupted, never run again. A
        replica of several only takes those whose replica stopped beating."""
        now = self.clock()
        if self.store.shared:
            await self.store.beat(now)
            self._beat_at = now
            await self.store.interrupt_orphaned(now)
        else:
            await self.store.interrupt_running(now)

    _beat_at = float("-inf")

    async def _replica_pass(self, now: float) -> None:
        """Replicas: say this one is alive; take over what a gone one was running."""
        if now - self._beat_at >= replicas.BEAT_EVERY:
            await self.store.beat(now)
            self._beat_at = now
        if await self.store.orphans(now):
            await self.store.interrupt_orphaned(now)

    async def tick(self) -> None:
        """One pass. Its stages fail apart: a bug or a bad row in one (a notification that
        cannot be built, say) must not keep the others, recovery above all, from running."""
        now = self.clock()
        failed: list[BaseException] = []
        if self.store.shared:
            try:
                await self._replica_pass(now)
            except Exception as exc:
                failed.append(exc)
        escalations, actions = await self.store.work_due(now)
        if escalations:
            try:
                self.metrics.count(await self.store.escalate(now))
            except Exception as exc:
                failed.append(exc)
        try:
            await self.deliver(now)
        except Exception as exc:
            failed.append(exc)
        for row in await self.store.claim_actions(now) if actions else []:
            task = asyncio.create_task(self._execute(row))
            self.running.add(task)
            task.add_done_callback(self.running.discard)
        if failed:
            raise failed[0]

    async def drain(self) -> None:
        """Wait for the actions started so far (tests, shutdown)."""
        while self.running:
            await asyncio.gather(*list(self.running), return_exceptions=True)

    async def loop(self) -> None:
        while True:
            try:
                await self.tick()
            except Exception as exc:  # a full disk, a bug in one path: keep serving, say so
                log.error("background pass failed", extra={"kv": {"err": repr(exc)}})
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.wake.wait(), self.config.tick_interval)
            self.wake.clear()

    # --- notifications ---

    async def deliver(self, now: float) -> None:
        if not await self.store.due_deliveries(now, limit=1):  # a read: idle ticks write nothing
            return
        due = await self.store.claim_deliveries(now)
        gate = asyncio.Semaphore(self.config.delivery_concurrency)

        async def one(d: dict[str, object]) -> None:
            async with gate:
                await self._deliver(d)

        # every delivery runs to its end, whatever another one raised
        results = await asyncio.gather(*(one(d) for d in due), return_exceptions=True)
        for result in results:
            if isinstance(result, BaseException):
                raise result

    async def _deliver(self, d: dict[str, object]) -> None:
        name = str(d["receiver"])
        receiver = self.rules.receivers.get(name)
        retry = True
        if receiver is None:
            ok, detail, retry = False, f"receiver {name} is not in the spec", False
        elif name in self.config.unavailable:
            ok, detail, retry = False, self.config.unavailable[name], False
        else:
            try:
                message = Message(
                    incident={
                        "id": d["incident_id"],
                        "state": d["state"],
                        "labels": json.loads(str(d["labels"])),
                        "annotations": json.loads(str(d["annotations"])),
                        "starts_at": d["starts_at"],
                    },
                    event=str(d["event"]),
                    step=str(d["step"]),
                    note=str(d["note"]),
                )
                secret = self.config.secrets.get(name)
                detail = await send(self.session, receiver, secret, message)
                ok = True
            except DeliveryError as exc:
                ok, detail, retry = False, str(exc), exc.retry
            except Exception as exc:  # a message this channel cannot carry: retrying is futile
                ok, detail, retry = False, f"cannot be sent: {exc!r}"[:1000], False
        state = await self.store.delivery_result(
            Attempt(int(str(d["id"])), ok, retry, detail, self.clock()),
            RetryPolicy(self.config.delivery_attempts, self.config.delivery_backoff),
        )
        outcome = "sent" if ok else ("retrying" if state == D.PENDING else "failed")
        self.metrics.notifications.labels(name, outcome).inc()

    # --- recovery actions ---

    async def _execute(self, row: int) -> None:
        """Run one claimed action; whatever goes wrong ends in its row, never in silence."""
        try:
            await self._run_action(row)
        except Exception as exc:
            log.error("action failed", extra={"kv": {"action_id": row, "err": repr(exc)}})
            with contextlib.suppress(Exception):  # the store itself may be what failed
                await self.store.finish_action(row, A.ERROR, repr(exc)[:1000], self.clock())
            self.wake.set()

    async def _run_action(self, row: int) -> None:
        found = await self.store.action(row)
        assert found is not None
        action = self.rules.actions[found["action"]]
        labels = json.loads(found["labels"])
        annotations = json.loads(found["annotations"])
        g = action.guardrails
        prometheus = self.rules.prometheus_for(labels.get("region"))
        if g.precondition is not None and not g.dry_run:
            holds, why = await act.promql_holds(self.session, prometheus, g.precondition)
            if not holds:
                await self._finish(row, action.name, "precondition_failed", why)
                return
        silenced = None
        if g.silence and not g.dry_run:
            hold = duration_seconds(g.timeout) + (
                duration_seconds(action.verify.within) if action.verify else 0
            )
            silenced = await act.silence(
                self.session,
                self.rules.spec.global_.alertmanager_urls,
                labels,
                hold,
                f"globalmon recovery action {action.name} (incident {found['incident_id']})",
            )
        try:
            try:
                result, detail = await act.run(
                    action,
                    labels,
                    annotations,
                    incident=found["incident_id"],
                    status=found["trigger"],
                    session=self.session,
                )
            except Exception as exc:  # a runner bug must not leave the row 'running' forever
                result, detail = A.ERROR, repr(exc)
            verifying = result == A.SUCCEEDED and action.verify is not None
            await self._finish(row, action.name, result, detail, verifying=verifying)
            if verifying:
                assert action.verify is not None
                ok, why = await self._verify(
                    prometheus,
                    self.rules.spec.scaled(action.verify.expr),  # global.time_scale
                    duration_seconds(action.verify.within),
                    duration_seconds(action.verify.interval),
                )
                await self.store.verified(row, ok, why, self.clock())
                self.metrics.actions.labels(
                    action.name, A.VERIFIED if ok else A.VERIFY_FAILED
                ).inc()
        finally:
            if silenced is not None:
                await act.expire_silence(self.session, *silenced)
        self.wake.set()  # a failure may have made an escalation due now

    async def _finish(
        self, row: int, name: str, result: str, detail: str, *, verifying: bool = False
    ) -> None:
        await self.store.finish_action(row, result, detail, self.clock(), verifying=verifying)
        self.metrics.actions.labels(name, result).inc()

    async def _verify(
        self, prometheus: str | None, expr: str, within: float, every: float
    ) -> tuple[bool, str]:
        deadline = self.clock() + within
        while True:
            holds, why = await act.promql_holds(self.session, prometheus, expr)
            if holds:
                return True, f"post-check held: {why}"
            if self.clock() + every > deadline:
                return False, f"post-check did not hold within {within:.0f}s: {why}"
            await self.sleep(every)

    async def refresh_kpis(self) -> None:
        self.metrics.kpis(await self.store.kpis(self.clock() - c.KPI_WINDOW_SECONDS))

    async def refresh_open(self) -> None:
        self.metrics.open.clear()
        # zeros for the spec's regions: "no open incident" is a value, not a missing series
        for spec_region in self.rules.spec.regions:
            for level in c.Severity:
                self.metrics.open.labels(level.value, spec_region.id).set(0)
        for severity, region, n in await self.store.open_counts():
            self.metrics.open.labels(severity, region).set(n)
