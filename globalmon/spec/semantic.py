"""Checks across the whole spec: unique ids, references that resolve, no dependency cycles.

They run once the spec is structurally valid, and report every problem they find.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from pydantic import BaseModel

from globalmon.conventions import (
    ALERTS_BY_NAME,
    OWN_JOBS,
    RESERVED_EXTERNAL_LABELS,
    Scope,
    alerts_in_scope,
)
from globalmon.spec.alerting import AlertOverrides
from globalmon.spec.model import Spec
from globalmon.spec.paths import Path, format_path
from globalmon.spec.pydantic_errors import Located, one_of, suggest
from globalmon.spec.types import Labels, duration_seconds


def _unique(items: Iterable[tuple[Path, str]], what: str) -> list[Located]:
    first: dict[str, Path] = {}
    out = []
    for path, value in items:
        if value in first:
            out.append(
                Located(
                    path,
                    f'"{value}" again',
                    f"a unique {what} (first at {format_path(first[value])})",
                )
            )
        else:
            first[value] = path
    return out


def _reference(path: Path, value: str, known: Sequence[str], what: str) -> Located | None:
    if value in known:
        return None
    hint = suggest(value, known)
    if hint:
        expected = f'a defined {what} such as "{hint}" (did you mean it?)'
    elif known:
        expected = f"a defined {what}: {one_of(sorted(known))}"
    else:
        expected = f"a defined {what}, but the spec defines none"
    return Located(path, f'unknown {what} "{value}"', expected)


def _unique_ids(spec: Spec) -> list[Located]:
    out = _unique(((("regions", i, "id"), r.id) for i, r in enumerate(spec.regions)), "region id")
    out += _unique(
        (
            (("regions", i, "agents", j, "id"), a.id)
            for i, r in enumerate(spec.regions)
            for j, a in enumerate(r.agents)
        ),
        "agent id across all regions",
    )
    for i, r in enumerate(spec.regions):
        for j, a in enumerate(r.agents):
            base: Path = ("regions", i, "agents", j)
            out += _unique(
                (((*base, "probes", k, "name"), p.name) for k, p in enumerate(a.probes)),
                "probe name within the agent",
            )
            out += _unique(
                (((*base, "processes", k, "name"), p.name) for k, p in enumerate(a.processes)),
                "process group name within the agent",
            )
    out += _unique(
        ((("services", i, "name"), s.name) for i, s in enumerate(spec.services)), "service name"
    )
    for i, s in enumerate(spec.services):
        out += _unique(
            ((("services", i, "slos", k, "name"), o.name) for k, o in enumerate(s.slos)),
            "SLO name within the service",
        )
    for key, what, items in (
        ("plugins", "plugin id", [p.id for p in spec.plugins]),
        ("forecasts", "forecast name", [f.name for f in spec.forecasts]),
        ("receivers", "receiver name", [r.name for r in spec.receivers]),
        ("escalation_policies", "policy name", [p.name for p in spec.escalation_policies]),
        ("recovery_actions", "action name", [a.name for a in spec.recovery_actions]),
    ):
        field = "id" if key == "plugins" else "name"
        out += _unique((((key, i, field), v) for i, v in enumerate(items)), what)
    for i, f in enumerate(spec.forecasts):
        out += _unique(
            ((("forecasts", i, "horizons", k), h) for k, h in enumerate(f.horizons)),
            "horizon within the forecast",
        )
    tokens: Path = ("global", "credentials", "webhook_tokens")
    named = spec.global_.credentials.webhook_tokens
    out += _unique((((*tokens, i, "name"), t.name) for i, t in enumerate(named)), "token name")
    out += _unique(
        (((*tokens, i, "sha256"), t.sha256.lower()) for i, t in enumerate(named) if t.sha256),
        "token (two names would share one credential)",
    )
    if named and spec.global_.credentials.alertmanager_secret() is None:
        out.append(
            Located(
                tokens,
                "no credential Alertmanager can send",
                "webhook_token, or a sender (or admin) with a secret: the generated "
                "Alertmanager config reads its token, a sha256 cannot be sent",
            )
        )
    return out


def _references(spec: Spec) -> list[Located]:
    regions = [r.id for r in spec.regions]
    services = [s.name for s in spec.services]
    receivers = [r.name for r in spec.receivers]
    policies = [p.name for p in spec.escalation_policies]
    found: list[Located | None] = []
    for i, s in enumerate(spec.services):
        for k, rid in enumerate(s.regions or []):
            found.append(_reference(("services", i, "regions", k), rid, regions, "region"))
        for k, dep in enumerate(s.depends_on):
            found.append(_reference(("services", i, "depends_on", k), dep, services, "service"))
    for i, p in enumerate(spec.plugins):
        for k, rid in enumerate(p.regions or []):
            found.append(_reference(("plugins", i, "regions", k), rid, regions, "region"))
    for i, pol in enumerate(spec.escalation_policies):
        for j, step in enumerate(pol.steps):
            for k, name in enumerate(step.notify):
                path: Path = ("escalation_policies", i, "steps", j, "notify", k)
                found.append(_reference(path, name, receivers, "receiver"))
    for k, name in enumerate(spec.global_.meta_receivers or []):
        path = ("global", "meta_receivers", k)
        found.append(_reference(path, name, receivers, "receiver"))
    policy_refs: list[tuple[Path, str | None]] = [
        (("global", "escalation_policy"), spec.global_.escalation_policy)
    ]
    policy_refs += [
        (("regions", i, "escalation_policy"), r.escalation_policy)
        for i, r in enumerate(spec.regions)
    ]
    policy_refs += [
        (("services", i, "escalation_policy"), s.escalation_policy)
        for i, s in enumerate(spec.services)
    ]
    policy_refs += [
        (("plugins", i, "escalation_policy"), p.escalation_policy)
        for i, p in enumerate(spec.plugins)
    ]
    for path, policy in policy_refs:
        if policy is not None:
            found.append(_reference(path, policy, policies, "escalation policy"))
    return [f for f in found if f is not None]


def _cycles(spec: Spec) -> list[Located]:
    """Each dependency cycle once, reported at the edge that closes it."""
    index = {s.name: i for i, s in enumerate(spec.services)}
    state: dict[str, int] = {}  # 1 = on the current path, 2 = done
    stack: list[str] = []
    out: list[Located] = []

    def visit(name: str) -> None:
        state[name] = 1
        stack.append(name)
        for k, dep in enumerate(spec.services[index[name]].depends_on):
            if dep not in index:
                continue
            if state.get(dep) == 1:
                cycle = [*stack[stack.index(dep) :], dep]
                out.append(
                    Located(
                        ("services", index[name], "depends_on", k),
                        "the dependency cycle " + " -> ".join(cycle),
                        "depends_on to form no cycle",
                    )
                )
            elif dep not in state:
                visit(dep)
        stack.pop()
        state[name] = 2

    for s in spec.services:
        if s.name not in state:
            visit(s.name)
    return out


def _alert_names(
    path: Path, overrides: AlertOverrides, allowed: Sequence[str], where: str
) -> list[Located]:
    out = []
    for name in overrides:
        if name in allowed:
            continue
        hint = suggest(name, allowed)
        if hint:
            expected = f'an alert of {where} such as "{hint}" (did you mean it?)'
        elif name in ALERTS_BY_NAME:
            expected = f"an alert of {where}: {', '.join(allowed)}"
        else:
            expected = f"a built-in alert of {where} (see docs/spec.md#alerts)"
        out.append(Located((*path, name), f'the alert "{name}"', expected, at_key=True))
    return out


def _alerts(spec: Spec) -> list[Located]:
    every = tuple(ALERTS_BY_NAME)
    service = alerts_in_scope(Scope.SERVICE)
    plugin = alerts_in_scope(Scope.PLUGIN)
    out = _alert_names(("defaults", "alerts"), spec.defaults.alerts, every, "the catalogue")
    for i, r in enumerate(spec.regions):
        out += _alert_names(("regions", i, "alerts"), r.alerts, every, "the catalogue")
    for i, s in enumerate(spec.services):
        out += _alert_names(("services", i, "alerts"), s.alerts, service, "services")
    for i, p in enumerate(spec.plugins):
        out += _alert_names(("plugins", i, "alerts"), p.alerts, plugin, "plugins")
    return out


def _levels(failed: float, degraded: float) -> str:
    return f"region_failed_below {failed:g} and region_degraded_below {degraded:g}"


def _region_levels(spec: Spec) -> list[Located]:
    base = spec.defaults.thresholds
    expected = "region_failed_below lower than region_degraded_below"
    if base.region_failed_below >= base.region_degraded_below:
        path: Path = ("defaults", "thresholds", "region_failed_below")
        found = _levels(base.region_failed_below, base.region_degraded_below)
        return [Located(path, found, expected)]
    out = []
    for i, r in enumerate(spec.regions):
        own = r.thresholds
        failed, degraded = own.region_failed_below, own.region_degraded_below
        f = base.region_failed_below if failed is None else failed
        d = base.region_degraded_below if degraded is None else degraded
        if f >= d:
            key = "region_failed_below" if failed is not None else "region_degraded_below"
            out.append(Located(("regions", i, "thresholds", key), _levels(f, d), expected))
    return out


def _positive_thresholds(spec: Spec) -> list[Located]:
    """Levels at which an alert could never fire, or always would: refuse them and point at
    `enabled: false`, which says what is meant."""
    layers: list[tuple[Path, BaseModel]] = [(("defaults", "thresholds"), spec.defaults.thresholds)]
    layers += [(("regions", i, "thresholds"), r.thresholds) for i, r in enumerate(spec.regions)]
    layers += [(("services", i, "thresholds"), x.thresholds) for i, x in enumerate(spec.services)]
    layers += [(("plugins", i, "thresholds"), p.thresholds) for i, p in enumerate(spec.plugins)]
    out = []
    for path, layer in layers:
        response_time = getattr(layer, "response_time", None)
        if response_time is not None and duration_seconds(response_time) == 0:
            out.append(
                Located(
                    (*path, "response_time"),
                    f'"{response_time}"',
                    "a duration above 0s (disable the alerts to turn them off)",
                )
            )
        if getattr(layer, "region_failed_below", None) == 0:
            out.append(
                Located(
                    (*path, "region_failed_below"),
                    "0",
                    "a ratio above 0 (disable RegionFailed to turn it off)",
                )
            )
    return out


def _labels(spec: Spec) -> list[Located]:
    out = []
    places: list[tuple[Path, Labels]] = [
        (("global", "external_labels"), spec.global_.external_labels)
    ]
    places += [
        (("regions", i, "external_labels"), r.external_labels) for i, r in enumerate(spec.regions)
    ]
    for path, labels in places:
        for name in labels:
            if name in RESERVED_EXTERNAL_LABELS:
                out.append(
                    Located(
                        (*path, name),
                        f'the reserved label "{name}"',
                        "another name: globalmon sets "
                        + ", ".join(sorted(RESERVED_EXTERNAL_LABELS)),
                        at_key=True,
                    )
                )
    return out


def _escalations(spec: Spec) -> list[Located]:
    out = []
    for i, pol in enumerate(spec.escalation_policies):
        last = -1.0
        for j, step in enumerate(pol.steps):
            path: Path = ("escalation_policies", i, "steps", j)
            if step.after is not None:
                after = duration_seconds(step.after)
                if after < last:
                    out.append(
                        Located(
                            (*path, "after"),
                            f'"{step.after}" after a later step',
                            "steps in order of their delay",
                        )
                    )
                last = after
            if step.when != "always" and pol.business_hours is None:
                out.append(
                    Located((*path, "when"), f'"{step.when}"', "business_hours set on the policy")
                )
    return out


def _scrapes(spec: Spec) -> list[Located]:
    """A scraped service names known regions it runs in, has targets in each, and its job
    name is not one of globalmon's own."""
    regions = [r.id for r in spec.regions]
    out: list[Located | None] = []
    for i, s in enumerate(spec.services):
        if s.scrape is None:
            if s.profile == "fast":  # its seconds-long windows need its own 1 s scrape
                where = "scrape set: the fast profile's rules read the service's own job"
                out.append(Located(("services", i, "profile"), '"fast" without scrape', where))
            continue
        runs_in = [r for r in regions if s.regions is None or r in s.regions]
        for rid in s.scrape.regions:
            path: Path = ("services", i, "scrape", "regions", rid)
            if rid in regions and rid not in runs_in:
                where = f"a region the service runs in: {one_of(runs_in)}"
                out.append(Located(path, f'region "{rid}", where the service does not run', where))
            else:
                out.append(_reference(path, rid, regions, "region"))
        for rid in runs_in:
            if s.scrape.targets_in(rid) is None:
                out.append(
                    Located(
                        ("services", i, "scrape"),
                        f"no targets in region {rid}",
                        f"targets for every region the service runs in (scrape.regions.{rid}"
                        ", or static, file_sd, dns, kubernetes or consul for all)",
                    )
                )
        if s.name in OWN_JOBS:
            out.append(
                Located(
                    ("services", i, "name"),
                    f'"{s.name}", the job name of globalmon\'s own {s.name} scrape',
                    f"a service name other than {one_of(sorted(OWN_JOBS))} when it is scraped",
                )
            )
    return [f for f in out if f is not None]


def _retention(spec: Spec) -> list[Located]:
    """An explicit retention keeps what the SLO rules and the forecasts read."""
    kept = spec.global_.retention
    if kept is None:
        return []
    needed = spec.retention_needed()
    if needed is None or duration_seconds(kept) >= needed[0]:
        return []
    floor, why = needed
    return [
        Located(
            ("global", "retention"),
            f'"{kept}"',
            f"at least {floor / 86400:g}d, {why}",
        )
    ]


def _forecast_ranges(spec: Spec) -> list[Located]:
    """A forecast's min_value lies below its max_value."""
    out = []
    for i, f in enumerate(spec.forecasts):
        if f.min_value is not None and f.max_value is not None and f.min_value >= f.max_value:
            out.append(
                Located(
                    ("forecasts", i, "max_value"),
                    f"{f.max_value:g} (min_value is {f.min_value:g})",
                    "a number above min_value",
                )
            )
    return out


# A season is found, and its models fitted, only in a history of two of them at least.
SEASON_SECONDS = {"daily": 86400.0, "weekly": 7 * 86400.0}


def _forecast_seasons(spec: Spec) -> list[Located]:
    """A forecast that asks for a daily or weekly season reads two of them: with less the
    sidecar could only ignore it (a weekly season in the default 7 days of history)."""
    out = []
    for i, f in enumerate(spec.forecasts):
        season = SEASON_SECONDS.get(f.seasonality)
        if season is not None and duration_seconds(f.history) < 2 * season:
            out.append(
                Located(
                    ("forecasts", i, "history"),
                    f'"{f.history}" (seasonality {f.seasonality})',
                    f"at least {2 * season / 86400:g}d: two seasons, or seasonality auto",
                )
            )
    return out


def check(spec: Spec) -> list[Located]:
    """Every cross-reference problem in a structurally valid spec."""
    return [
        *_unique_ids(spec),
        *_references(spec),
        *_cycles(spec),
        *_alerts(spec),
        *_region_levels(spec),
        *_positive_thresholds(spec),
        *_labels(spec),
        *_escalations(spec),
        *_scrapes(spec),
        *_retention(spec),
        *_forecast_ranges(spec),
        *_forecast_seasons(spec),
    ]
