"""End-to-end latency on the local stack: breach -> webhook and breach -> verified recovery.

A two-region stack (real Prometheus, Alertmanager pair, agents, plugin exporters, sidecar,
webhook, demo world) with the demo's fast settings and the alert's ``for`` set to 0 s, so the
floor is what the pipeline cannot go below: one scrape, one rule evaluation (the p95 recording
rule, then the alert rule: two), Alertmanager's group_wait. Each breach is the latency-spike
scenario: the service slows down, ServiceResponseTimeHigh fires, the webhook runs the recovery
action (an HTTP call that fixes the service), its post-check holds, the alert resolves. The
breaches run one after another; p50 and p99 over all of them.

    python -m bench.e2e_latency [--breaches 30]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
from pathlib import Path

from globalmon.spec.types import duration_seconds
from local_stack import demo, runner, scenarios, servers

SPEC = """
version: v1
global:
  alertmanager_urls: [http://127.0.0.1:{am0}, http://127.0.0.1:{am1}]
  webhook_url: http://127.0.0.1:{hook}
  escalation_policy: standard
regions:
  - id: eu-west-1
    name: EU
    prometheus_urls: ["http://127.0.0.1:{prom_eu}"]
    endpoints: {{plugin_exporter: "127.0.0.1:{pe_eu}"}}
    agents: [{{id: euw1-web-01, type: system, address: "127.0.0.1:{a_eu}"}}]
  - id: us-east-1
    name: US
    prometheus_urls: ["http://127.0.0.1:{prom_us}"]
    agents: [{{id: use1-web-01, type: system, address: "127.0.0.1:{a_us}"}}]
services:
  - {{name: api}}
receivers:
  - {{type: webhook, name: ops-hook, url: "http://127.0.0.1:1/hook"}}
escalation_policies:
  - name: standard
    steps: [{{after: 0s, notify: [ops-hook]}}]
recovery_actions:
  - name: restart-api
    type: docker_restart
    matchers: ['alertname="ServiceResponseTimeHigh"', 'service="api"']
    container: "api-{{{{ labels.region }}}}"
    verify:
      expr: >-
        histogram_quantile(0.95, sum by (le) (rate(
        globalmon_service_request_duration_seconds_bucket{{service="api"}}[1m]))) < 0.5
      within: 2m
"""
NAMES = ("am0", "am1", "hook", "prom_eu", "pe_eu", "a_eu", "prom_us", "a_us")


def _pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--breaches", type=int, default=30)
    args = parser.parse_args()

    # the bench's settings: the alert fires as soon as its condition holds; the action may run
    # again at once (each breach is a new incident)
    demo.FAST_FOR["ServiceResponseTimeHigh"] = "0s"
    demo.ACTION_COOLDOWN = "1s"
    with tempfile.TemporaryDirectory(prefix="globalmon-e2e-") as tmp:
        work = Path(tmp)
        ports = dict(zip(NAMES, servers.free_ports(len(NAMES)), strict=True))
        spec = work / "spec.yaml"
        spec.write_text(SPEC.format(**ports))
        root = work / "stack"
        print("starting the stack ...", flush=True)
        runner.up(spec, root, say=lambda _line: None, timeout=240)
        try:
            hook: list[float] = []
            verified: list[float] = []
            for i in range(args.breaches):
                t = scenarios.latency_spike(root, lambda _line: None)
                hook.append(t.at("webhook received"))
                verified.append(t.at("verified"))
                print(
                    f"  breach {i + 1:>2}/{args.breaches}: webhook +{hook[-1]:.2f} s, "
                    f"verified +{verified[-1]:.2f} s",
                    flush=True,
                )
        finally:
            runner.down(root, say=lambda _line: None)

    every = demo.SCRAPE_INTERVAL  # scrape and evaluation
    floor = 3 * duration_seconds(every) + duration_seconds(demo.WAITS.group_wait)
    print(
        f"\nfloor: scrape {every} + 2 evaluations of {every} (recording rule, alert rule) "
        f"+ group_wait {demo.WAITS.group_wait} = {floor:.1f} s"
    )
    # verified: the fixed service must show in the post-check's window, polled every interval
    window = 60 / demo.TIME_SCALE  # the example's verify window, 1m, on the demo's time scale
    check = floor + window + duration_seconds(demo.VERIFY_INTERVAL)
    print(
        f"verified floor: {floor:.1f} s + the post-check's window {window:.0f} s + its interval "
        f"{demo.VERIFY_INTERVAL} = {check:.1f} s"
    )
    print(f"{'':<28}{'p50':>8}{'p99':>8}{'floor':>8}{'p99 - floor':>14}")
    for name, values, low in (
        ("breach -> webhook", hook, floor),
        ("breach -> verified", verified, check),
    ):
        p50, p99 = statistics.median(values), _pct(values, 0.99)
        print(f"{name:<28}{p50:>7.2f}s{p99:>7.2f}s{low:>7.1f}s{p99 - low:>+13.2f}s")
    print(f"({len(hook)} breaches; target: breach -> webhook p99 at most floor + 0.5 s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
