"""The benchmarks still run (on tiny inputs; no timing is asserted here)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from bench import spec_load
from globalmon.spec import load_spec_text

REPO = Path(__file__).resolve().parent.parent.parent


def test_bench_spec_is_valid_at_any_size() -> None:
    spec = load_spec_text(spec_load.build_spec(regions=3, services=9))
    assert len(spec.regions) == 3
    assert sum(1 for _ in spec.agents()) == 30
    assert spec.services[0].depends_on == ["svc-1", "svc-7"]


@pytest.mark.parametrize(
    ("module", "args", "expect"),
    [
        (
            "bench.spec_load",
            ["--regions", "2", "--services", "4", "--repeat", "1"],
            "globalmon load_spec_text",
        ),
        ("bench.generator", ["--regions", "2", "--services", "3", "--samples", "2"], "generate "),
        ("bench.durable_writes", ["--writes", "200", "--concurrency", "5"], "group commit /"),
        (
            "bench.input_checks",
            ["--agents", "50", "--rows", "200", "--repeat", "1"],
            "registry http_sd, 50 agents: checked",
        ),
        ("bench.plugin_scrape", ["--plugins", "20", "--runs", "2"], "ours, all changed"),
        (
            "bench.plugin_ingest",
            ["--plugins", "20", "--requests", "60", "--rounds", "1", "--concurrency", "4"],
            "p99 shift while scraped",
        ),
        ("bench.detector_classes", ["--seeds", "1", "--steps", "3600"], "stuck value"),
        (
            "bench.detector_classes",
            ["--seeds", "1", "--steps", "3600", "--offset", "1000"],
            "moved up by 1000",
        ),
        ("bench.sidecar_speed", ["--series", "5", "--runs", "1", "--shard", "0/2"], "as shard 0/2"),
        ("bench.sidecar_speed", ["--series", "5", "--runs", "1", "--days", "8"], "8-day target"),
        (
            "bench.webhook_ingest",
            [
                "--seconds",
                "1",
                "--warmup",
                "1",
                "--rounds",
                "1",
                "--storm",
                "100",
                "--concurrency",
                "4",
            ],
            "one POST of 100 alerts",
        ),
    ],
)
def test_bench_module_runs(module: str, args: list[str], expect: str) -> None:
    result = subprocess.run(
        [sys.executable, "-m", module, *args],
        cwd=REPO,
        capture_output=True,
        text=True,
        check=False,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr
    assert expect in result.stdout
