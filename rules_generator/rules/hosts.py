"""Host resources per agent, the ecosystem's way: node_exporter's series where it runs next to
the agent (``agents[].node_exporter``), else the agent's own host collector, with the same
semantics (CPU from a counter of seconds per mode; memory as 1 - available / total).

Recording rules give one series per agent (``region``, ``agent``, ``agent_type``, and
``mountpoint`` for disks) whichever source it comes from; the alerts and boards read those.
Where both sources exist for an agent, node_exporter's wins (``or`` keeps the left side).
"""

from __future__ import annotations

from globalmon import conventions as c
from globalmon.conventions import AlertName
from rules_generator.context import Place, num, sel
from rules_generator.model import Alert, Case, Recording, Rule, Series
from rules_generator.rules.common import agent_labels, counter, minutes, steady

BY = f"{c.LABEL_REGION}, {c.LABEL_AGENT}, {c.LABEL_AGENT_TYPE}"
_IDLE = f'{c.LABEL_MODE}=~"{"|".join(c.CPU_IDLE_MODES)}"'
_REAL_FS = f'fstype!~"{c.NODE_PSEUDO_FS}"'


def _sel(metric: str, job: str, region: str, extra: str = "") -> str:
    """``sel`` with one more raw matcher (a regex ``sel`` does not write)."""
    base = sel(metric, job=job, region=region)
    return f"{base[:-1]},{extra}}}" if extra else base


def _cpu_busy(metric: str, job: str, r: str) -> str:
    idle = f"sum by ({BY}) (rate({_sel(metric, job, r, _IDLE)}[5m]))"
    total = f"sum by ({BY}) (rate({_sel(metric, job, r)}[5m]))"
    return f"1 - {idle} / {total}"


def host_records(region: str, node_exporters: bool) -> tuple[Recording, ...]:
    """CPU busy, memory used and disk used ratios per agent of ``region``."""
    own = (
        _cpu_busy(c.HOST_CPU.name, c.JOB_AGENT, region),
        f"max by ({BY}) (1 - {_sel(c.HOST_MEMORY_AVAILABLE.name, c.JOB_AGENT, region)}"
        f" / {_sel(c.HOST_MEMORY_TOTAL.name, c.JOB_AGENT, region)})",
        f"max by ({BY}, {c.LABEL_MOUNTPOINT}) ({_sel(c.HOST_DISK_USED.name, c.JOB_AGENT, region)}"
        f" / {_sel(c.HOST_DISK_SIZE.name, c.JOB_AGENT, region)})",
    )
    node = (
        _cpu_busy(c.NODE_CPU, c.JOB_NODE, region),
        f"max by ({BY}) (1 - {_sel(c.NODE_MEMORY_AVAILABLE, c.JOB_NODE, region)}"
        f" / {_sel(c.NODE_MEMORY_TOTAL, c.JOB_NODE, region)})",
        f"max by ({BY}, {c.LABEL_MOUNTPOINT}) (1 - "
        f"{_sel(c.NODE_FILESYSTEM_AVAIL, c.JOB_NODE, region, _REAL_FS)}"
        f" / {_sel(c.NODE_FILESYSTEM_SIZE, c.JOB_NODE, region, _REAL_FS)})",
    )
    names = (c.RECORD_HOST_CPU_BUSY, c.RECORD_HOST_MEMORY_USED, c.RECORD_HOST_DISK_USED)
    if not node_exporters:
        return tuple(Recording(n, e) for n, e in zip(names, own, strict=True))
    return tuple(
        Recording(n, f"({n_expr}) or ({o_expr})")
        for n, n_expr, o_expr in zip(names, node, own, strict=True)
    )


# An input of a case: (metric, extra labels, kind, firing value, near-miss value); a counter's
# values are its increase per minute.
Input = tuple[str, dict[str, str], str, float, float]


def _alert(
    place: Place,
    name: str,
    record: str,
    threshold: float,
    inputs: list[Input],
    out_labels: dict[str, str],
    fire_value: float | None,
    *,
    summary: str,
    description: str,
) -> Alert | None:
    """The agent's own series in, so each case runs through the recording rule too. No firing
    case when the threshold cannot be passed (a host busy or full at 100 %)."""
    assert place.region is not None
    r = place.region.id
    target = agent_labels(r)
    at = minutes(place.setting(name)[2]) + 7  # the 5m rate fills first

    def values(kind: str, value: float) -> str:
        return counter(value, at + 2) if kind == "counter" else steady(value, at + 2)

    def series(pick: int) -> tuple[Series, ...]:
        return tuple(
            Series(sel(m, **target, **x), values(kind, v[pick])) for m, x, kind, *v in inputs
        )

    labels = {k: target[k] for k in (c.LABEL_REGION, c.LABEL_AGENT, c.LABEL_AGENT_TYPE)}
    labels |= out_labels
    cases = [Case("near miss", series(1), at)]
    if fire_value is not None:
        cases.insert(0, Case("fires", series(0), at, labels, fire_value))
    return place.alert(
        name,
        f"{sel(record, region=r)} > {num(threshold)}",
        summary=summary,
        description=description,
        dashboard=f"{c.DASH_REGION}?var-region={r}",
        cases=cases,
    )


def _over(percent: float) -> tuple[float, float]:
    """(firing, near-miss) percentages around a threshold, both within 0..100."""
    return (percent + 100) / 2, percent - min(5, percent / 2)


def host_alerts(place: Place) -> list[Alert | None]:
    t = place.thresholds
    cpu, mem, disk = t.cpu_percent, t.memory_percent, t.disk_percent
    # CPU seconds per minute over all CPUs, 100 in all: `busy` of them not idle.
    (cpu_fire, cpu_miss), (mem_fire, mem_miss) = _over(cpu), _over(mem)
    root = {c.LABEL_MOUNTPOINT: "/"}
    return [
        _alert(
            place,
            AlertName.HOST_CPU_HIGH,
            c.RECORD_HOST_CPU_BUSY,
            cpu / 100,
            [
                (
                    c.HOST_CPU.name,
                    {c.LABEL_MODE: "idle"},
                    "counter",
                    100 - cpu_fire,
                    100 - cpu_miss,
                ),
                (c.HOST_CPU.name, {c.LABEL_MODE: "user"}, "counter", cpu_fire, cpu_miss),
            ],
            {},
            cpu_fire / 100 if cpu < 100 else None,
            summary="CPU usage high on {{ $labels.agent }}",
            description="CPU usage is {{ $value | humanizePercentage }} "
            f"(threshold {num(cpu)}%).",
        ),
        _alert(
            place,
            AlertName.HOST_MEMORY_HIGH,
            c.RECORD_HOST_MEMORY_USED,
            mem / 100,
            [
                (
                    c.HOST_MEMORY_AVAILABLE.name,
                    {},
                    "gauge",
                    1000 - 10 * mem_fire,
                    1000 - 10 * mem_miss,
                ),
                (c.HOST_MEMORY_TOTAL.name, {}, "gauge", 1000, 1000),
            ],
            {},
            mem_fire / 100 if mem < 100 else None,
            summary="Memory usage high on {{ $labels.agent }}",
            description="Memory usage is {{ $value | humanizePercentage }} "
            f"(threshold {num(mem)}%).",
        ),
        _alert(
            place,
            AlertName.HOST_DISK_HIGH,
            c.RECORD_HOST_DISK_USED,
            disk / 100,
            [
                (c.HOST_DISK_USED.name, root, "gauge", 10 * disk + 500, 10 * disk),
                (c.HOST_DISK_SIZE.name, root, "gauge", 1000, 1000),
            ],
            root,
            (10 * disk + 500) / 1000,
            summary="Disk {{ $labels.mountpoint }} filling up on {{ $labels.agent }}",
            description="Disk usage is {{ $value | humanizePercentage }} "
            f"(threshold {num(disk)}%).",
        ),
    ]


def host_rules(place: Place) -> list[Rule]:
    """The region's host records, then the alerts on them (one group: records evaluate first)."""
    assert place.region is not None
    nodes = any(a.node_exporter for a in place.region.agents)
    records: list[Rule] = list(host_records(place.region.id, nodes))
    return records + [a for a in host_alerts(place) if a]
