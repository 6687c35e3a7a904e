"""Durable alert ingest of `globalmon webhook` beside a no-op aiohttp handler, same run.

Both run as processes on loopback. The webhook commits every alert (receipt, incident, timeline,
audit record) to SQLite with synchronous=FULL before it answers; the no-op handler reads the body
and answers 200, the ceiling any Python receiver on this machine could reach. Every alert is new
(no duplicates), so each one is real work. The load generator is one aiohttp client process with
50 connections: on a 2-core machine it shares the CPU with the server, as it would in a test
rig, so the figures are a floor. Medians over the rounds.

    python -m bench.webhook_ingest [--requests 2000] [--rounds 3] [--storm 10000]
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import json
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import aiohttp
import yaml

from globalmon import servers

ROOT = Path(__file__).resolve().parents[1]
TOKEN = "bench-token"
NOOP = """
import sys
from aiohttp import web

async def ok(request):
    await request.read()
    return web.json_response({"received": 0})

app = web.Application(client_max_size=64 * 1024 * 1024)
app.router.add_post("/webhook", ok)
app.router.add_get("/-/ready", lambda r: web.Response(text="ok"))
web.run_app(app, host="127.0.0.1", port=int(sys.argv[1]), print=None)
"""


def spec(path: Path) -> Path:
    data = yaml.safe_load((ROOT / "examples" / "minimal.yaml").read_text())
    data["global"] = {"credentials": {"webhook_token": {"env": "BENCH_WEBHOOK_TOKEN"}}}
    path.write_text(yaml.safe_dump(data))
    return path


_serial = itertools.count()


def payloads(size: int) -> Iterator[bytes]:
    """Payloads of ``size`` alerts, every alert new."""
    while True:
        alerts = []
        for _ in range(size):
            i = next(_serial)
            labels = {"alertname": "BenchAlert", "severity": "warning", "region": "local",
                      "instance": f"host-{i}", "service": "api"}  # fmt: skip
            alerts.append(
                {
                    "status": "firing",
                    "labels": labels,
                    "annotations": {"summary": "bench"},
                    "startsAt": "2026-01-01T00:00:00Z",
                    "endsAt": "0001-01-01T00:00:00Z",
                    "generatorURL": "",
                    "fingerprint": f"{i:016x}",
                }
            )
        yield json.dumps({"version": "4", "status": "firing", "alerts": alerts}).encode()


async def load(url: str, size: int, requests: int, conc: int) -> tuple[float, list[float]]:
    bodies = payloads(size)
    latencies: list[float] = []
    left = iter(range(requests))
    headers = {"Authorization": f"Bearer {TOKEN}", "Content-Type": "application/json"}
    connector = aiohttp.TCPConnector(limit=conc)
    async with aiohttp.ClientSession(url, connector=connector, headers=headers) as http:

        async def worker() -> None:
            for _ in left:
                body = next(bodies)
                start = time.perf_counter()
                async with http.post("/webhook", data=body) as resp:
                    await resp.read()
                    assert resp.status == 200, resp.status
                latencies.append(time.perf_counter() - start)

        start = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(conc)))
        return time.perf_counter() - start, latencies


def p99(values: list[float]) -> float:
    return statistics.quantiles(values, n=100)[98]


def webhook(work: Path, name: str, synchronous: str) -> servers.Server:
    port = servers.free_port()
    return servers.Server(
        name,
        [sys.executable, "-m", "globalmon", "webhook", "--spec", str(spec(work / "spec.yaml")),
         "--db", str(work / f"{name}.db"), "--web.listen-address", f"127.0.0.1:{port}",
         "--synchronous", synchronous],
        port, work / name,
    )  # fmt: skip


async def run(args: argparse.Namespace, work: Path) -> None:
    os.environ["BENCH_WEBHOOK_TOKEN"] = TOKEN
    noop_port = servers.free_port()
    (work / "noop.py").write_text(NOOP)
    targets = {
        "no-op aiohttp": servers.Server(
            "noop",
            [sys.executable, str(work / "noop.py"), str(noop_port)],
            noop_port,
            work / "noop",
        ),
        "globalmon webhook": webhook(work, "webhook", "FULL"),
        "webhook, synchronous=NORMAL": webhook(work, "webhook-normal", "NORMAL"),
    }
    rows: dict[str, list[tuple[float, float, float]]] = {}
    storms: list[float] = []
    try:
        for server in targets.values():
            server.start().wait_ready()
            await load(server.url, 1, 200, args.concurrency)  # warm up
        for _ in range(args.rounds):
            for size in (1, 100):
                requests = args.requests if size == 1 else max(20, args.requests // 20)
                for name, server in targets.items():
                    elapsed, lat = await load(server.url, size, requests, args.concurrency)
                    key = f"{name}, {size} alert{'s' if size > 1 else ''}/POST"
                    rows.setdefault(key, []).append(
                        (requests * size / elapsed, statistics.median(lat), p99(lat))
                    )
            hook = targets["globalmon webhook"]
            elapsed, _ = await load(hook.url, args.storm, 1, 1)  # includes the upload
            storms.append(elapsed)
    finally:
        for server in targets.values():
            server.stop()

    med = {k: tuple(statistics.median(r[i] for r in v) for i in range(3)) for k, v in rows.items()}
    print(
        f"webhook ingest: {args.requests} one-alert POSTs and {max(20, args.requests // 20)} "
        f"100-alert POSTs a round, {args.rounds} rounds, {args.concurrency} connections, "
        "synchronous=FULL unless said (medians)"
    )
    print(f"{'server':<48} {'alerts/s':>9} {'p50 ms':>8} {'p99 ms':>8} {'of no-op':>9}")
    for name, (rate, p50, p99v) in med.items():
        base = med["no-op aiohttp, " + name.split(", ")[-1]]
        print(
            f"{name:<48} {rate:>9.0f} {p50 * 1000:>8.2f} {p99v * 1000:>8.2f} {rate / base[0]:>8.0%}"
        )
    print(f"one POST of {args.storm} alerts, committed: {statistics.median(storms):.2f} s (median)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=2000)
    parser.add_argument("--concurrency", type=int, default=50)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--storm", type=int, default=10_000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        asyncio.run(run(args, Path(tmp)))


if __name__ == "__main__":
    main()
