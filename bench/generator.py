"""Generator benchmark: generation time and output size at scale, and rule evaluation cost.

1. `globalmon generate` (with and without --no-tests) of a spec of 20 regions x 100 services
   (each with an SLO), beside `globalmon validate` of the same spec in the same run (the
   baseline): seconds, files, bytes, rules; and the generator's YAML writer beside PyYAML on the
   same documents.
2. The example spec's us-east-1 rules evaluated by a real Prometheus over synthetic history:
   the per-cycle evaluation time Prometheus reports (/api/v1/rules evaluationTime, the same
   number as prometheus_rule_group_last_duration_seconds), beside a one-rule group in the same
   Prometheus, and as a share of the production evaluation interval.

    python -m bench.generator [--regions 20] [--services 100] [--repeat 3] [--samples 20]
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
from rules_generator import yaml_out
from rules_generator.fixtures import openmetrics
from rules_generator.generate import generate

REPO = Path(__file__).resolve().parent.parent
TRIVIAL = "globalmon.bench.trivial"


def _command_seconds(argv: list[str], repeat: int) -> float:
    """Median wall time of a globalmon command, as CI runs it (a fresh process each time)."""
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        subprocess.run([sys.executable, "-m", "globalmon", *argv], check=True, capture_output=True)
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def bench_generation(regions: int, services: int, repeat: int) -> None:
    text = build_spec(regions, services)
    spec = load_spec_text(text)
    files = generate(spec, "bench.yaml")
    size = sum(len(t.encode()) for t in files.values())
    rules = sum(
        t.count("\n  - record: ") + t.count("\n  - alert: ")
        for p, t in files.items()
        if p.endswith(".rules.yml")
    )
    tests = sum(t.count("\n- name: ") for p, t in files.items() if p.endswith(".test.yml"))
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "fleet.yaml"
        path.write_text(text)
        validate = _command_seconds(["validate", str(path)], repeat)
        full = _command_seconds(["generate", str(path), "-o", f"{tmp}/a"], repeat)
        lean = _command_seconds(["generate", str(path), "-o", f"{tmp}/b", "--no-tests"], repeat)
    print(f"generation: {regions} regions x {services} services (commands, median of {repeat})")
    print(f"  globalmon validate (baseline)     {validate:7.2f} s")
    print(f"  globalmon generate                {full:7.2f} s   = {full / validate:5.1f}x validate")
    print(f"  globalmon generate --no-tests     {lean:7.2f} s   = {lean / validate:5.1f}x validate")
    print(
        f"  output                 {len(files)} files, {size / 1e6:.1f} MB, {rules} rules, "
        f"{tests} promtool test cases"
    )
    bench_emitter(files, repeat)


def bench_emitter(files: dict[str, str], repeat: int) -> None:
    """The generator's YAML writer against PyYAML (with libyaml's C emitter) on the same data."""
    docs = [yaml.load(t, Loader=yaml.CSafeLoader) for p, t in files.items() if p.endswith(".yml")]
    ours = median_seconds(lambda: [yaml_out.dump(d) for d in docs], repeat)
    ref = median_seconds(lambda: [yaml_out.pyyaml(d) for d in docs], repeat)
    print(
        f"  YAML of the output: PyYAML+libyaml (baseline) {ref:6.2f} s, ours {ours:6.2f} s"
        f" = {ours / ref:.2f}x"
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
    parser.add_argument("--regions", type=int, default=20)
    parser.add_argument("--services", type=int, default=100)
    parser.add_argument("--repeat", type=int, default=3, help="command runs (median)")
    parser.add_argument("--samples", type=int, default=20, help="evaluation cycles sampled")
    args = parser.parse_args()
    bench_generation(args.regions, args.services, args.repeat)
    sys.stdout.flush()
    bench_evaluation(args.samples)


if __name__ == "__main__":
    main()
