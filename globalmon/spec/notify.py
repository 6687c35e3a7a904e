"""Notification receivers and escalation policies."""

from __future__ import annotations

import re
from typing import Annotated, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import AfterValidator, Field, model_validator

from globalmon.spec.types import Duration, HostPort, Id, Secret, StrictModel, Url


class WebhookReceiver(StrictModel):
    """A generic JSON webhook."""

    type: Literal["webhook"] = Field(description="Receiver kind.", examples=["webhook"])
    name: Id = Field(description="Receiver name.", examples=["ops-webhook"])
    url: Url = Field(description="Where the JSON is POSTed.", examples=["http://ops-bot:8080/hook"])
    bearer_token: Secret | None = Field(
        None,
        description="Token sent as `Authorization: Bearer`.",
        examples=[{"env": "OPS_BOT_TOKEN"}],
    )


class SlackReceiver(StrictModel):
    """A Slack-compatible incoming webhook (Slack, Mattermost, Rocket.Chat)."""

    type: Literal["slack"] = Field(description="Receiver kind.", examples=["slack"])
    name: Id = Field(description="Receiver name.", examples=["ops-slack"])
    webhook_url: Secret = Field(
        description="The incoming-webhook URL, which is itself a secret.",
        examples=[{"env": "SLACK_OPS_WEBHOOK_URL"}],
    )
    channel: str | None = Field(None, description="Channel override.", examples=["#ops"])


class EmailReceiver(StrictModel):
    """Email over SMTP."""

    type: Literal["email"] = Field(description="Receiver kind.", examples=["email"])
    name: Id = Field(description="Receiver name.", examples=["oncall-email"])
    to: list[Annotated[str, Field(pattern=r"^[^@\s]+@[^@\s]+$")]] = Field(
        min_length=1, description="Recipients.", examples=[["oncall@example.com"]]
    )
    sender: str = Field(
        description="From address.",
        examples=["globalmon@example.com"],
        pattern=r"^[^@\s]+@[^@\s]+$",
    )
    smarthost: HostPort = Field(
        description="SMTP server as host:port.",
        examples=["smtp.example.com:587"],
    )
    username: str | None = Field(None, description="SMTP user.", examples=["globalmon"])
    password: Secret | None = Field(
        None, description="SMTP password.", examples=[{"file": "/etc/globalmon/smtp.pass"}]
    )
    starttls: bool = Field(True, description="Require STARTTLS.", examples=[True])


class PagerDutyReceiver(StrictModel):
    """PagerDuty Events API v2."""

    type: Literal["pagerduty"] = Field(description="Receiver kind.", examples=["pagerduty"])
    name: Id = Field(description="Receiver name.", examples=["pagerduty-primary"])
    routing_key: Secret = Field(
        description="Integration (routing) key.", examples=[{"env": "PAGERDUTY_ROUTING_KEY"}]
    )
    url: Url = Field(
        "https://events.pagerduty.com/v2/enqueue",
        description="Events API endpoint (override for a proxy or a test receiver).",
        examples=["https://events.pagerduty.com/v2/enqueue"],
    )


Receiver = Annotated[
    WebhookReceiver | SlackReceiver | EmailReceiver | PagerDutyReceiver,
    Field(discriminator="type"),
]

Weekday = Literal["mon", "tue", "wed", "thu", "fri", "sat", "sun"]
WORKDAYS: tuple[Weekday, ...] = ("mon", "tue", "wed", "thu", "fri")
_CLOCK_RE = re.compile(r"^([01][0-9]|2[0-3]):[0-5][0-9]$|^24:00$")


def _check_clock(value: str) -> str:
    if not _CLOCK_RE.fullmatch(value):
        raise ValueError('a time of day as "HH:MM", from "00:00" to "24:00"')
    return value


def _check_timezone(value: str) -> str:
    try:
        ZoneInfo(value)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError('an IANA time zone such as "Europe/Berlin" or "UTC"') from None
    return value


Clock = Annotated[str, AfterValidator(_check_clock)]
TimeZone = Annotated[str, AfterValidator(_check_timezone)]


class BusinessHours(StrictModel):
    """Working hours in a time zone; steps can be limited to inside or outside them."""

    timezone: TimeZone = Field(description="IANA time zone.", examples=["Europe/Berlin"])
    days: list[Weekday] = Field(
        default_factory=lambda: list(WORKDAYS),
        min_length=1,
        description="Working days.",
        examples=[["mon", "tue", "wed", "thu", "fri"]],
    )
    start: Clock = Field("09:00", description="Start of the working day.", examples=["09:00"])
    end: Clock = Field("17:00", description="End of the working day.", examples=["18:00"])

    @model_validator(mode="after")
    def _ordered(self) -> BusinessHours:
        if self.start >= self.end:
            raise ValueError(f"start ({self.start}) before end ({self.end})")
        return self


class Repeat(StrictModel):
    """Re-notify a step's receivers while the alert stays unacknowledged."""

    every: Duration = Field(description="Interval between repeats.", examples=["10m"])
    times: int = Field(ge=1, le=100, description="How many repeats at most.", examples=[3])


class EscalationStep(StrictModel):
    """One step: who to notify, how long after the alert started, and when."""

    after: Duration | None = Field(
        None,
        description="Delay after the alert started; default: the step's index times "
        "`escalate_after` (0s, 5m, 10m, ...).",
        examples=["0s", "15m"],
    )
    notify: list[str] = Field(
        min_length=1, description="Receiver names.", examples=[["ops-slack", "oncall-email"]]
    )
    repeat: Repeat | None = Field(
        None,
        description="Repeat this step until acknowledged.",
        examples=[{"every": "10m", "times": 3}],
    )
    when: Literal["always", "business_hours", "off_hours"] = Field(
        "always",
        description="Run the step always, only within or only outside the business hours.",
        examples=["off_hours"],
    )


class EscalationPolicy(StrictModel):
    """Ordered notification steps for an unacknowledged alert."""

    name: Id = Field(description="Policy name.", examples=["standard"])
    steps: list[EscalationStep] = Field(
        min_length=1,
        description="Steps in order; acknowledging the incident stops the policy.",
        examples=[[{"after": "0s", "notify": ["ops-slack"]}]],
    )
    business_hours: BusinessHours | None = Field(
        None,
        description="Working hours for steps with `when`.",
        examples=[{"timezone": "America/New_York"}],
    )
