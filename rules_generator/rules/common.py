"""Helpers shared by the rule steps: durations in minutes, promtool value strings."""

from __future__ import annotations

import math

from globalmon.spec.types import duration_seconds
from rules_generator.context import num


def minutes(duration: str) -> int:
    """Whole minutes, rounded up, of a Prometheus duration."""
    return math.ceil(duration_seconds(duration) / 60)


def steady(value: float, samples: int) -> str:
    """``value`` for ``samples + 1`` one-minute samples, in promtool's notation."""
    return f"{num(value)}x{samples}"


def counter(per_minute: float, samples: int, start: float = 0) -> str:
    """A series changing by ``per_minute`` (a counter when positive): ``0+60x10``, ``5-1x3``."""
    sign = "-" if per_minute < 0 else "+"
    return f"{num(start)}{sign}{num(abs(per_minute))}x{samples}"
