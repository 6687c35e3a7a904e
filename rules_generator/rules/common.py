"""Helpers shared by the rule steps: durations in minutes, promtool value strings."""

from __future__ import annotations

import math

from globalmon import conventions as c
from globalmon.spec.types import duration_seconds
from rules_generator.context import num, sel
from rules_generator.model import Series


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


# p95 of a histogram whose requests all fall in (limit, 2*limit] is 1.95 * limit, by
# histogram_quantile's linear interpolation; all in (limit/2, limit] gives 0.975 * limit.
SLOW_P95 = 1.95


def latency_buckets(
    bucket_metric: str, labels: dict[str, str], limit: float, *, slow: bool, samples: int
) -> tuple[Series, ...]:
    """Histogram buckets whose p95 is just above ``limit`` (slow) or just below it."""
    bounds = [
        (num(limit / 2), 0),
        (num(limit), 0 if slow else 60),
        (num(limit * 2), 60),
        ("+Inf", 60),
    ]
    return tuple(
        Series(sel(bucket_metric, **labels, le=le), counter(n, samples)) for le, n in bounds
    )


def error_traffic(
    requests: str, errors: str, labels: dict[str, str], ratio: float, samples: int
) -> tuple[Series, ...]:
    """Request and error counters (10 requests a second) with the given error ratio."""
    return (
        Series(sel(requests, **labels), counter(600, samples)),
        Series(sel(errors, **labels), counter(600 * ratio, samples)),
    )


# One synthetic agent for the test cases: rules match every agent of the region alike.
TEST_INSTANCE = "test-host:9464"


def agent_labels(region: str) -> dict[str, str]:
    return {
        "agent": "test-agent",
        "agent_type": "system",
        "instance": TEST_INSTANCE,
        "job": c.JOB_AGENT,
        "region": region,
    }
