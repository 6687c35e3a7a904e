"""`globalmon stack up|status|down`: start the plan's processes, wait until they work, stop them.

A stack lives in its directory: the demo spec, generated artifacts, secrets, data, logs and
``stack.json`` (each process's pid, command line and URL). ``down`` stops exactly the pids it
started (checking their command line first, so a reused pid is left alone).
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import shutil
import signal
import subprocess
import time
import urllib.parse
from collections.abc import Callable
from pathlib import Path
from typing import Any

from globalmon.conventions import AlertName
from globalmon.spec import Spec, load_spec
from globalmon.spec.dump import dump_spec
from local_stack import demo, servers
from local_stack.plan import Proc, free, plan

STATE = "stack.json"
# Processes this Python process started: kept so they are reaped (and not reported as leaked)
# when `down` runs in the same process, as it does in tests and when `up` fails.
_CHILDREN: dict[int, subprocess.Popen[bytes]] = {}
Say = Callable[[str], None]


class StackError(RuntimeError):
    """Something the user can act on: a port in use, a process that died, a stack not up."""


def _say(line: str) -> None:
    print(line, flush=True)


def _binaries(spec: Spec) -> tuple[str, str, str | None]:
    prom = servers.find_binary(servers.PROMETHEUS_NAMES)
    am = servers.find_binary(servers.ALERTMANAGER_NAMES)
    if prom is None or am is None:
        raise StackError("prometheus and prometheus-alertmanager are needed: run `make setup`")
    node = servers.find_binary(servers.NODE_EXPORTER_NAMES)
    if node is None and any(a.node_exporter for _, a in spec.agents()):
        raise StackError("the spec names node_exporters: prometheus-node-exporter is needed")
    return prom, am, node


def prepare(
    spec_path: Path, root: Path, *, production: bool = False
) -> tuple[Spec, Path, list[Proc], dict[str, str]]:
    """Write the demo spec, its generated artifacts and secrets; return the plan and env.
    ``production``: keep the spec's own timing (see ``demo.demo_spec``)."""
    from rules_generator.generate import generate
    from rules_generator.writer import write

    root.mkdir(parents=True, exist_ok=True)
    # a stack starts empty: an earlier run's TSDBs and databases would carry its alerts over
    for old in ("data", "world"):
        shutil.rmtree(root / old, ignore_errors=True)
    for sub in ("logs", "data", "secrets", "world"):
        (root / sub).mkdir(exist_ok=True)
    user = load_spec(spec_path)  # the user's spec must be valid as it is (errors name lines)
    # the stack's own ports (world, SMTP, cluster gossip) must not be one the spec names
    n_am = len(user.global_.alertmanager_urls)
    ports = servers.free_ports(3 + n_am, avoid=sorted(_local_ports(user)))
    world_port, smtp_port, console_port, *cluster = ports
    world_url = f"http://127.0.0.1:{world_port}"
    demo_path = root / "spec.yaml"
    profiled = demo.demo_spec(user, world_url, smtp_port, production=production)
    demo_path.write_text(dump_spec(profiled))
    spec = load_spec(demo_path)  # what every process of the stack reads

    env = {name: secrets.token_hex(16) for name in demo.TOKENS}
    env |= demo.receiver_env(spec, world_url)
    for name, value in env.items():
        path = root / "secrets" / name
        path.write_text(value)
        path.chmod(0o600)
    files = generate(spec, "spec.yaml", secrets_dir=str(root / "secrets"))
    write(root / "generated", files)
    prom, am, node = _binaries(spec)
    procs = plan(
        spec,
        demo_path,
        root,
        prometheus=prom,
        alertmanager=am,
        node_exporter=node,
        world_port=world_port,
        smtp_port=smtp_port,
        cluster_ports=cluster,
        console_port=console_port,
        fast=not production,
    )
    return spec, demo_path, procs, env


LOCAL = tuple(
    f"{scheme}{host}:"
    for scheme in ("", "http://", "https://")
    for host in ("127.0.0.1", "localhost")
)


def _local_ports(spec: Spec) -> set[int]:
    """Loopback ports the spec names anywhere (URLs and host:port values)."""
    found: set[int] = set()

    def walk(value: object) -> None:
        if isinstance(value, dict):
            for v in value.values():
                walk(v)
        elif isinstance(value, list):
            for v in value:
                walk(v)
        elif isinstance(value, str) and value.startswith(LOCAL):
            # URLs and host:port values; anything else (PromQL, paths) is not a port
            with contextlib.suppress(ValueError):
                parts = urllib.parse.urlsplit(value if "://" in value else f"//{value}")
                if parts.port:
                    found.add(parts.port)

    walk(spec.model_dump(mode="json"))
    return found


def _state(root: Path) -> dict[str, Any] | None:
    try:
        loaded: dict[str, Any] = json.loads((root / STATE).read_text())
        return loaded
    except FileNotFoundError:
        return None


def _save(root: Path, state: dict[str, Any]) -> None:
    tmp = root / (STATE + ".tmp")
    tmp.write_text(json.dumps(state, indent=1))
    tmp.replace(root / STATE)


def up(
    spec_path: Path,
    root: Path,
    say: Say = _say,
    timeout: float = 180,
    *,
    production: bool = False,
) -> dict[str, Any]:
    root, spec_path = root.resolve(), spec_path.resolve()  # configs name files absolutely
    if (old := _state(root)) is not None and any(_alive(p) for p in old["procs"]):
        raise StackError(f"a stack is already up in {root}: `globalmon stack down --dir {root}`")
    spec, demo_path, procs, env = prepare(spec_path, root, production=production)
    seen: dict[str, str] = {}
    for p in procs:
        if p.address in seen:
            raise StackError(f"{p.name} and {seen[p.address]} both listen on {p.address}")
        seen[p.address] = p.name
    busy = [f"{p.name} ({p.address})" for p in procs if not free(int(p.address.rsplit(":")[1]))]
    if busy:
        raise StackError(f"ports in use: {', '.join(busy)}")
    state: dict[str, Any] = {"spec": str(demo_path), "started": time.time(), "procs": []}
    child_env = {**os.environ, **env}
    say(f"starting {len(procs)} processes (logs in {root / 'logs'})")
    deadline = time.monotonic() + timeout
    try:
        # In phases, each ready before the next starts: what is scraped and called first, then
        # the Alertmanagers, then the Prometheus servers and sidecars. Nothing is scraped or
        # notified while it is still starting, so no alert fires on a start-up gap.
        done = 0
        for phase in PHASES:
            started = []
            for p in (p for p in procs if p.kind in phase):
                log = (root / "logs" / f"{p.name}.log").open("ab")
                proc = subprocess.Popen(
                    p.argv,
                    stdout=log,
                    stderr=subprocess.STDOUT,
                    stdin=subprocess.DEVNULL,
                    env=child_env,
                    start_new_session=True,  # `stack down` and Ctrl-C here are separate
                )
                log.close()
                _CHILDREN[proc.pid] = proc
                started.append({**p.as_dict(), "pid": proc.pid})
                state["procs"].append(started[-1])
                _save(root, state)
            _wait_answering(root, started, done, len(procs), say, deadline)
            done += len(started)
        _wait_scraped(state, spec, say, deadline)
    except BaseException:
        if _state(root) is not None:
            down(root, say=lambda _line: None)
        raise
    state["ready"] = time.time()
    _save(root, state)
    say(f"stack up in {state['ready'] - state['started']:.1f} s")
    return state


PHASES = (
    ("world", "registry", "agent", "node-exporter", "plugin-exporter", "webhook"),
    ("alertmanager",),
    ("prometheus", "sidecar", "console"),
)


def _wait_answering(
    root: Path, started: list[dict[str, Any]], done: int, total: int, say: Say, deadline: float
) -> None:
    pending = list(started)
    while pending:
        for p in list(pending):
            if not _alive(p):
                tail = (root / "logs" / f"{p['name']}.log").read_text(errors="replace")[-1500:]
                raise StackError(
                    f"{p['name']} exited during start-up ({_how_it_ended(p['pid'])}); "
                    f"its log ends:\n{tail}"
                )
            if _answers(p["url"] + p["ready"]):
                pending.remove(p)
                n = done + len(started) - len(pending)
                say(f"  ready {n:>2}/{total}  {p['name']:<30} {p['url']}")
        if time.monotonic() > deadline:
            raise StackError(f"not ready in time: {', '.join(p['name'] for p in pending)}")
        if pending:
            time.sleep(0.3)


def _wait_scraped(state: dict[str, Any], spec: Spec, say: Say, deadline: float) -> None:
    say("waiting for every Prometheus to scrape its targets and find the Alertmanagers")
    proms = [p for p in state["procs"] if p["kind"] == "prometheus"]
    ams = len(spec.global_.alertmanager_urls)
    for p in proms:
        while True:
            down_targets, found = _prometheus_health(p["url"])
            if not down_targets and found >= ams:
                say(f"  {p['name']}: every target up, {found} Alertmanagers")
                break
            if time.monotonic() > deadline:
                raise StackError(
                    f"{p['name']}: targets down {down_targets}, {found}/{ams} Alertmanagers"
                )
            time.sleep(0.5)
    view = next((p for p in proms if p["region"] is None), None)
    with_agents = {r.id for r in spec.regions if r.agents}
    while view is not None:
        seen = _regions_federated(view["url"])
        if with_agents <= seen:
            say(f"  {view['name']}: agent series of every region arrived ({len(seen)})")
            break
        if time.monotonic() > deadline:
            raise StackError(f"{view['name']}: no agent series from {with_agents - seen}")
        time.sleep(0.5)
    # Alerts evaluated before the first scrapes (absent(), ratios of nothing) clear at the next
    # evaluations; wait briefly for that, then say what still alerts (the spec may mean it).
    settle = min(deadline, time.monotonic() + 15)
    while True:
        alerting = sorted({a for p in proms for a in _alerting(p["url"])} - {AlertName.WATCHDOG})
        if not alerting or time.monotonic() > settle:
            break
        time.sleep(0.5)
    if alerting:
        say(f"  alerting at start: {', '.join(alerting)}")


def _alerting(url: str) -> set[str]:
    try:
        alerts = servers.get_json(f"{url}/api/v1/alerts")["data"]["alerts"]
    except (OSError, ValueError, KeyError):
        return set()
    return {a["labels"]["alertname"] for a in alerts}


def _regions_federated(url: str) -> set[str]:
    expr = urllib.parse.quote('count by (region) (up{job="globalmon-agent"})')
    try:
        result = servers.get_json(f"{url}/api/v1/query?query={expr}")["data"]["result"]
    except (OSError, ValueError, KeyError):
        return set()
    return {r["metric"].get("region", "") for r in result}


def _answers(url: str) -> bool:
    try:
        return servers.http_get(url, timeout=2.0)[0] == 200
    except OSError:  # refused, reset, timed out: not (yet) answering
        return False


def _prometheus_health(url: str) -> tuple[list[str], int]:
    try:
        targets = servers.get_json(f"{url}/api/v1/targets?state=active")["data"]["activeTargets"]
        ams = servers.get_json(f"{url}/api/v1/alertmanagers")["data"]["activeAlertmanagers"]
    except (OSError, ValueError, KeyError):
        return ["(Prometheus not answering)"], 0
    down_targets = [
        f"{t['scrapeUrl']} ({t['health']}: {t.get('lastError') or 'not scraped yet'})"
        for t in targets
        if t["health"] != "up"
    ]
    return down_targets, len(ams)


def _how_it_ended(pid: int) -> str:
    """The exit status or the signal of a child this process started (an empty log alone
    cannot tell a crash from a kill)."""
    proc = _CHILDREN.get(pid)
    code = None
    if proc is not None:
        with contextlib.suppress(subprocess.TimeoutExpired):
            code = proc.wait(2.0)  # it may be still on its way out
    if code is None:
        return "status unknown"
    if code < 0:
        return f"killed by {signal.Signals(-code).name}"
    return f"exit status {code}"


def _alive(p: dict[str, Any]) -> bool:
    """The pid runs and is still the process we started (pids are reused)."""
    child = _CHILDREN.get(p["pid"])
    if child is not None:
        # Our own child: its pid cannot be reused before we reap it, so poll() decides. Its
        # /proc cmdline can read empty just after Popen returns: the kernel closes the
        # close-on-exec pipe Popen waits on before it sets up the new program's arguments.
        return child.poll() is None
    try:
        cmdline = Path(f"/proc/{p['pid']}/cmdline").read_bytes().split(b"\0")
    except OSError:
        return False
    try:
        status = Path(f"/proc/{p['pid']}/status").read_text()
    except OSError:
        return False
    if "\nState:\tZ" in status:
        return False
    argv: list[str] = p["argv"]
    return [c.decode(errors="replace") for c in cmdline if c][: len(argv)] == argv


def status(root: Path) -> list[dict[str, Any]]:
    state = _state(root)
    if state is None:
        raise StackError(f"no stack in {root}: `globalmon stack up --dir {root}`")
    rows = []
    for p in state["procs"]:
        alive = _alive(p)
        ok = alive and _answers(p["url"] + p["ready"])
        rows.append({**p, "alive": alive, "ready_now": ok})
    return rows


def table(rows: list[dict[str, Any]]) -> str:
    lines = [f"{'process':<30} {'state':<8} {'pid':>7}  url"]
    for r in rows:
        state = "ready" if r.get("ready_now", True) else ("running" if r["alive"] else "stopped")
        lines.append(f"{r['name']:<30} {state:<8} {r['pid']:>7}  {r['url']}")
    return "\n".join(lines)


def down(root: Path, say: Say = _say, grace: float = 10.0) -> int:
    """Stop what the stack started; returns how many processes were stopped."""
    state = _state(root)
    if state is None:
        raise StackError(f"no stack in {root}")
    running = [p for p in state["procs"] if _alive(p)]
    for p in reversed(running):
        with contextlib.suppress(ProcessLookupError):
            os.killpg(p["pid"], signal.SIGTERM)
    deadline = time.monotonic() + grace
    for p in running:
        while _alive(p) and time.monotonic() < deadline:
            time.sleep(0.1)
        if _alive(p):
            with contextlib.suppress(ProcessLookupError):
                os.killpg(p["pid"], signal.SIGKILL)
    for p in running:  # reap the ones this process started
        child = _CHILDREN.pop(p["pid"], None)
        if child is not None:
            child.wait(grace)
    (root / STATE).unlink(missing_ok=True)
    say(f"stopped {len(running)} processes")
    return len(running)


def world_url(root: Path) -> str:
    state = _state(root)
    if state is None:
        raise StackError(f"no stack in {root}")
    return str(next(p["url"] for p in state["procs"] if p["kind"] == "world"))


def procs(root: Path) -> list[dict[str, Any]]:
    state = _state(root)
    if state is None:
        raise StackError(f"no stack in {root}: `globalmon stack up --dir {root}`")
    result: list[dict[str, Any]] = state["procs"]
    return result


def token(root: Path, name: str) -> str:
    return (root / "secrets" / name).read_text()
