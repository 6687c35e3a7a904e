"""How long `load_spec` takes on a large spec, against parsing the same YAML alone.

The spec has 50 regions x 10 agents and 200 services with dependencies and SLOs. Baselines from
the same run: `yaml.safe_load` (what a naive loader pays before any checking) and libyaml's
parser alone (the floor). Medians of repeated runs; ratios are what to compare across machines.

    python -m bench.spec_load [--regions 50] [--services 200] [--repeat 15]
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable
from typing import Any

import yaml

from globalmon.spec import load_spec_text


def build_spec(regions: int, services: int) -> str:
    data: dict[str, Any] = {
        "version": "v1",
        "regions": [
            {
                "id": f"region-{r}",
                "name": f"Region {r}",
                "prometheus_urls": [f"http://prometheus-{r}:9090"],
                "agents": [
                    {
                        "id": f"r{r}-agent-{a}",
                        "type": ["system", "application", "database", "network"][a % 4],
                        "address": f"10.{r}.0.{a + 1}:9464",
                        "probes": [
                            {"type": "tcp", "name": "port", "address": f"10.{r}.0.{a + 1}:80"}
                        ],
                    }
                    for a in range(10)
                ],
            }
            for r in range(regions)
        ],
        "services": [
            {
                "name": f"svc-{s}",
                "depends_on": [f"svc-{d}" for d in (s + 1, s + 7) if d < services],
                "slos": [
                    {"name": "availability", "objective": 99.9, "sli": {"kind": "availability"}}
                ],
            }
            for s in range(services)
        ],
    }
    text: str = yaml.dump(data, Dumper=yaml.CSafeDumper, sort_keys=False)
    return text


def median_seconds(fn: Callable[[], object], repeat: int) -> float:
    fn()  # warm up
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--regions", type=int, default=50)
    parser.add_argument("--services", type=int, default=200)
    parser.add_argument("--repeat", type=int, default=15)
    args = parser.parse_args()
    text = build_spec(args.regions, args.services)
    spec = load_spec_text(text)
    agents = sum(1 for _ in spec.agents())
    print(
        f"spec: {len(text) / 1024:.0f} KiB, {len(spec.regions)} regions, {agents} agents, "
        f"{len(spec.services)} services (median of {args.repeat} runs)"
    )
    rows = [
        ("libyaml parse only (floor)", lambda: yaml.load(text, Loader=yaml.CSafeLoader)),
        ("yaml.safe_load (naive loader)", lambda: yaml.safe_load(text)),
        ("globalmon load_spec_text", lambda: load_spec_text(text)),
    ]
    results = [(name, median_seconds(fn, args.repeat)) for name, fn in rows]
    ours = results[-1][1]
    for name, seconds in results:
        print(f"  {name:32s} {seconds * 1000:8.1f} ms   ours/this = {ours / seconds:5.2f}x")


if __name__ == "__main__":
    main()
