"""What the webhook takes from the spec: policies and their schedules, receivers, actions, the
service graph. Built once at start; pure lookups after that."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from alert_webhook import policy as p
from alert_webhook.matching import depends_on, matches
from globalmon.spec import Spec
from globalmon.spec.notify import EscalationPolicy, Receiver
from globalmon.spec.recovery import RecoveryAction
from globalmon.spec.types import duration_seconds


@dataclass
class Rules:
    spec: Spec
    policies: dict[str, EscalationPolicy] = field(init=False)
    schedules: dict[str, list[p.Entry]] = field(init=False)
    receivers: dict[str, Receiver] = field(init=False)
    actions: dict[str, RecoveryAction] = field(init=False)
    graph: dict[str, list[str]] = field(init=False)
    _policy_cache: dict[tuple[str | None, ...], str | None] = field(
        init=False, default_factory=dict
    )
    _known: tuple[set[str], set[str], set[str]] = field(init=False)

    def __post_init__(self) -> None:
        spec = self.spec
        escalate_after = duration_seconds(spec.defaults.thresholds.escalate_after)
        self.policies = {x.name: x for x in spec.escalation_policies}
        self.schedules = {n: p.schedule(x, escalate_after) for n, x in self.policies.items()}
        self.receivers = {r.name: r for r in spec.receivers}
        self.actions = {a.name: a for a in spec.recovery_actions}
        self.graph = {s.name: list(s.depends_on) for s in spec.services}
        self._known = (
            {s.name for s in spec.services},
            {x.id for x in spec.plugins},
            {r.id for r in spec.regions},
        )

    def policy_for(self, labels: Mapping[str, str]) -> str | None:
        # only names the spec knows count, so the cache stays bounded whatever labels arrive
        services, plugins, regions = self._known
        service, plugin, region = labels.get("service"), labels.get("plugin"), labels.get("region")
        key = (
            service if service in services else None,
            plugin if plugin in plugins else None,
            region if region in regions else None,
        )
        try:
            return self._policy_cache[key]
        except KeyError:
            known = dict(zip(("service", "plugin", "region"), key, strict=True))
            found = p.policy_for(self.spec, {k: v for k, v in known.items() if v})
            self._policy_cache[key] = found
            return found

    def matching_actions(self, labels: Mapping[str, str], status: str) -> list[RecoveryAction]:
        return [a for a in self.actions.values() if status in a.run_on and matches(a, labels)]

    def upstream(self, service: str) -> dict[str, int]:
        """Services ``service`` depends on, with their distance in the graph."""
        return depends_on(self.graph, service) if service in self.graph else {}

    def prometheus_for(self, region: str | None) -> str | None:
        """Where PromQL pre- and post-checks of an alert in ``region`` run."""
        for r in self.spec.regions:
            if r.id == region and r.prometheus_urls:
                return r.prometheus_urls[0]
        view = self.spec.global_.global_view
        if view is not None:
            return view.url
        first = self.spec.regions[0]
        return first.prometheus_urls[0] if first.prometheus_urls else None
