"""Where the console's data lives, from the spec: the webhook, each region's Prometheus and
plugin exporter, the global view. The page's own picture of the spec comes from here too."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from globalmon.spec.model import Spec


@dataclass(frozen=True)
class RegionBackends:
    prometheus: str | None
    plugin_exporter: str | None  # base URL


@dataclass(frozen=True)
class ConsoleConfig:
    webhook: str
    regions: dict[str, RegionBackends]
    global_prometheus: str | None
    overview: dict[str, Any] = field(default_factory=dict)
    scrape_interval_seconds: float = 15.0
    timeout_seconds: float = 10.0
    max_body_bytes: int = 64 * 1024

    @classmethod
    def from_spec(cls, spec: Spec) -> ConsoleConfig:
        from globalmon.spec.types import duration_seconds

        regions = {
            r.id: RegionBackends(
                prometheus=r.prometheus_urls[0].rstrip("/") if r.prometheus_urls else None,
                plugin_exporter=(
                    f"http://{r.endpoints.plugin_exporter}" if r.endpoints.plugin_exporter else None
                ),
            )
            for r in spec.regions
        }
        view = spec.global_.global_view
        return cls(
            webhook=spec.global_.webhook_url.rstrip("/"),
            regions=regions,
            global_prometheus=view.url.rstrip("/") if view else None,
            overview=overview(spec),
            scrape_interval_seconds=duration_seconds(spec.global_.scrape_interval),
        )


def overview(spec: Spec) -> dict[str, Any]:
    """What the page shows before asking any backend: regions with their agents, services and
    plugins, and the forecast targets with their limits."""
    ids = [r.id for r in spec.regions]

    def where(regions: list[str] | None) -> list[str]:
        return list(regions) if regions is not None else ids

    return {
        "regions": [
            {
                "id": r.id,
                "name": r.name,
                "agents": [{"id": a.id, "type": str(a.type)} for a in r.agents],
                "services": [s.name for s in spec.services if r.id in where(s.regions)],
                "plugins": [
                    p.id
                    for p in spec.plugins
                    if r.id in where(p.regions) and r.endpoints.plugin_exporter
                ],
                "prometheus": bool(r.prometheus_urls),
            }
            for r in spec.regions
        ],
        "services": [
            {"name": s.name, "depends_on": list(s.depends_on), "regions": where(s.regions)}
            for s in spec.services
        ],
        "plugins": [
            {
                "id": p.id,
                "owner": p.owner,
                "description": p.description,
                "regions": where(p.regions),
            }
            for p in spec.plugins
        ],
        "forecasts": [
            {"name": f.name, "limit": f.limit, "horizons": list(f.horizons)} for f in spec.forecasts
        ],
        "global_view": spec.global_.global_view is not None,
    }
