"""A scenario's measured timeline, and waiting on a condition with a deadline."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

POLL = 0.1


class ScenarioError(RuntimeError):
    pass


@dataclass
class Timeline:
    scenario: str
    t0: float
    steps: list[tuple[str, float, str]] = field(default_factory=list)  # (name, seconds, note)
    polled: set[int] = field(default_factory=set)  # steps marked when a poll saw them

    def mark(self, name: str, note: str = "", at: float | None = None) -> float:
        """Record a milestone now (a poll saw it), or at the wall-clock time ``at`` (a record
        says when). A poll sees a state up to one interval late: a record of a later milestone
        that is earlier than it bounds it, so the polled time comes down to the record's."""
        since = (time.time() if at is None else at) - self.t0
        if at is None:
            self.polled.add(len(self.steps))
        else:
            for i in self.polled:
                step, polled_at, polled_note = self.steps[i]
                if polled_at > since:
                    seen = f"(a poll saw it at {polled_at:+.2f} s)"
                    self.steps[i] = (step, since, f"{polled_note} {seen}".strip())
        self.steps.append((name, since, note))
        return since

    def at(self, name: str) -> float:
        return next(t for n, t, _ in self.steps if n == name)

    def render(self, targets: dict[str, float]) -> str:
        lines = [f"{self.scenario}: timeline (t0 = the breach)"]
        for name, at, note in self.steps:
            target = targets.get(name)
            verdict = ""
            if target is not None:
                verdict = f"target < {target:g} s  {'ok' if at <= target else 'MISSED'}"
            lines.append(f"  {at:>+7.2f} s  {name:<22} {verdict:<20} {note}")
        return "\n".join(lines)


def until(what: str, check: Callable[[], Any], limit: float) -> Any:
    """The first truthy ``check()``, polled every ``POLL`` seconds; ScenarioError past
    ``limit``."""
    deadline = time.monotonic() + limit
    while True:
        result = check()
        if result:
            return result
        if time.monotonic() > deadline:
            raise ScenarioError(f"{what}: not seen within {limit:.0f} s")
        time.sleep(POLL)
