"""Start the real Prometheus and Alertmanager binaries on loopback, and wait for them.

Used by the test suite and by ``globalmon stack``. Debian names Alertmanager's binary
``prometheus-alertmanager``; upstream tarballs call it ``alertmanager``: we look for both.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

PROMETHEUS_NAMES = ("prometheus",)
PROMTOOL_NAMES = ("promtool",)
ALERTMANAGER_NAMES = ("prometheus-alertmanager", "alertmanager")
AMTOOL_NAMES = ("amtool",)
NODE_EXPORTER_NAMES = ("prometheus-node-exporter", "node_exporter")

T = TypeVar("T")


class NotReady(RuntimeError):
    """A server or condition did not come up before its deadline."""


def find_binary(names: Sequence[str]) -> str | None:
    """The first of ``names`` on PATH, else None."""
    for name in names:
        found = shutil.which(name)
        if found:
            return found
    return None


def free_port() -> int:
    """A TCP port on 127.0.0.1 that was free a moment ago."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def free_ports(n: int, *, avoid: Sequence[int] = ()) -> list[int]:
    """``n`` distinct TCP ports on 127.0.0.1 that were free a moment ago, none in ``avoid``.

    The sockets stay bound until all are chosen: ``free_port()`` called n times may hand out
    the same port twice, as nothing holds it in between.
    """
    held: list[socket.socket] = []
    try:
        ports: list[int] = []
        while len(ports) < n:
            s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            held.append(s)
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
            if port not in avoid:
                ports.append(port)
        return ports
    finally:
        for s in held:
            s.close()


def wait_for(
    probe: Callable[[], T | None],
    *,
    timeout: float,
    what: str,
    interval: float = 0.05,
) -> T:
    """Call ``probe`` until it returns something other than None, or raise NotReady."""
    deadline = time.monotonic() + timeout
    last_error: Exception | None = None
    while True:
        try:
            result = probe()
        except (OSError, ValueError) as exc:  # refused, reset, bad JSON while starting
            last_error = exc
            result = None
        if result is not None:
            return result
        if time.monotonic() >= deadline:
            detail = f" (last error: {last_error})" if last_error else ""
            raise NotReady(f"{what} not reached after {timeout:g}s{detail}")
        time.sleep(interval)


def http_get(url: str, timeout: float = 5.0) -> tuple[int, bytes]:
    """GET ``url``; (status, body) also for HTTP error statuses."""
    try:
        with urllib.request.urlopen(url, timeout=timeout) as resp:
            return int(resp.status), bytes(resp.read())
    except urllib.error.HTTPError as exc:
        return int(exc.code), exc.read()


def get_json(url: str, timeout: float = 5.0) -> Any:
    status, body = http_get(url, timeout)
    if status != 200:
        raise ValueError(f"GET {url}: HTTP {status}: {body[:200]!r}")
    return json.loads(body)


@dataclass
class Server:
    """A running binary with its port, data directory and log file."""

    name: str
    argv: list[str]
    port: int
    workdir: Path
    process: subprocess.Popen[bytes] | None = None
    log_path: Path = field(init=False)

    def __post_init__(self) -> None:
        self.log_path = self.workdir / f"{self.name}.log"

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> Server:
        self.workdir.mkdir(parents=True, exist_ok=True)
        with self.log_path.open("ab") as log:
            self.process = subprocess.Popen(
                self.argv, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL
            )
        return self

    def wait_ready(self, timeout: float = 30.0, path: str = "/-/ready") -> Server:
        def ready() -> bool | None:
            if self.process is not None and self.process.poll() is not None:
                raise NotReady(f"{self.name} exited with {self.process.returncode}:\n{self.log()}")
            status, _ = http_get(self.url + path, timeout=2.0)
            return True if status == 200 else None

        wait_for(ready, timeout=timeout, what=f"{self.name} ready at {self.url}{path}")
        return self

    def log(self, tail: int = 4000) -> str:
        try:
            return self.log_path.read_text(errors="replace")[-tail:]
        except OSError:
            return ""

    def stop(self, timeout: float = 10.0) -> None:
        if self.process is None or self.process.poll() is not None:
            return
        self.process.terminate()
        try:
            self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(timeout)


def prometheus(
    binary: str, config: Path, workdir: Path, *, port: int | None = None, extra: Sequence[str] = ()
) -> Server:
    """A Prometheus server (not started) with its TSDB under ``workdir``."""
    port = port or free_port()
    argv = [
        binary,
        f"--config.file={config}",
        f"--storage.tsdb.path={workdir / 'data'}",
        f"--web.listen-address=127.0.0.1:{port}",
        "--web.enable-lifecycle",
        *extra,
    ]
    return Server("prometheus", argv, port, workdir)


def alertmanager(
    binary: str,
    config: Path,
    workdir: Path,
    *,
    port: int | None = None,
    cluster_port: int | None = None,
    peers: Sequence[str] = (),
    extra: Sequence[str] = (),
) -> Server:
    """An Alertmanager (not started). Alone it gets no cluster listener: its default binds
    0.0.0.0:9094. With ``cluster_port`` it gossips with ``peers`` on loopback."""
    port = port or free_port()
    argv = [
        binary,
        f"--config.file={config}",
        f"--storage.path={workdir / 'data'}",
        f"--web.listen-address=127.0.0.1:{port}",
    ]
    if cluster_port is None:
        argv.append("--cluster.listen-address=")
    else:
        argv += [
            f"--cluster.listen-address=127.0.0.1:{cluster_port}",
            f"--cluster.advertise-address=127.0.0.1:{cluster_port}",
            *(f"--cluster.peer={p}" for p in peers),
        ]
    return Server("alertmanager", [*argv, *extra], port, workdir)


def prometheus_sees_alertmanager(prom_url: str, am_url: str) -> bool | None:
    """True once Prometheus lists ``am_url`` among its active Alertmanagers."""
    data = get_json(prom_url + "/api/v1/alertmanagers")
    active = data["data"]["activeAlertmanagers"]
    return True if any(a["url"].startswith(am_url) for a in active) else None


def targets_up(prom_url: str, job: str | None = None) -> bool | None:
    """True once every (matching) active target has health "up"."""
    data = get_json(prom_url + "/api/v1/targets?state=active")
    targets = [t for t in data["data"]["activeTargets"] if job in (None, t["labels"].get("job"))]
    return True if targets and all(t["health"] == "up" for t in targets) else None


def in_ci() -> bool:
    """CI sets CI=true; there missing binaries fail the run instead of skipping tests."""
    return os.environ.get("CI", "").lower() not in ("", "0", "false", "no")
