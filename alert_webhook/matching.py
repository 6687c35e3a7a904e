"""Which recovery actions an alert triggers, and what they act on.

Matchers use Alertmanager's syntax (validated when the spec loads); regular expressions are
anchored at both ends, as in Alertmanager. Templates render in a sandbox with ``labels`` and
``annotations`` set: a label value such as ``{{ 7*7 }}`` or ``$(rm -rf /)`` is text, never code.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from jinja2 import StrictUndefined
from jinja2.sandbox import ImmutableSandboxedEnvironment

from globalmon.spec.recovery import (
    _MATCHER_RE,
    CommandAction,
    DockerRestartAction,
    HttpAction,
    RecoveryAction,
    SystemdRestartAction,
)

SANDBOX = ImmutableSandboxedEnvironment(autoescape=False, undefined=StrictUndefined)


@dataclass(frozen=True)
class Matcher:
    name: str
    op: str
    value: str

    def matches(self, labels: Mapping[str, str]) -> bool:
        have = labels.get(self.name, "")
        if self.op == "=":
            return have == self.value
        if self.op == "!=":
            return have != self.value
        found = re.fullmatch(self.value, have) is not None
        return found if self.op == "=~" else not found


@lru_cache(maxsize=1024)
def parse_matcher(text: str) -> Matcher:
    m = _MATCHER_RE.fullmatch(text)
    if m is None:  # the spec loader refuses these; reaching here is a bug
        raise ValueError(f"not a matcher: {text!r}")
    raw = m["value"]
    value = raw[1:-1].encode().decode("unicode_escape") if raw.startswith('"') else raw
    return Matcher(m["name"], m["op"], value)


def matches(action: RecoveryAction, labels: Mapping[str, str]) -> bool:
    return all(parse_matcher(t).matches(labels) for t in action.matchers)


def render(template: str, labels: Mapping[str, str], annotations: Mapping[str, str]) -> str:
    return SANDBOX.from_string(template).render(labels=dict(labels), annotations=dict(annotations))


def render_json(template: str, labels: Mapping[str, str], annotations: Mapping[str, str]) -> str:
    """A JSON body built as data: each string of the template JSON rendered on its own, then
    the whole encoded, so quotes or braces in a label value stay inside their string."""

    def walk(value: Any) -> Any:
        if isinstance(value, str):
            return render(value, labels, annotations)
        if isinstance(value, dict):
            return {walk(k): walk(v) for k, v in value.items()}
        if isinstance(value, list):
            return [walk(v) for v in value]
        return value

    return json.dumps(walk(json.loads(template)), ensure_ascii=False)


_UNIT_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9:_.@\\-]*$")


class BadTarget(ValueError):
    """A rendered target that must not be used (e.g. a unit name that reads as an option)."""


def target(
    action: RecoveryAction, labels: Mapping[str, str], annotations: Mapping[str, str]
) -> str:
    """What the action acts on, rendered: the key of its cooldown and what the audit shows."""
    if isinstance(action, DockerRestartAction):
        name = render(action.container, labels, annotations)
        if not _UNIT_RE.fullmatch(name):
            raise BadTarget(f"container name {name!r}")
        return name
    if isinstance(action, SystemdRestartAction):
        unit = render(action.unit, labels, annotations)
        if not _UNIT_RE.fullmatch(unit):
            raise BadTarget(f"unit name {unit!r}")
        return unit
    if isinstance(action, HttpAction):
        return f"{action.method} {action.url}"
    assert isinstance(action, CommandAction)
    return " ".join(argv(action, labels, annotations))


def argv(
    action: CommandAction, labels: Mapping[str, str], annotations: Mapping[str, str]
) -> list[str]:
    return [render(part, labels, annotations) for part in action.argv]


def depends_on(graph: Mapping[str, list[str]], service: str) -> dict[str, int]:
    """Every service ``service`` depends on, directly or not, with its distance."""
    found: dict[str, int] = {}
    frontier, distance = [service], 0
    while frontier:
        distance += 1
        nxt = []
        for s in frontier:
            for dep in graph.get(s, []):
                if dep not in found and dep != service:
                    found[dep] = distance
                    nxt.append(dep)
        frontier = nxt
    return found
