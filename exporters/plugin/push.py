"""Push critical plugin events to the alert webhook, as Alertmanager would send an alert.

The payload is Alertmanager's webhook format (version 4) with one firing ``PluginCriticalEvent``
alert, so the webhook handles it like any other alert (incident, escalation, audit). Pushes run
in the background after the event is committed; a failed push is retried with backoff and never
delays or fails ingest. The counter rule on ``globalmon_plugin_events_total`` alerts either way.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any

import aiohttp
from prometheus_client import Counter

from globalmon import conventions as c
from globalmon.conventions import AlertName

QUEUE = 1000
ATTEMPTS = 5
ZERO_TIME = "0001-01-01T00:00:00Z"


def payload(event: dict[str, Any], region: str | None) -> dict[str, Any]:
    labels = {
        "alertname": AlertName.PLUGIN_CRITICAL_EVENT,
        c.LABEL_PLUGIN: event["plugin"],
        c.LABEL_SEVERITY: "critical",
        c.LABEL_TYPE: event["type"],
    }
    if region:
        labels[c.LABEL_REGION] = region
    starts = datetime.fromtimestamp(event["timestamp"], UTC).isoformat().replace("+00:00", "Z")
    fingerprint = hashlib.sha256(f"{sorted(labels.items())}{event['id']}".encode()).hexdigest()
    alert = {
        "status": "firing",
        "labels": labels,
        "annotations": {
            "summary": f"Plugin {event['plugin']} reported a critical {event['type']} event",
            "description": event["description"],
        },
        "startsAt": starts,
        "endsAt": ZERO_TIME,
        "generatorURL": "",
        "fingerprint": fingerprint[:16],
    }
    return {
        "version": "4",
        "groupKey": f"plugin-exporter:{event['plugin']}:{event['id']}",
        "truncatedAlerts": 0,
        "status": "firing",
        "receiver": "globalmon-plugin-exporter",
        "groupLabels": {"alertname": AlertName.PLUGIN_CRITICAL_EVENT},
        "commonLabels": labels,
        "commonAnnotations": alert["annotations"],
        "externalURL": "",
        "alerts": [alert],
    }


class Pusher:
    def __init__(
        self,
        url: str,
        token: str | None,
        region: str | None,
        outcomes: Counter,
        *,
        backoff: float = 1.0,
    ) -> None:
        self.url, self.token, self.region = url, token, region
        self.outcomes = outcomes
        self.backoff = backoff
        self.queue: asyncio.Queue[dict[str, Any]] = asyncio.Queue(QUEUE)

    def submit(self, event: dict[str, Any]) -> None:
        try:
            self.queue.put_nowait(event)
        except asyncio.QueueFull:
            self.outcomes.labels("dropped").inc()

    async def _send(self, session: aiohttp.ClientSession, event: dict[str, Any]) -> None:
        headers = {"Authorization": f"Bearer {self.token}"} if self.token else {}
        body = payload(event, self.region)
        for attempt in range(ATTEMPTS):
            try:
                async with session.post(self.url, json=body, headers=headers) as resp:
                    if resp.status < 300:
                        self.outcomes.labels("sent").inc()
                        return
                    if 400 <= resp.status < 500 and resp.status != 429:
                        break  # refused: retrying the same payload cannot help
            except (aiohttp.ClientError, TimeoutError):
                pass
            if attempt + 1 < ATTEMPTS:
                await asyncio.sleep(self.backoff * 2**attempt)
        self.outcomes.labels("failed").inc()

    async def run(self) -> None:
        timeout = aiohttp.ClientTimeout(total=10)
        async with aiohttp.ClientSession(timeout=timeout) as session:
            while True:
                event = await self.queue.get()
                try:
                    await self._send(session, event)
                except Exception:  # one event that cannot be sent must not stop the others
                    self.outcomes.labels("failed").inc()


@contextlib.asynccontextmanager
async def running(pusher: Pusher | None) -> AsyncIterator[None]:
    task = asyncio.create_task(pusher.run()) if pusher else None
    try:
        yield
    finally:
        if task:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
