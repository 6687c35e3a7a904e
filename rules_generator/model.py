"""What the rule steps produce: recording rules, alerts, and the promtool cases that prove them."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class Recording:
    record: str
    expr: str
    labels: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Series:
    """An input series of a promtool test, in promtool's expanding notation (``0+60x30``)."""

    selector: str
    values: str


@dataclass(frozen=True)
class Case:
    """One promtool test group: input series, when to evaluate, and what should fire.

    ``labels`` is None for a near-miss (nothing may fire); otherwise the alert's full label set.
    ``value`` is the alert expression's value at ``eval_minutes``, for rendering annotations.
    """

    name: str
    series: tuple[Series, ...]
    eval_minutes: int
    labels: dict[str, str] | None = None
    value: float = 0.0


@dataclass(frozen=True)
class Alert:
    name: str
    expr: str
    for_: str
    labels: dict[str, str]
    annotations: dict[str, str]  # Prometheus templates: $labels and $value
    cases: tuple[Case, ...]
    keep_firing_for: str = "0s"  # how long it fires on after its condition clears


Rule = Recording | Alert


@dataclass(frozen=True)
class Group:
    name: str
    rules: tuple[Rule, ...]
    interval: str | None = None  # the group's own evaluation interval; None: the global one
