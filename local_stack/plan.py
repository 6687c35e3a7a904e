"""What the local stack runs, derived from the (demo) spec: one entry per process, in start order.

Pure: the runner starts these, the tests read them.
"""

from __future__ import annotations

import sys
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from globalmon.spec import Spec

GM = [sys.executable, "-m", "globalmon"]
# Firing alerts are re-sent every 5 s instead of every minute: one lost before the
# Alertmanagers were discovered (Prometheus' first evaluation) is not a minute late.
FAST_FLAGS = ["--rules.alert.resend-delay=5s"]


@dataclass(frozen=True)
class Proc:
    name: str
    # prometheus, alertmanager, registry, agent, node-exporter, plugin-exporter, sidecar, webhook,
    # console, world
    kind: str
    argv: list[str]
    url: str  # base URL
    ready: str = "/-/ready"
    region: str | None = None
    env: dict[str, str] = field(default_factory=dict)

    @property
    def address(self) -> str:
        u = urlsplit(self.url)
        return f"{u.hostname}:{u.port}"

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def hostport(url: str) -> str:
    u = urlsplit(url)
    return f"{u.hostname}:{u.port}"


def plan(
    spec: Spec,
    spec_path: Path,
    root: Path,
    *,
    prometheus: str,
    alertmanager: str,
    world_port: int,
    smtp_port: int,
    cluster_ports: list[int],
    fast: bool = True,
    world: bool = True,
    console_port: int | None = None,
    node_exporter: str | None = None,
) -> list[Proc]:
    """``fast``: the demo's flags (the spec holds its fast settings); otherwise production
    defaults (what deploy/docker-compose.yml runs)."""
    gen, data = root / "generated", root / "data"
    s = str(spec_path)
    fast_flags = FAST_FLAGS if fast else []
    procs: list[Proc] = []
    if world:
        procs.append(
            Proc(
                "world",
                "world",
                [
                    *GM,
                    "stack",
                    "world",
                    "--dir",
                    str(root),
                    "--port",
                    str(world_port),
                    "--smtp-port",
                    str(smtp_port),
                ],
                f"http://127.0.0.1:{world_port}",
            )
        )
    for region in spec.regions:
        url = region.prometheus_urls[0]
        procs.append(
            Proc(
                f"prometheus-{region.id}",
                "prometheus",
                [
                    prometheus,
                    f"--config.file={gen / 'prometheus' / (region.id + '.yml')}",
                    f"--storage.tsdb.path={data / f'prometheus-{region.id}'}",
                    f"--web.listen-address={hostport(url)}",
                    f"--storage.tsdb.retention.time={spec.retention()}",
                    "--web.enable-remote-write-receiver",
                    *fast_flags,
                ],
                url.rstrip("/"),
                region=region.id,
            )
        )
    view = spec.global_.global_view
    if view is not None:
        procs.append(
            Proc(
                "prometheus-global",
                "prometheus",
                [
                    prometheus,
                    f"--config.file={gen / 'prometheus' / 'global.yml'}",
                    f"--storage.tsdb.path={data / 'prometheus-global'}",
                    f"--web.listen-address={hostport(view.url)}",
                    f"--storage.tsdb.retention.time={spec.retention()}",
                    "--web.enable-remote-write-receiver",
                    *fast_flags,
                ],
                view.url.rstrip("/"),
            )
        )
    ams = spec.global_.alertmanager_urls
    for i, url in enumerate(ams):
        argv = [
            alertmanager,
            f"--config.file={gen / 'alertmanager' / 'alertmanager.yml'}",
            f"--storage.path={data / f'alertmanager-{i}'}",
            f"--web.listen-address={hostport(url)}",
            f"--cluster.listen-address=127.0.0.1:{cluster_ports[i]}",
            f"--cluster.advertise-address=127.0.0.1:{cluster_ports[i]}",
        ]
        if len(ams) > 1:
            argv += [f"--cluster.peer=127.0.0.1:{p}" for j, p in enumerate(cluster_ports) if j != i]
            argv.append("--cluster.peer-timeout=1s")  # the demo's members answer fast
        else:
            argv = [a for a in argv if not a.startswith("--cluster.advertise")]
            argv[-1] = "--cluster.listen-address="
        procs.append(Proc(f"alertmanager-{i}", "alertmanager", argv, url.rstrip("/")))
    registries = sorted(
        {hostport(r.endpoints.registry_url) for r in spec.regions if r.endpoints.registry_url}
    )
    for address in registries:
        port = address.rsplit(":", 1)[1]
        procs.append(
            Proc(
                f"registry-{port}",
                "registry",
                [
                    *GM,
                    "registry",
                    "--spec",
                    s,
                    "--db",
                    str(data / f"registry-{port}.db"),
                    "--web.listen-address",
                    address,
                ],
                f"http://{address}",
                ready="/metrics",
            )
        )
    for region, agent in spec.agents():
        procs.append(
            Proc(
                f"agent-{agent.id}",
                "agent",
                [
                    *GM,
                    "agent",
                    "--spec",
                    s,
                    "--region",
                    region.id,
                    "--agent-id",
                    agent.id,
                    *(["--heartbeat-interval", "1"] if fast else []),
                ],
                f"http://{agent.address}",
                ready="/-/healthy",
                region=region.id,
            )
        )
    for region, agent in spec.agents():
        if agent.node_exporter and node_exporter:
            procs.append(
                Proc(
                    f"node-exporter-{agent.id}",
                    "node-exporter",
                    [
                        node_exporter,
                        f"--web.listen-address={agent.node_exporter}",
                        # what the host rules read; the rest stays node_exporter's choice
                        "--collector.disable-defaults",
                        "--collector.cpu",
                        "--collector.meminfo",
                        "--collector.filesystem",
                    ],
                    f"http://{agent.node_exporter}",
                    ready="/metrics",
                    region=region.id,
                )
            )
    for region in spec.regions:
        e = region.endpoints
        if e.plugin_exporter:
            procs.append(
                Proc(
                    f"plugin-exporter-{region.id}",
                    "plugin-exporter",
                    [
                        *GM,
                        "plugin-exporter",
                        "--spec",
                        s,
                        "--region",
                        region.id,
                        "--db",
                        str(data / f"plugins-{region.id}.db"),
                        "--push-critical-events",
                    ],
                    f"http://{e.plugin_exporter}",
                    ready="/-/healthy",
                    region=region.id,
                )
            )
        if e.sidecar and spec.forecasts:
            procs.append(
                Proc(
                    f"sidecar-{region.id}",
                    "sidecar",
                    [
                        *GM,
                        "sidecar",
                        "--spec",
                        s,
                        "--prometheus-url",
                        region.prometheus_urls[0],
                        "--web.listen-address",
                        e.sidecar,
                        # the demo scrapes every second and has minutes of history
                        *(["--interval", "30s", "--min-step", "1s"] if fast else []),
                    ],
                    f"http://{e.sidecar}",
                    ready="/-/healthy",
                    region=region.id,
                )
            )
    procs.append(
        Proc(
            "webhook",
            "webhook",
            [*GM, "webhook", "--spec", s, "--db", str(data / "webhook.db")],
            spec.global_.webhook_url.rstrip("/"),
        )
    )
    if console_port is not None:
        address = f"127.0.0.1:{console_port}"
        procs.append(
            Proc(
                "console",
                "console",
                [*GM, "console", "--spec", s, "--web.listen-address", address],
                f"http://{address}",
                ready="/-/healthy",
            )
        )
    # Start order: what is scraped or called first, then the Alertmanagers, then the
    # Prometheus servers and the sidecars that read them, so no alert fires on a start-up gap.
    order = ["world", "registry", "agent", "node-exporter", "plugin-exporter", "webhook",
             "alertmanager", "prometheus", "sidecar", "console"]  # fmt: skip
    return sorted(procs, key=lambda p: order.index(p.kind))


def listen_ports(procs: list[Proc]) -> list[tuple[str, int]]:
    """Every (name, port) the stack will listen on, for a check before anything starts."""
    out = []
    for p in procs:
        u = urlsplit(p.url)
        assert u.port is not None
        out.append((p.name, u.port))
    return out


def free(port: int) -> bool:
    import socket

    with socket.socket() as s:
        # as the servers do: a port left in TIME_WAIT by a stack just stopped is free
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True
