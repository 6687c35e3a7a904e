"""Effective thresholds and alert overrides for one place in the spec, and the alert builder.

Precedence, most specific first: plugin or service, then region, then `defaults`, then the
catalogue in globalmon/conventions.py.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from functools import cached_property, lru_cache

from pydantic import BaseModel

from globalmon.conventions import ALERTS_BY_NAME
from globalmon.spec import Spec
from globalmon.spec.alerting import AlertOverrides, Thresholds
from globalmon.spec.services import Plugin, Service
from globalmon.spec.topology import Region
from globalmon.spec.types import duration_seconds, format_duration
from rules_generator.model import Alert, Case
from rules_generator.templating import render


def num(x: float) -> str:
    """A number as PromQL and people read it: 0.8, 14.4, 0.001, 604800."""
    return f"{round(x, 10):.10g}"


@lru_cache(maxsize=65_536)  # pure, and called with the same arguments many times per spec
def sel(metric: str, **labels: str) -> str:
    """``sel("up", job="a")`` -> ``up{job="a"}``; label values are escaped."""
    if not labels:
        return metric
    inner = ",".join([f'{k}="{_escape(v)}"' for k, v in labels.items()])
    return f"{metric}{{{inner}}}"


@lru_cache(maxsize=65_536)  # a fleet-sized spec escapes the same few values 350k times
def _escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


@dataclass(frozen=True)
class Place:
    """Where a rule applies: a region, and optionally one service or plugin in it."""

    spec: Spec
    region: Region | None = None
    service: Service | None = None
    plugin: Plugin | None = None

    @cached_property  # read by every rule of the place; the layers do not change meanwhile
    def thresholds(self) -> Thresholds:
        t = self.spec.defaults.thresholds
        layers: list[BaseModel | None] = [self.region.thresholds if self.region else None]
        layers.append(self.service.thresholds if self.service else None)
        layers.append(self.plugin.thresholds if self.plugin else None)
        for layer in layers:
            if layer is not None:
                t = t.model_copy(update=layer.model_dump(exclude_none=True))
        return t

    def _overrides(self) -> Sequence[AlertOverrides]:
        out: list[AlertOverrides] = [self.spec.defaults.alerts]
        out += [self.region.alerts] if self.region else []
        out += [self.service.alerts] if self.service else []
        out += [self.plugin.alerts] if self.plugin else []
        return out

    def setting(self, name: str) -> tuple[bool, str, str]:
        """(enabled, severity, for) of a catalogue alert here."""
        base = ALERTS_BY_NAME[name]
        enabled, severity, for_ = True, str(base.severity), base.for_
        for layer in self._overrides():
            o = layer.get(name)
            if o is None:
                continue
            enabled = o.enabled
            severity = o.severity or severity
            for_ = o.for_ or for_
        return enabled, severity, for_

    def keep_firing_for(self, name: str) -> str:
        """How long a catalogue alert keeps firing here after its condition clears: the most
        specific override, else the catalogue's intervals of the spec's scrape and evaluation."""
        for layer in reversed(self._overrides()):
            o = layer.get(name)
            if o is not None and o.keep_firing_for is not None:
                return o.keep_firing_for
        g = self.spec.global_
        every = duration_seconds(g.scrape_interval) + duration_seconds(g.evaluation_interval)
        return format_duration(ALERTS_BY_NAME[name].keep_firing_intervals * every)

    def scope_labels(self) -> dict[str, str]:
        labels = {"region": self.region.id} if self.region else {}
        if self.service:
            labels["service"] = self.service.name
        if self.plugin:
            labels["plugin"] = self.plugin.id
        return labels

    def alert(
        self,
        name: str,
        expr: str,
        *,
        summary: str,
        description: str,
        dashboard: str,
        cases: Sequence[Case],
        for_: str | None = None,
        extra_labels: dict[str, str] | None = None,
    ) -> Alert | None:
        """An alert with the spec's overrides applied, or None when it is disabled here.

        Every case's expected labels get the rule's labels added, and its expected annotations
        are rendered from the same templates promtool will render.
        """
        enabled, severity, default_for = self.setting(name)
        if not enabled:
            return None
        labels = {"severity": severity, **self.scope_labels(), **(extra_labels or {})}
        g = self.spec.global_
        annotations = {
            "summary": summary,
            "description": description,
            "runbook_url": f"{g.runbook_base_url.rstrip('/')}/{name}",
            "dashboard": f"{g.grafana_url.rstrip('/')}/d/{dashboard}",
        }
        full = tuple(
            c
            if c.labels is None
            else Case(c.name, c.series, c.eval_minutes, {**c.labels, **labels}, c.value)
            for c in cases
        )
        keep = self.keep_firing_for(name)
        return Alert(name, expr, for_ or default_for, labels, annotations, full, keep)


def expected_annotations(alert: Alert, case: Case) -> dict[str, str]:
    """The annotations promtool should see for a firing case."""
    assert case.labels is not None
    return {k: render(v, case.labels, case.value) for k, v in alert.annotations.items()}
