"""The live sidecar on a real Prometheus seeded with two days of history (promtool tsdb
create-blocks-from openmetrics): its gauges appear, Prometheus scrapes them back, and the
generated capacity and anomaly rules find exactly those series."""

from __future__ import annotations

import math
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from globalmon import conventions as c
from globalmon.spec import load_spec_text
from local_stack import servers
from rules_generator.generate import generate
from tests.exporters.promtool import check_metrics
from tests.exporters.waiting import query, until

pytestmark = pytest.mark.integration

REGION = "lab"
SPEC = f"""
version: v1
regions:
  - id: {REGION}
    name: Lab
    prometheus_urls: [http://127.0.0.1:9090]
    agents:
      - {{id: web-1, type: system, address: "127.0.0.1:9464"}}
    endpoints: {{sidecar: "127.0.0.1:9468"}}
forecasts:
  - name: disk
    expr: globalmon_host_disk_used_bytes / globalmon_host_disk_size_bytes
    horizons: [1h, 24h]
    history: 2d
    seasonality: none
    limit: 0.9
  - name: cpu
    expr: globalmon_host_cpu_usage_ratio
    horizons: [1h]
    history: 2d
    seasonality: daily
  - name: load
    expr: app_requests_in_flight
    horizons: [6h]
  - name: load-long
    expr: app_requests_in_flight
    horizons: [6h]
    history: 14d
  - name: broken
    expr: rate(globalmon_host_cpu_usage_ratio)
"""
SOURCE = {"job": c.JOB_AGENT, "instance": "127.0.0.1:9464", "region": REGION, "agent": "web-1"}


def _history(end: float) -> str:
    """Two days at one-minute steps: the disk fills towards 90% (it gets there in about 20 h),
    the CPU swings a little daily and jumps to 97% in its last 20 minutes."""
    labels = ",".join(f'{k}="{v}"' for k, v in SOURCE.items())
    disk = f'{labels},mountpoint="/"'
    lines = [
        "# TYPE globalmon_host_disk_used_bytes gauge",
        "# TYPE globalmon_host_disk_size_bytes gauge",
        "# TYPE globalmon_host_cpu_usage_ratio gauge",
    ]
    n = 2 * 24 * 60
    for i in range(n):
        t = int(end) - (n - i) * 60
        used = 100e9 * (0.5 + 0.3 * i / n)
        cpu = 0.2 + 0.02 * math.sin(2 * math.pi * t / 86400) + 0.005 * math.sin(i * 1.7)
        if i >= n - 20:
            cpu = 0.97
        lines.append(f"globalmon_host_disk_used_bytes{{{disk}}} {used} {t}")
        lines.append(f"globalmon_host_disk_size_bytes{{{disk}}} 100e9 {t}")
        lines.append(f"globalmon_host_cpu_usage_ratio{{{labels}}} {cpu} {t}")
    lines.insert(3, "# TYPE app_requests_in_flight gauge")
    # a week at 5 minutes of a daily swing, at its level now and at its peak 6 hours on
    days = 7 * 288
    for i in range(days):
        t = int(end) - (days - i) * 300
        load = 100 + 30 * math.sin(2 * math.pi * (t - end) / 86400) + 2 * math.sin(i * 1.3)
        lines.append(f"app_requests_in_flight{{{labels}}} {load} {t}")
    return "\n".join(lines) + "\n# EOF\n"


@pytest.fixture
def seeded(prometheus_bin: str, promtool_bin: str, tmp_path: Path) -> Iterator[dict[str, Any]]:
    (tmp_path / "spec.yaml").write_text(SPEC.split("  - name: broken")[0])
    spec = load_spec_text((tmp_path / "spec.yaml").read_text())
    rules = generate(spec, "spec.yaml")[f"rules/{REGION}.rules.yml"]
    (tmp_path / "rules.yml").write_text(rules)
    (tmp_path / "history.om").write_text(_history(time.time() - 60))
    subprocess.run(
        [promtool_bin, "tsdb", "create-blocks-from", "openmetrics",
         str(tmp_path / "history.om"), str(tmp_path / "data")],
        check=True, capture_output=True, timeout=120,
    )  # fmt: skip
    sidecar_port = servers.free_port()
    (tmp_path / "prometheus.yml").write_text(
        yaml.safe_dump(
            {
                "global": {"scrape_interval": "1s", "evaluation_interval": "1s"},
                "rule_files": [str(tmp_path / "rules.yml")],
                "scrape_configs": [
                    {
                        "job_name": c.JOB_SIDECAR,
                        "honor_labels": True,
                        "static_configs": [
                            {"targets": [f"127.0.0.1:{sidecar_port}"], "labels": {"region": REGION}}
                        ],
                    }
                ],
            }
        )
    )
    prom = servers.prometheus(prometheus_bin, tmp_path / "prometheus.yml", tmp_path).start()
    (tmp_path / "receiver").mkdir()
    (tmp_path / "receiver" / "prometheus.yml").write_text("global: {}\n")
    receiver = servers.prometheus(
        prometheus_bin,
        tmp_path / "receiver" / "prometheus.yml",
        tmp_path / "receiver",
        extra=["--web.enable-remote-write-receiver"],
    ).start()
    (tmp_path / "spec-with-broken.yaml").write_text(SPEC)
    sidecar = servers.Server(
        "sidecar",
        [sys.executable, "-m", "globalmon", "sidecar", "--spec",
         str(tmp_path / "spec-with-broken.yaml"), "--prometheus-url", prom.url,
         "--web.listen-address", f"127.0.0.1:{sidecar_port}", "--interval", "2s",
         "--remote-write-url", f"{receiver.url}/api/v1/write"],
        sidecar_port,
        tmp_path / "sidecar",
    )  # fmt: skip
    try:
        prom.wait_ready()
        receiver.wait_ready()
        sidecar.start().wait_ready(path="/-/healthy")
        yield {
            "prom": prom,
            "receiver": receiver,
            "sidecar": sidecar,
            "rules": yaml.safe_load(rules),
        }
    finally:
        sidecar.stop()
        receiver.stop()
        prom.stop()


async def test_the_sidecar_serves_what_the_generated_rules_query(
    seeded: dict[str, Any], promtool_bin: str
) -> None:
    prom, sidecar = seeded["prom"], seeded["sidecar"]
    own = f'target="disk",region="{REGION}",instance="127.0.0.1:9464",mountpoint="/"'
    # scraped back with the source labels kept (honor_labels) plus target, horizon and bound
    bands = await until(
        "forecast bands", lambda: query(prom.url, f'{c.FORECAST.name}{{{own},horizon="24h"}}')
    )
    by_bound = {b["metric"]["bound"]: float(b["value"][1]) for b in bands}
    assert set(by_bound) == {"yhat", "yhat_lower", "yhat_upper", "yhat_lower_80", "yhat_upper_80"}
    # the 80% band inside the 95% one, the forecast inside both
    assert by_bound["yhat_lower"] <= by_bound["yhat_lower_80"] <= by_bound["yhat"]
    assert by_bound["yhat"] <= by_bound["yhat_upper_80"] <= by_bound["yhat_upper"]
    assert by_bound["yhat"] == pytest.approx(0.95, abs=0.03)  # 0.8 now, rising 0.15 a day
    assert bands[0]["metric"]["job"] == c.JOB_AGENT  # the source's job, not the sidecar's
    [left] = await until(
        "time to exhaustion", lambda: query(prom.url, f"{c.CAPACITY_EXHAUSTION.name}{{{own}}}")
    )
    hours = float(left["value"][1]) / 3600
    assert 10 < hours < 30, hours  # linear: 0.1 to go at 0.15 a day is 16 h
    [direction] = query(prom.url, f"{c.TREND_DIRECTION.name}{{{own}}}")
    assert direction["value"][1] == "1"  # filling up is degrading
    cpu = f'target="cpu",region="{REGION}"'
    [flag] = await until(
        "the CPU anomaly", lambda: query(prom.url, f"{c.ANOMALY_FLAG.name}{{{cpu}}}")
    )
    assert flag["value"][1] == "1"
    # the generated capacity and anomaly alerts fire on the sidecar's series: the disk fills
    # within a day, the CPU jumped; the disk's anomaly rule finds its flag at 0
    groups = [g for g in seeded["rules"]["groups"] if g["name"].startswith(c.GROUP_CAPACITY)]
    rules = {
        (r["alert"], r["labels"]["target"]): r["expr"]
        for g in groups
        for r in g["rules"]
        if "alert" in r and "predict_linear" not in r["expr"]
    }
    assert set(rules) == {
        ("CapacityExhaustionSoon", "disk"),
        ("CapacityExhaustionImminent", "disk"),
        ("MetricAnomalous", "disk"),
        ("MetricAnomalous", "cpu"),
        ("MetricAnomalous", "load"),
        ("MetricAnomalous", "load-long"),
    }
    for key in (
        ("CapacityExhaustionSoon", "disk"),
        ("CapacityExhaustionImminent", "disk"),
        ("MetricAnomalous", "cpu"),
    ):
        await until(str(key), lambda e=rules[key]: query(prom.url, e))
    quiet = rules[("MetricAnomalous", "disk")].removesuffix(" == 1")
    [disk_flag] = query(prom.url, quiet)
    assert disk_flag["value"][1] == "0"
    # the bad target is named at start and the others run anyway
    await until(
        "the broken target reported",
        lambda: (
            "level=warn component=sidecar msg=\"Prometheus refuses a forecast's expr; "
            'skipped" forecast=broken' in sidecar.log()
        ),
    )
    # the daily swing is forecast: at its peak (130) 6 hours on, not at today's level (100), which
    # is what a step that does not divide a day gave (no season at all)
    load = f'{c.FORECAST.name}{{target="load",horizon="6h",bound="yhat"}}'
    [peak] = await until("the load's forecast", lambda: query(prom.url, load))
    assert float(peak["value"][1]) == pytest.approx(130, abs=8), peak
    # read over 14 days: at 10 minutes, from the week the series has (no made-up first week),
    # with the detector's own 5-minute read of its last week
    long = f'{c.FORECAST.name}{{target="load-long",horizon="6h",bound="yhat"}}'
    [peak] = await until("the 14-day load's forecast", lambda: query(prom.url, long))
    assert float(peak["value"][1]) == pytest.approx(130, abs=8), peak
    score = f'{c.ANOMALY_SCORE.name}{{target="load-long"}}'
    [calm] = await until("the 14-day load's score", lambda: query(prom.url, score))
    assert float(calm["value"][1]) < 2 / 3
    [series] = await until(
        "self-metrics", lambda: query(prom.url, f'{c.FORECASTER_SERIES.name}{{target="disk"}}')
    )
    assert series["value"][1] == "1"
    text = servers.http_get(f"http://127.0.0.1:{sidecar.port}/metrics")[1].decode()
    await check_metrics(promtool_bin, text)
    # the same series reach a remote-write receiver, at the run's time (never ahead of it)
    receiver = seeded["receiver"]
    pushed = f'{c.FORECAST.name}{{{own},horizon="24h",bound="yhat"}}'
    [sample] = await until("remote-written bands", lambda: query(receiver.url, pushed))
    assert sample["metric"]["job"] == c.JOB_AGENT
    [stamp] = query(receiver.url, f"timestamp({pushed})")
    assert time.time() - 60 < float(stamp["value"][1]) <= time.time()


async def test_the_sidecar_keeps_its_last_results_while_prometheus_is_down(
    seeded: dict[str, Any],
) -> None:
    prom, sidecar = seeded["prom"], seeded["sidecar"]
    url = f"http://127.0.0.1:{sidecar.port}/metrics"

    def body() -> str:
        return servers.http_get(url)[1].decode()

    await until("a first run", lambda: c.FORECAST.name in body())
    prom.stop()
    text = await until(
        "an unreachable failure",
        lambda: (
            (t := body())
            and 'globalmon_forecaster_failures_total{reason="unreachable"} 0.0' not in t
            and t
        ),
    )
    assert c.FORECAST.name in text  # last good results still served
    assert sidecar.process is not None
    assert sidecar.process.poll() is None  # and the sidecar did not crash


async def test_a_range_read_in_chunks_is_the_range_read_at_once(
    seeded: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    import aiohttp
    import numpy as np

    from forecaster_sidecar import prometheus as reader

    end = math.floor(time.time() / 60) * 60 - 120
    start, step = end - 2 * 86400 + 60, 60.0  # 2,880 points
    expr = "globalmon_host_cpu_usage_ratio or globalmon_host_disk_used_bytes"
    async with aiohttp.ClientSession() as session:
        monkeypatch.setattr(reader, "PIECES", 1)
        whole = await reader.query_range(session, seeded["prom"].url, expr, start, end, step)
        monkeypatch.setattr(reader, "MAX_POINTS", 1000)  # three requests, merged
        limited = await reader.query_range(session, seeded["prom"].url, expr, start, end, step)
        monkeypatch.setattr(reader, "PIECES", 7)  # seven, each parsed while the next is read
        pieces = await reader.query_range(session, seeded["prom"].url, expr, start, end, step)
        # many series: stretches sized so no answer passes the points budget (2 series here)
        assert await reader.series_count(session, seeded["prom"].url, expr, end) == 2
        monkeypatch.setattr(reader, "PIECES", 1)
        monkeypatch.setattr(reader, "MAX_POINTS", 10_000)
        monkeypatch.setattr(reader, "POINTS_PER_REQUEST", 1000)  # 500 points a series a request
        asked: list[str] = []
        fetch = reader._fetch

        async def counted(session: Any, url: str, params: dict[str, str]) -> tuple[int, bytes]:
            asked.append(url.rsplit("/", 1)[1])
            return await fetch(session, url, params)

        monkeypatch.setattr(reader, "_fetch", counted)
        budgeted = await reader.query_range(session, seeded["prom"].url, expr, start, end, step)
        monkeypatch.setattr(reader, "_fetch", fetch)
        assert asked == ["query"] + ["query_range"] * 6  # the count, then 2,880 / 500 stretches
        # a shard's read keeps its own series only, stretch by stretch
        disk = await reader.query_range(
            session, seeded["prom"].url, expr, start, end, step,
            keep=lambda labels: "mountpoint" in labels,
        )  # fmt: skip
    assert np.isfinite(whole.values).mean() > 0.9  # the history is there, not two empty reads
    for read in (limited, pieces, budgeted):
        assert read.values.shape == whole.values.shape == (2, 2880)
        assert sorted(map(str, read.labels)) == sorted(map(str, whole.labels))
        order = [whole.labels.index(lab) for lab in read.labels]
        assert np.array_equal(read.values, whole.values[order], equal_nan=True)
    [row] = [i for i, lab in enumerate(whole.labels) if "mountpoint" in lab]
    assert disk.labels == [whole.labels[row]]
    assert np.array_equal(disk.values, whole.values[[row]], equal_nan=True)
