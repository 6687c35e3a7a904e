"""Which rule steps run for which region, and the global rules."""

from __future__ import annotations

from globalmon import conventions as c
from globalmon.conventions import AlertName
from globalmon.spec import Spec
from globalmon.spec.timescale import scale_windows
from globalmon.spec.topology import Region
from globalmon.spec.types import duration_seconds, format_duration
from rules_generator.context import Place, sel
from rules_generator.model import Alert, Case, Group, Recording, Rule, Series
from rules_generator.rules.agents import agent_rules
from rules_generator.rules.common import agent_labels, minutes, steady
from rules_generator.rules.forecasts import forecast_rules
from rules_generator.rules.meta import meta_rules, notifications_failing, security_rules, watchdog
from rules_generator.rules.plugins import plugin_rules
from rules_generator.rules.regions import region_rules
from rules_generator.rules.services import service_rules
from rules_generator.rules.slos import slo_rules

# The `region` target label of what the global Prometheus scrapes itself.
GLOBAL_REGION = "global"


def scrapes_alertmanagers(spec: Spec, region: Region) -> bool:
    """The global Prometheus watches the Alertmanagers; without one, the first region does."""
    return spec.global_.global_view is None and region.id == spec.regions[0].id


def region_groups(spec: Spec, region: Region) -> list[Group]:
    place = Place(spec, region)
    groups = [*region_rules(place), *agent_rules(place), *security_rules(place)]
    groups += meta_rules(place, alertmanagers=scrapes_alertmanagers(spec, region))
    for service in spec.services:
        if service.regions is None or region.id in service.regions:
            here = Place(spec, region, service=service)
            red = service_rules(here)
            groups += (fast(red) if service.profile == "fast" else red) + slo_rules(here)
    for plugin in spec.plugins:
        if plugin.regions is None or region.id in plugin.regions:
            groups += plugin_rules(Place(spec, region, plugin=plugin))
    for forecast in spec.forecasts:
        groups += forecast_rules(place, forecast)
    return [g for g in groups if g.rules]


def fast(groups: list[Group]) -> list[Group]:
    """A fast service's RED groups: evaluated every FAST_SCRAPE_INTERVAL, windows, `for` and
    `keep_firing_for` FAST_TIME_FACTOR times shorter. Their promtool cases are written on a
    one-minute grid, which windows of seconds cannot read, so none are kept (bench/e2e_latency
    runs them for real)."""
    step = duration_seconds(c.FAST_SCRAPE_INTERVAL)

    def scaled(expr: str) -> str:
        return scale_windows(expr, c.FAST_TIME_FACTOR, 2 * step)

    def rule(r: Rule) -> Rule:
        if isinstance(r, Recording):
            return Recording(r.record, scaled(r.expr), r.labels)
        for_ = format_duration(max(step, duration_seconds(r.for_) / c.FAST_TIME_FACTOR))
        keep = duration_seconds(r.keep_firing_for)
        keep_for = format_duration(max(step, keep / c.FAST_TIME_FACTOR)) if keep else "0s"
        return Alert(r.name, scaled(r.expr), for_, r.labels, r.annotations, (), keep_for)

    return [Group(g.name, tuple(rule(r) for r in g.rules), c.FAST_SCRAPE_INTERVAL) for g in groups]


def global_groups(spec: Spec) -> list[Group]:
    """Rules of the global Prometheus: a region sending no data, and its own meta alerts."""
    rules: list[Alert] = []
    for region in spec.regions:
        place = Place(spec, region)
        when = minutes(place.setting(AlertName.REGION_NO_DATA)[2]) + 3
        up = sel("up", **agent_labels(region.id))
        # Every other region sends data, so only this region's rule may fire.
        others = tuple(
            Series(sel("up", **agent_labels(o.id)), steady(1, when + 2))
            for o in spec.regions
            if o.id != region.id
        )
        alert = place.alert(
            AlertName.REGION_NO_DATA,
            f"absent({sel('up', job=c.JOB_AGENT, region=region.id)})",
            summary=f"Region {region.id} sends no data",
            description=f"The global Prometheus has no agent series from {region.id}: "
            "federation or remote write from the region is broken.",
            dashboard=f"{c.DASH_OVERVIEW}",
            cases=(
                Case("fires", others, when, {"job": c.JOB_AGENT}, 1.0),
                Case("near miss", (*others, Series(up, steady(1, when + 2))), when),
            ),
        )
        if alert:
            rules.append(alert)
    together = regions_failed_together(Place(spec, None))
    if together:
        rules.append(together)
    groups = [Group(c.GROUP_REGIONS, tuple(rules))]
    if spec.global_.global_view is not None:
        place = Place(spec, None)
        groups += [g for g in _global_meta(place) if g.rules]
    return [g for g in groups if g.rules]


def regions_failed_together(place: Place) -> Alert | None:
    """Two or more regions failed at once: the cause is likely one they share (a provider, DNS,
    a change rolled out everywhere), not each region's own. Counted from the regions'
    RegionFailed alerts, which reach the global view with federation and remote write alike, so
    each region's own failed level and `for` hold. One series a region: HA pairs count once."""
    regions = [r.id for r in place.spec.regions]
    if len(regions) < 2:
        return None
    failed = sel("ALERTS", alertname=AlertName.REGION_FAILED, alertstate="firing")
    when = minutes(place.setting(AlertName.REGIONS_FAILED_TOGETHER)[2]) + 2
    a, b = regions[0], regions[1]

    def firing(region: str, replica: str = "a") -> Series:
        labels = {"alertname": AlertName.REGION_FAILED, "alertstate": "firing"}
        return Series(
            sel("ALERTS", **labels, region=region, severity="critical", replica=replica),
            steady(1, when + 2),
        )

    return place.alert(
        AlertName.REGIONS_FAILED_TOGETHER,
        f"count(count by (region) ({failed})) >= 2",
        summary="{{ $value | humanize }} regions have failed at once",
        description="RegionFailed fires in {{ $value | humanize }} regions at the same time: "
        "look for a cause they share (a cloud provider, DNS, a network path, a change rolled "
        "out to every region) before working on each region alone.",
        dashboard=c.DASH_OVERVIEW,
        cases=(
            Case("fires", (firing(a), firing(b)), when, {}, 2.0),
            # one region failed, seen from both Prometheus replicas: still one region
            Case("near miss", (firing(a), firing(a, "b")), when),
        ),
    )


def _global_meta(place: Place) -> list[Group]:
    alerts = [watchdog(place), notifications_failing(place, GLOBAL_REGION)]
    return [Group(c.GROUP_META, tuple(a for a in alerts if a))]
