"""Generator benchmark: generation time and output size at scale, and rule evaluation cost.

1. `generate` for a spec of 50 regions x 200 services (each with an SLO): seconds, files, bytes
   and rules, beside `load_spec` of the same spec (the baseline of the same run).
2. The example spec's us-east-1 rules evaluated by a real Prometheus over synthetic history:
   the per-cycle evaluation time Prometheus reports (/api/v1/rules evaluationTime, the same
   number as prometheus_rule_group_last_duration_seconds), beside a one-rule group in the same
   Prometheus, and as a share of the production evaluation interval.

    python -m bench.generator [--regions 50] [--services 200] [--samples 20]
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml

from bench.spec_load import build_spec, median_seconds
from globalmon.spec import load_spec, load_spec_text
from globalmon.spec.types import duration_seconds
from local_stack import servers
from rules_generator.fixtures import openmetrics
from rules_generator.generate import generate

REPO = Path(__file__).resolve().parent.parent
TRIVIAL = "globalmon.bench.trivial"


def bench_generation(regions: int, services: int, repeat: int) -> None:
    text = build_spec(regions, services)
    spec = load_spec_text(text)
    load = median_seconds(lambda: load_spec_text(text), repeat)
    files: dict[str, str] = {}

    def run() -> None:
        files.update(generate(spec, "bench.yaml"))

    gen = median_seconds(run, repeat)
    size = sum(len(t.encode()) for t in files.values())
    rules = sum(
        t.count("\n  - record: ") + t.count("\n  - alert: ")
        for p, t in files.items()
        if p.endswith(".rules.yml")
    )
    tests = sum(t.count("\n- name: ") for p, t in files.items() if p.endswith(".test.yml"))
    print(f"generation: {regions} regions x {services} services (median of {repeat})")
    print(f"  load_spec (baseline)   {load:8.2f} s")
    print(f"  generate               {gen:8.2f} s   = {gen / load:6.0f}x load_spec")
    print(
        f"  output                 {len(files)} files, {size / 1e6:.1f} MB, {rules} rules, "
        f"{tests} promtool test cases; {gen / max(rules, 1) * 1e6:.0f} us per rule"
    )


def _group_times(url: str) -> dict[str, float]:
    data = servers.get_json(url + "/api/v1/rules")
    return {g["name"]: float(g["evaluationTime"]) for g in data["data"]["groups"]}


def bench_evaluation(samples: int) -> None:
    prometheus = servers.find_binary(servers.PROMETHEUS_NAMES)
    promtool = servers.find_binary(servers.PROMTOOL_NAMES)
    if not prometheus or not promtool:
        print("rule evaluation: skipped (prometheus/promtool not on PATH; run make setup)")
        return
    spec = load_spec(REPO / "examples" / "regions.yaml")
    region = spec.regions[0]
    rules = REPO / "examples" / "_gen" / "regions" / "rules" / f"{region.id}.rules.yml"
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        (work / "h.om").write_text(openmetrics(spec, region, end=time.time()))
        subprocess.run(
            [
                promtool,
                "tsdb",
                "create-blocks-from",
                "openmetrics",
                str(work / "h.om"),
                str(work / "data"),
            ],
            check=True,
            capture_output=True,
        )
        trivial = work / "trivial.rules.yml"
        trivial.write_text(
            yaml.safe_dump(
                {
                    "groups": [
                        {
                            "name": TRIVIAL,
                            "rules": [{"record": "bench:one:value", "expr": "vector(1)"}],
                        }
                    ]
                }
            )
        )
        config = work / "prometheus.yml"
        config.write_text(
            yaml.safe_dump(
                {"global": {"evaluation_interval": "1s"}, "rule_files": [str(rules), str(trivial)]}
            )
        )
        server = servers.prometheus(prometheus, config, work).start()
        try:
            server.wait_ready()
            totals: list[float] = []
            baseline: list[float] = []
            last: dict[str, float] = {}
            deadline = time.monotonic() + samples * 3 + 30
            while len(totals) < samples and time.monotonic() < deadline:
                times = _group_times(server.url)
                if times != last and all(v > 0 for v in times.values()):
                    totals.append(sum(v for k, v in times.items() if k != TRIVIAL))
                    baseline.append(times[TRIVIAL])
                    last = times
                time.sleep(1.0)  # one evaluation cycle; this is a benchmark, not a test
        finally:
            server.stop()
    interval = duration_seconds(spec.global_.evaluation_interval)
    groups = len(last) - 1
    total, base = statistics.median(totals), statistics.median(baseline)
    print(
        f"rule evaluation: {rules.name}, {groups} groups, real Prometheus "
        f"(median of {len(totals)} cycles)"
    )
    print(f"  one-rule group (baseline)  {base * 1000:8.3f} ms")
    print(
        f"  all groups, per cycle      {total * 1000:8.3f} ms   = {total / base:6.0f}x baseline, "
        f"{total / interval:.2%} of the {spec.global_.evaluation_interval} interval"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--regions", type=int, default=50)
    parser.add_argument("--services", type=int, default=200)
    parser.add_argument("--repeat", type=int, default=1, help="generation runs (median)")
    parser.add_argument("--samples", type=int, default=20, help="evaluation cycles sampled")
    args = parser.parse_args()
    bench_generation(args.regions, args.services, args.repeat)
    sys.stdout.flush()
    bench_evaluation(args.samples)


if __name__ == "__main__":
    main()
