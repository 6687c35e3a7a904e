"""Alertmanager's webhook payload, version 4, as the webhook accepts it.

Unknown keys are ignored (Alertmanager may add some); the fields we use are strict. Label values
are untrusted input: they are stored and rendered as data, never executed or re-templated.
``endsAt`` of ``0001-01-01T00:00:00Z`` means "no end yet".
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    ValidationError,
    field_validator,
)

from globalmon.http import validation_reason

MAX_ALERTS = 20_000  # a 10k-alert storm fits with room; Alertmanager's max_alerts caps it lower
LabelName = Annotated[str, StringConstraints(pattern=r"^[a-zA-Z_][a-zA-Z0-9_]*$", max_length=128)]
LabelValue = Annotated[str, StringConstraints(max_length=4096)]
Labels = Annotated[dict[LabelName, LabelValue], Field(max_length=64)]
Annotations = Annotated[
    dict[LabelName, Annotated[str, StringConstraints(max_length=16_384)]], Field(max_length=64)
]


class _Model(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True, allow_inf_nan=False)


class Alert(_Model):
    status: Literal["firing", "resolved"]
    labels: Labels
    annotations: Annotations = Field(default_factory=dict)
    startsAt: datetime
    endsAt: datetime | None = None
    generatorURL: Annotated[str, StringConstraints(max_length=4096)] = ""
    fingerprint: Annotated[str, StringConstraints(min_length=1, max_length=64)]

    @field_validator("startsAt", "endsAt")
    @classmethod
    def _utc(cls, value: datetime | None) -> datetime | None:
        """One instant, one value: 12:00+02:00 and 10:00Z are the same start (the dedupe key
        must not depend on the sender's offset); a time without an offset is UTC."""
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        try:
            return value.astimezone(UTC)
        except OverflowError:
            raise ValueError("a time that stays within years 1 to 9999 in UTC") from None

    @property
    def starts_at(self) -> str:
        """startsAt in one canonical form, UTC: the dedupe key must not depend on formatting."""
        return self.startsAt.isoformat()


class Payload(_Model):
    version: Literal["4"]
    status: Literal["firing", "resolved"]
    receiver: Annotated[str, StringConstraints(max_length=256)] = ""
    groupKey: Annotated[str, StringConstraints(max_length=4096)] = ""
    externalURL: Annotated[str, StringConstraints(max_length=4096)] = ""
    truncatedAlerts: int = Field(0, ge=0)
    alerts: list[Alert] = Field(min_length=1, max_length=MAX_ALERTS)


class BadPayload(ValueError):
    """A body that is not a valid payload: the answer's status, reason and field. Plain
    arguments, so it crosses from the writer process (pydantic's error may not pickle)."""

    def __init__(self, status: int, reason: str, field: str) -> None:
        super().__init__(status, reason, field)
        self.status, self.reason, self.field = status, reason, field


def parse(body: bytes) -> list[Alert]:
    """The alerts of a webhook body, or BadPayload naming the first bad field."""
    try:
        return list(Payload.model_validate_json(body).alerts)
    except ValidationError as exc:
        raise BadPayload(*validation_reason(exc)) from None
