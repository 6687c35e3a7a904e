"""The demo world: everything around globalmon that a real deployment has and a laptop does not.

One process serves, on the ports the demo spec names:

- each service's own metrics, per region (``/services/REGION/SERVICE/metrics``): request and error
  counters and a latency histogram that move with wall time, with faults a scenario can inject
  (``POST /faults`` ``{"region", "service", "kind": "latency"|"errors"}`` or
  ``{"region", "plugin", "kind": "leak"}``, ``DELETE /faults``);
- the probes' targets (HTTP ``/healthz`` and TCP ports from the agents' probes);
- the notification receivers (``/receivers/NAME``) and an SMTP server, which append what they get
  to ``notifications.jsonl``;
- the recovery endpoint the demo's actions call (``POST /recover``: clears the faults);
- a load generator: every plugin reports metrics and logs every 2 s, an event and a snapshot
  every 10 s, to its region's plugin exporter.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import math
import random
import re
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import aiohttp
from aiohttp import web

from globalmon import conventions as c
from globalmon.spec import Spec, load_spec

BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
RATE = 20.0  # requests per second per service and region
MEDIAN = {"normal": 0.04, "latency": 2.0}  # seconds
ERRORS = {"normal": 0.0002, "errors": 0.3}  # normal stays inside a 99.95 % SLO


def _share_below(bound: float, median: float) -> float:
    """Share of a log-normal latency (sigma 0.5) below ``bound``."""
    return 0.5 * (1 + math.erf(math.log(bound / median) / (0.5 * math.sqrt(2))))


@dataclass
class ServiceState:
    requests: float = 0.0
    errors: float = 0.0
    buckets: list[float] = field(default_factory=lambda: [0.0] * len(BUCKETS))
    total_seconds: float = 0.0
    updated: float = field(default_factory=time.time)


class World:
    def __init__(self, spec: Spec, out: Path) -> None:
        self.spec = spec
        self.out = out
        self.faults: dict[tuple[str, str], str] = {}  # (region, service) -> kind
        self.leaks: dict[tuple[str, str], float] = {}  # (region, plugin) -> since
        self.services: dict[tuple[str, str], ServiceState] = {}
        for s in spec.services:
            for r in spec.regions:
                if s.regions is None or r.id in s.regions:
                    self.services[(r.id, s.name)] = ServiceState()

    def advance(self, region: str) -> None:
        now = time.time()
        for (r, name), st in self.services.items():
            if r != region:
                continue
            dt, st.updated = now - st.updated, now
            kind = self.faults.get((r, name), "normal")
            n = RATE * dt
            st.requests += n
            st.errors += n * ERRORS.get(kind, ERRORS["normal"])
            median = MEDIAN.get(kind, MEDIAN["normal"])
            for i, bound in enumerate(BUCKETS):
                st.buckets[i] += n * _share_below(bound, median)
            st.total_seconds += n * median * math.exp(0.125)  # the log-normal's mean

    def exposition(self, region: str, service: str) -> str | None:
        """The service's own metrics in ``region`` (its scrape job adds `region` and
        `service`), or None if it does not run there."""
        st = self.services.get((region, service))
        if st is None:
            return None
        self.advance(region)
        req, err, dur = c.SERVICE_REQUESTS, c.SERVICE_ERRORS, c.SERVICE_DURATION
        lines = [
            f"# HELP {req.name} {req.help}",
            f"# TYPE {req.name} counter",
            f"{req.name} {st.requests:.3f}",
            f"# HELP {err.name} {err.help}",
            f"# TYPE {err.name} counter",
            f"{err.name} {st.errors:.3f}",
            f"# HELP {dur.name} {dur.help}",
            f"# TYPE {dur.name} histogram",
        ]
        for bound, count in zip(BUCKETS, st.buckets, strict=True):
            lines.append(f'{dur.name}_bucket{{le="{bound}"}} {count:.3f}')
        lines.append(f'{dur.name}_bucket{{le="+Inf"}} {st.requests:.3f}')
        lines.append(f"{dur.name}_sum {st.total_seconds:.3f}")
        lines.append(f"{dur.name}_count {st.requests:.3f}")
        return "\n".join(lines) + "\n"

    def record(self, kind: str, data: dict[str, Any]) -> None:
        line = json.dumps({"at": time.time(), "kind": kind, **data}, sort_keys=True)
        with (self.out / "notifications.jsonl").open("a", encoding="utf-8") as f:
            f.write(line + "\n")


def app(world: World) -> web.Application:
    async def metrics(request: web.Request) -> web.Response:
        text = world.exposition(request.match_info["region"], request.match_info["service"])
        if text is None:
            return web.json_response({"error": "no such service in that region"}, status=404)
        return web.Response(text=text, content_type="text/plain")

    async def set_fault(request: web.Request) -> web.Response:
        body = await request.json()
        if body.get("kind") == "leak":
            plugin = (str(body["region"]), str(body["plugin"]))
            world.leaks[plugin] = time.time()
            return web.json_response({"leaks": len(world.leaks)})
        key = (str(body["region"]), str(body["service"]))
        if key not in world.services:
            return web.json_response({"error": "no such service in that region"}, status=404)
        world.advance(key[0])  # the past is counted at the old rate
        world.faults[key] = str(body["kind"])
        return web.json_response({"faults": len(world.faults)})

    async def clear(request: web.Request) -> web.Response:
        for region in {r for r, _ in world.faults}:
            world.advance(region)
        cleared = len(world.faults) + len(world.leaks)
        world.faults.clear()
        world.leaks.clear()
        if request.path == "/recover":
            world.record("recovery", {"body": await request.text(), "cleared": cleared})
        return web.json_response({"cleared": cleared})

    async def receiver(request: web.Request) -> web.Response:
        body = await request.text()
        world.record("notification", {"receiver": request.match_info["name"], "body": body})
        return web.json_response({"ok": True})

    async def healthz(request: web.Request) -> web.Response:
        return web.Response(text="ok\n")

    a = web.Application()
    a.router.add_get("/services/{region}/{service}/metrics", metrics)
    a.router.add_post("/faults", set_fault)
    a.router.add_delete("/faults", clear)
    a.router.add_post("/recover", clear)
    a.router.add_post("/receivers/{name}", receiver)
    a.router.add_get("/healthz", healthz)
    a.router.add_get("/-/ready", healthz)
    return a


LEAK_PER_SECOND = 0.1  # a leaking plugin's memory grows by 10 % of its normal size a second


async def plugin_load(world: World, token: str | None) -> None:
    """Every plugin reports every 2 s to its regions' plugin exporters."""
    spec = world.spec
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    rng = random.Random(7)
    rounds = 0
    async with aiohttp.ClientSession(headers=headers) as http:
        while True:
            for region in spec.regions:
                address = region.endpoints.plugin_exporter
                if address is None:
                    continue
                for p in spec.plugins:
                    if p.regions is not None and region.id not in p.regions:
                        continue
                    base = f"http://{address}/api/advanced-monitoring/plugins/{p.id}"
                    memory = 200e6 + rng.random() * 5e6
                    if (since := world.leaks.get((region.id, p.id))) is not None:
                        memory *= 1 + LEAK_PER_SECOND * (time.time() - since)
                    report = {
                        "cpu_usage_ratio": 0.2 + rng.random() * 0.1,
                        "memory_bytes": memory,
                        "memory_usage_ratio": min(1.0, memory / 500e6),
                        "requests": rng.randint(20, 40),
                        "errors": int(rng.random() < 0.02),
                        "response_times_seconds": [rng.lognormvariate(-3, 0.5) for _ in range(5)],
                    }
                    posts = [
                        ("metrics", report),
                        ("logs", {"level": "info", "message": f"handled a batch in {region.id}"}),
                    ]
                    if rounds % 5 == 0:  # every 10 s: an event (never critical) and a snapshot
                        severity = "medium" if rng.random() < 0.2 else "low"
                        event = {"type": "config_reloaded", "severity": severity}
                        posts.append(("events", event))
                        posts.append(("snapshots", {"status": "healthy", "memory_bytes": memory}))
                    with contextlib.suppress(aiohttp.ClientError, TimeoutError):
                        for kind, body in posts:
                            async with http.post(f"{base}/{kind}", json=body, timeout=_T) as r:
                                await r.read()
            rounds += 1
            await asyncio.sleep(2)


_T = aiohttp.ClientTimeout(total=5)


async def _tcp_listener(host: str, port: int) -> asyncio.Server:
    async def accept(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writer.close()

    return await asyncio.start_server(accept, host, port)


def process_stand_ins(spec: Spec) -> list[subprocess.Popen[bytes]]:
    """Processes whose command line the spec's process groups match (``sleep`` under another
    name), as many as each group's ``min_count``; they die with the world's process group."""
    wanted: dict[str, int] = {}
    for _, agent in spec.agents():
        for group in agent.processes:
            name = group.match.removeprefix("^").removesuffix("$")
            if re.search(group.match, name):  # a literal pattern: its text is a stand-in
                wanted[name] = max(wanted.get(name, 0), group.min_count)
    sleep = shutil.which("sleep") or "/bin/sleep"
    return [
        subprocess.Popen([name, "infinity"], executable=sleep, stdin=subprocess.DEVNULL)
        for name, count in sorted(wanted.items())
        for _ in range(count)
    ]


def probe_addresses(spec: Spec) -> tuple[set[tuple[str, int]], set[tuple[str, int]]]:
    """(HTTP, TCP) host-port pairs the agents probe, on loopback only."""
    http: set[tuple[str, int]] = set()
    tcp: set[tuple[str, int]] = set()
    for _, agent in spec.agents():
        for probe in agent.probes:
            if probe.type == "http":
                u = urlsplit(probe.url)
                if u.hostname in ("127.0.0.1", "localhost") and u.port:
                    http.add(("127.0.0.1", u.port))
            else:
                host, _, port = probe.address.rpartition(":")
                if host in ("127.0.0.1", "localhost"):
                    tcp.add(("127.0.0.1", int(port)))
    return http, tcp


async def serve(
    spec_path: Path, out: Path, port: int, smtp_port: int | None, token: str | None
) -> None:
    spec = load_spec(spec_path)
    world = World(spec, out)
    runners = []
    a = app(world)
    http_ports, tcp_ports = probe_addresses(spec)
    for host, p in {("127.0.0.1", port), *http_ports}:
        runner = web.AppRunner(a if p == port else _health_app())
        await runner.setup()
        await web.TCPSite(runner, host, p).start()
        runners.append(runner)
    servers = [await _tcp_listener(h, p) for h, p in tcp_ports - http_ports]
    smtp = _smtp(world, smtp_port) if smtp_port else None
    stand_ins = process_stand_ins(spec)
    load = asyncio.create_task(plugin_load(world, token))
    try:
        await asyncio.Event().wait()
    finally:
        load.cancel()
        for proc in stand_ins:
            proc.kill()
        if smtp is not None:
            smtp.stop()
        for s in servers:
            s.close()
        for r in runners:
            await r.cleanup()


def _health_app() -> web.Application:
    a = web.Application()

    async def ok(request: web.Request) -> web.Response:
        return web.Response(text="ok\n")

    a.router.add_get("/{tail:.*}", ok)
    return a


def _smtp(world: World, port: int) -> Any:
    try:
        from aiosmtpd.controller import Controller
    except ImportError:  # a runtime install without the dev extra: email receivers fail
        print("globalmon stack world: aiosmtpd missing, no SMTP server", file=sys.stderr)
        return None

    class Handler:
        async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
            world.record(
                "notification",
                {"receiver": "smtp", "to": envelope.rcpt_tos, "body": envelope.content.decode()},
            )
            return "250 OK"

    controller = Controller(Handler(), hostname="127.0.0.1", port=port)
    controller.start()
    return controller
