"""Notification channels: a generic JSON webhook, Slack-compatible webhooks, SMTP email and
PagerDuty's Events API v2.

Message text comes from Jinja templates in an immutable sandbox; label values and annotations are
data inside them, never template source, so ``{{ 7*7 }}`` in a label arrives as those characters.
Every send raises ``DeliveryError`` on failure; the notifier retries with backoff.
"""

from __future__ import annotations

import asyncio
import smtplib
import ssl
from dataclasses import dataclass
from email.message import EmailMessage
from typing import Any

import aiohttp

from alert_webhook.matching import SANDBOX
from globalmon.secrets import SecretUnavailable, read_secret
from globalmon.spec.notify import (
    EmailReceiver,
    PagerDutyReceiver,
    Receiver,
    SlackReceiver,
    WebhookReceiver,
)

TIMEOUT = aiohttp.ClientTimeout(total=10)
_TEXT = SANDBOX.from_string(
    "[{{ event | upper }}{% if step %} step {{ step }}{% endif %}] "
    "{{ labels.get('alertname', 'alert') }} ({{ labels.get('severity', 'none') }})"
    "{% if labels.get('region') %} in {{ labels.region }}{% endif %}"
    "{% if labels.get('service') %} service {{ labels.service }}{% endif %}"
    "{% if labels.get('plugin') %} plugin {{ labels.plugin }}{% endif %}"
    ": {{ annotations.get('summary', '') }} (incident #{{ incident.id }})"
    "{% if note %} - {{ note }}{% endif %}"
)
_BODY = SANDBOX.from_string(
    "{{ text }}\n\n"
    "{% for k, v in labels | dictsort %}{{ k }}: {{ v }}\n{% endfor %}\n"
    "{{ annotations.get('description', '') }}\n"
    "{% if annotations.get('runbook_url') %}Runbook: {{ annotations.runbook_url }}\n{% endif %}"
)
_PD_SEVERITY = {"critical": "critical", "warning": "warning", "info": "info"}
_PD_ACTION = {"trigger": "trigger", "acknowledge": "acknowledge", "resolve": "resolve"}


def one_line(text: str) -> str:
    """``text`` with every line break Python knows (CR, LF, VT, FF, U+2028 ...) as a space:
    a header value must be one line, and label values may contain any of them."""
    return " ".join(text.splitlines())


class DeliveryError(RuntimeError):
    """A send that failed; ``retry`` False when trying again cannot help."""

    def __init__(self, reason: str, *, retry: bool = True) -> None:
        super().__init__(reason)
        self.retry = retry


@dataclass(frozen=True)
class Message:
    incident: dict[str, Any]  # id, state, labels, annotations, starts_at
    event: str  # trigger, acknowledge, resolve
    step: str
    note: str

    def context(self) -> dict[str, Any]:
        return {
            "incident": self.incident,
            "labels": self.incident["labels"],
            "annotations": self.incident["annotations"],
            "event": self.event,
            "step": self.step,
            "note": self.note,
        }

    def text(self) -> str:
        return _TEXT.render(self.context())

    def json(self) -> dict[str, Any]:
        return {
            "version": "1",
            "event": self.event,
            "step": self.step,
            "note": self.note,
            "text": self.text(),
            "incident": self.incident,
        }


def resolve_secrets(receivers: list[Receiver]) -> tuple[dict[str, str], dict[str, str]]:
    """(secret by receiver, why by receiver whose secret cannot be read). Read once at start."""
    found: dict[str, str] = {}
    missing: dict[str, str] = {}
    for r in receivers:
        ref = None
        if isinstance(r, SlackReceiver):
            ref = r.webhook_url
        elif isinstance(r, PagerDutyReceiver):
            ref = r.routing_key
        elif isinstance(r, WebhookReceiver | EmailReceiver):
            ref = r.bearer_token if isinstance(r, WebhookReceiver) else r.password
        if ref is None:
            continue
        try:
            found[r.name] = read_secret(ref)
        except SecretUnavailable as exc:
            missing[r.name] = str(exc)
    return found, missing


async def send(
    session: aiohttp.ClientSession, receiver: Receiver, secret: str | None, message: Message
) -> str:
    """Deliver ``message``; returns a short description of the receiver's answer."""
    if isinstance(receiver, WebhookReceiver):
        headers = {"Authorization": f"Bearer {secret}"} if secret else {}
        return await _post(session, receiver.url, message.json(), headers)
    if isinstance(receiver, SlackReceiver):
        if secret is None:
            raise DeliveryError("webhook_url unavailable", retry=False)
        body: dict[str, Any] = {"text": message.text()}
        if receiver.channel:
            body["channel"] = receiver.channel
        return await _post(session, secret, body, {})
    if isinstance(receiver, PagerDutyReceiver):
        if secret is None:
            raise DeliveryError("routing_key unavailable", retry=False)
        return await _post(session, receiver.url, pagerduty(secret, message), {})
    assert isinstance(receiver, EmailReceiver)
    return await asyncio.to_thread(_email, receiver, secret, message)


def pagerduty(routing_key: str, message: Message) -> dict[str, Any]:
    incident = message.incident
    labels: dict[str, str] = incident["labels"]
    body: dict[str, Any] = {
        "routing_key": routing_key,
        "event_action": _PD_ACTION[message.event],
        "dedup_key": f"globalmon-incident-{incident['id']}",
    }
    if message.event == "trigger":
        body["payload"] = {
            "summary": message.text()[:1024],
            "source": labels.get("region") or labels.get("instance") or "globalmon",
            "severity": _PD_SEVERITY.get(labels.get("severity", ""), "error"),
            "component": labels.get("service") or labels.get("plugin") or None,
            "group": labels.get("region") or None,
            "class": labels.get("alertname") or None,
            "custom_details": {"labels": labels, "annotations": incident["annotations"]},
        }
    return body


async def _post(
    session: aiohttp.ClientSession, url: str, body: dict[str, Any], headers: dict[str, str]
) -> str:
    try:
        async with session.post(url, json=body, headers=headers, timeout=TIMEOUT) as resp:
            text = (await resp.text())[:200]
            if resp.status >= 400:
                # 4xx other than 429 means the request itself is wrong: retrying cannot help
                retry = resp.status >= 500 or resp.status == 429
                raise DeliveryError(f"HTTP {resp.status}: {text}", retry=retry)
            return f"HTTP {resp.status}"
    except (aiohttp.ClientError, TimeoutError) as exc:
        raise DeliveryError(f"{type(exc).__name__}: {exc}") from None


def email(receiver: EmailReceiver, message: Message) -> EmailMessage:
    """The mail for ``message``: label values reach the subject as one line and the body as
    text, so no value can add a header or end the message."""
    mail = EmailMessage()
    text = message.text()
    mail["Subject"] = one_line(text)[:200]
    mail["From"] = receiver.sender
    mail["To"] = ", ".join(receiver.to)
    mail.set_content(_BODY.render(message.context() | {"text": text}))
    return mail


def _email(receiver: EmailReceiver, password: str | None, message: Message) -> str:
    mail = email(receiver, message)
    host, _, port = receiver.smarthost.rpartition(":")
    try:
        with smtplib.SMTP(host, int(port), timeout=10) as smtp:
            if receiver.starttls:
                smtp.starttls(context=ssl.create_default_context())
            if receiver.username and password:
                smtp.login(receiver.username, password)
            refused = smtp.send_message(mail)
    except smtplib.SMTPResponseException as exc:
        raise DeliveryError(f"SMTP {exc.smtp_code}", retry=exc.smtp_code < 500) from None
    except (smtplib.SMTPException, OSError) as exc:
        raise DeliveryError(f"{type(exc).__name__}: {exc}") from None
    if refused:
        raise DeliveryError(f"refused recipients: {', '.join(refused)}", retry=False)
    return f"SMTP accepted for {len(receiver.to)} recipient(s)"
