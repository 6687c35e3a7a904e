"""HTTP and TCP probes from the spec, run on their own intervals (like blackbox_exporter).

globalmon_probe_success{probe="web-health"} 1.0
globalmon_probe_http_status_code{probe="web-health"} 200.0
globalmon_probe_duration_seconds_bucket{le="0.1",probe="web-health"} 3.0
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator

import aiohttp
from prometheus_client import CollectorRegistry, Histogram
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from globalmon import conventions as c
from globalmon.spec.topology import HttpProbe, TcpProbe
from globalmon.spec.types import duration_seconds

BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10)


class Prober(Collector):
    """Runs the probes and exposes their last results."""

    def __init__(self, probes: list[HttpProbe | TcpProbe], registry: CollectorRegistry) -> None:
        self.probes = probes
        self.success: dict[str, float] = {p.name: 0.0 for p in probes}
        self.status: dict[str, float] = {p.name: 0.0 for p in probes if isinstance(p, HttpProbe)}
        self.duration = Histogram(
            c.PROBE_DURATION.name,
            c.PROBE_DURATION.help,
            [c.LABEL_PROBE],
            buckets=BUCKETS,
            registry=registry,
        )
        for p in probes:
            self.duration.labels(p.name)

    def collect(self) -> Iterator[Metric]:
        ok = GaugeMetricFamily(c.PROBE_SUCCESS.name, c.PROBE_SUCCESS.help, labels=[c.LABEL_PROBE])
        for name, value in self.success.items():
            ok.add_metric([name], value)
        yield ok
        status = GaugeMetricFamily(
            c.PROBE_HTTP_STATUS.name, c.PROBE_HTTP_STATUS.help, labels=[c.LABEL_PROBE]
        )
        for name, value in self.status.items():
            status.add_metric([name], value)
        yield status

    async def probe_once(self, probe: HttpProbe | TcpProbe, session: aiohttp.ClientSession) -> None:
        timeout = duration_seconds(probe.timeout)
        start = time.perf_counter()
        ok = False
        try:
            if isinstance(probe, HttpProbe):
                async with session.request(
                    probe.method,
                    probe.url,
                    timeout=aiohttp.ClientTimeout(total=timeout),
                    allow_redirects=True,
                ) as resp:
                    self.status[probe.name] = float(resp.status)
                    ok = resp.status in probe.expect_status
            else:
                host, port = probe.address.rsplit(":", 1)
                _, writer = await asyncio.wait_for(
                    asyncio.open_connection(host.strip("[]"), int(port)), timeout
                )
                writer.close()
                await writer.wait_closed()
                ok = True
        except (OSError, TimeoutError, aiohttp.ClientError):
            if isinstance(probe, HttpProbe):
                self.status[probe.name] = 0.0
        self.success[probe.name] = 1.0 if ok else 0.0
        self.duration.labels(probe.name).observe(time.perf_counter() - start)

    async def run(self, session: aiohttp.ClientSession) -> None:
        """Probe forever, each probe on its own interval."""

        async def loop(probe: HttpProbe | TcpProbe) -> None:
            while True:
                await self.probe_once(probe, session)
                await asyncio.sleep(duration_seconds(probe.interval))

        await asyncio.gather(*(loop(p) for p in self.probes))
