"""Collectors of the agent exporter. Target labels (region, agent, agent_type) come from
Prometheus' scrape configuration, never from here, so nothing is renamed to exported_*."""

from __future__ import annotations

import platform
import re
import socket
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

import psutil
from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    InfoMetricFamily,
    Metric,
)
from prometheus_client.registry import Collector

from globalmon import __version__
from globalmon import conventions as c
from globalmon.spec.topology import ProcessGroup

# Mounts of pseudo file systems say nothing about disk space.
_SKIP_FS = {
    "proc",
    "sysfs",
    "tmpfs",
    "devtmpfs",
    "overlay",
    "squashfs",
    "cgroup",
    "cgroup2",
    "devpts",
    "mqueue",
    "autofs",
    "nsfs",
    "tracefs",
    "debugfs",
    "securityfs",
}


def _base(name: str) -> str:
    return name.removesuffix("_total")


@dataclass
class Liveness:
    """Set by the agent's heartbeat loop; read at scrape time."""

    started: float
    heartbeat: float = 0.0


class IdentityCollector(Collector):
    """Identity and liveness::

    globalmon_agent_info{hostname="web-1",version="0.1.0"} 1.0
    globalmon_build_info{version="0.1.0"} 1.0
    globalmon_agent_heartbeat_timestamp_seconds 1.7e+09
    globalmon_agent_uptime_seconds 42.0
    """

    def __init__(self, liveness: Liveness, clock: Callable[[], float]) -> None:
        self._live, self._clock = liveness, clock
        self._hostname = socket.gethostname()

    def collect(self) -> Iterator[Metric]:
        info = InfoMetricFamily(_base(c.AGENT_INFO.name).removesuffix("_info"), c.AGENT_INFO.help)
        info.add_metric([], {"hostname": self._hostname, "version": __version__})
        yield info
        build = InfoMetricFamily(_base(c.BUILD_INFO.name).removesuffix("_info"), c.BUILD_INFO.help)
        build.add_metric([], {"version": __version__, "python": platform.python_version()})
        yield build
        yield GaugeMetricFamily(
            c.AGENT_HEARTBEAT.name, c.AGENT_HEARTBEAT.help, value=self._live.heartbeat
        )
        yield GaugeMetricFamily(
            c.AGENT_UPTIME.name, c.AGENT_UPTIME.help, value=self._clock() - self._live.started
        )


class HostCollector(Collector):
    """Host resources, a small set (node_exporter serves the rest)::

    globalmon_host_cpu_seconds_total{mode="user"} 5.1e+04
    globalmon_host_cpu_seconds_total{mode="idle"} 9.8e+05
    globalmon_host_memory_used_bytes 4.2e+09
    globalmon_host_memory_available_bytes 2.0e+10
    globalmon_host_memory_total_bytes 2.5e+10
    globalmon_host_disk_used_bytes{mountpoint="/"} 2.2e+10
    globalmon_host_disk_size_bytes{mountpoint="/"} 2.5e+11
    globalmon_host_network_bytes_total{direction="receive",interface="eth0"} 1.2e+06
    globalmon_host_load1 0.5
    """

    def collect(self) -> Iterator[Metric]:
        cpu = CounterMetricFamily(_base(c.HOST_CPU.name), c.HOST_CPU.help, labels=[c.LABEL_MODE])
        # psutil's fields are node_exporter's modes; guest time is already counted in user.
        for mode, seconds in psutil.cpu_times()._asdict().items():
            if not mode.startswith("guest"):
                cpu.add_metric([mode], seconds)
        yield cpu
        mem = psutil.virtual_memory()
        yield GaugeMetricFamily(
            c.HOST_MEMORY_USED.name, c.HOST_MEMORY_USED.help, value=mem.total - mem.available
        )
        yield GaugeMetricFamily(
            c.HOST_MEMORY_AVAILABLE.name, c.HOST_MEMORY_AVAILABLE.help, value=mem.available
        )
        yield GaugeMetricFamily(c.HOST_MEMORY_TOTAL.name, c.HOST_MEMORY_TOTAL.help, value=mem.total)
        used = GaugeMetricFamily(
            c.HOST_DISK_USED.name, c.HOST_DISK_USED.help, labels=[c.LABEL_MOUNTPOINT]
        )
        size = GaugeMetricFamily(
            c.HOST_DISK_SIZE.name, c.HOST_DISK_SIZE.help, labels=[c.LABEL_MOUNTPOINT]
        )
        seen: set[str] = set()
        for part in psutil.disk_partitions(all=False):
            if part.fstype in _SKIP_FS or part.mountpoint in seen:
                continue
            seen.add(part.mountpoint)
            try:
                usage = psutil.disk_usage(part.mountpoint)
            except OSError:  # unmounted between listing and reading
                continue
            used.add_metric([part.mountpoint], usage.used)
            size.add_metric([part.mountpoint], usage.total)
        yield used
        yield size
        net = CounterMetricFamily(
            _base(c.HOST_NETWORK.name),
            c.HOST_NETWORK.help,
            labels=[c.LABEL_INTERFACE, c.LABEL_DIRECTION],
        )
        for name, counters in sorted(psutil.net_io_counters(pernic=True).items()):
            net.add_metric([name, "receive"], counters.bytes_recv)
            net.add_metric([name, "transmit"], counters.bytes_sent)
        yield net
        yield GaugeMetricFamily(c.HOST_LOAD1.name, c.HOST_LOAD1.help, value=psutil.getloadavg()[0])


@dataclass
class _Group:
    spec: ProcessGroup
    pattern: re.Pattern[str] = field(init=False)

    def __post_init__(self) -> None:
        self.pattern = re.compile(self.spec.match)


class ProcessCollector(Collector):
    """Process groups from the spec, matched on the command line::

    globalmon_process_up{group="nginx"} 1.0
    globalmon_process_count{group="nginx"} 4.0
    globalmon_process_cpu_seconds_total{group="nginx"} 12.5
    globalmon_process_resident_memory_bytes{group="nginx"} 5.2e+07
    globalmon_process_open_fds{group="nginx"} 48.0
    """

    def __init__(self, groups: list[ProcessGroup]) -> None:
        self._groups = [_Group(g) for g in groups]

    def collect(self) -> Iterator[Metric]:
        stats = {g.spec.name: [0, 0.0, 0, 0] for g in self._groups}  # count, cpu, rss, fds
        if self._groups:
            for proc in psutil.process_iter(["cmdline", "cpu_times", "memory_info", "num_fds"]):
                cmdline = " ".join(proc.info.get("cmdline") or [])
                for g in self._groups:
                    if cmdline and g.pattern.search(cmdline):
                        s = stats[g.spec.name]
                        times, mem = proc.info.get("cpu_times"), proc.info.get("memory_info")
                        s[0] += 1
                        s[1] += (times.user + times.system) if times else 0.0
                        s[2] += mem.rss if mem else 0
                        s[3] += proc.info.get("num_fds") or 0
        families: list[GaugeMetricFamily | CounterMetricFamily] = [
            GaugeMetricFamily(c.PROCESS_UP.name, c.PROCESS_UP.help, labels=[c.LABEL_GROUP]),
            GaugeMetricFamily(c.PROCESS_COUNT.name, c.PROCESS_COUNT.help, labels=[c.LABEL_GROUP]),
            CounterMetricFamily(
                _base(c.PROCESS_CPU.name), c.PROCESS_CPU.help, labels=[c.LABEL_GROUP]
            ),
            GaugeMetricFamily(
                c.PROCESS_RESIDENT.name, c.PROCESS_RESIDENT.help, labels=[c.LABEL_GROUP]
            ),
            GaugeMetricFamily(
                c.PROCESS_OPEN_FDS.name, c.PROCESS_OPEN_FDS.help, labels=[c.LABEL_GROUP]
            ),
        ]
        for g in self._groups:
            count, cpu, rss, fds = stats[g.spec.name]
            up = 1.0 if count >= max(g.spec.min_count, 1) else 0.0
            for fam, value in zip(families, (up, count, cpu, rss, fds), strict=True):
                fam.add_metric([g.spec.name], value)
        yield from families
