"""Running recovery actions: the runners, PromQL checks and Alertmanager silences.

Nothing here goes through a shell. Commands are argv lists whose parts are sandboxed templates;
the alert's labels and annotations reach the program only as environment variables
(``GLOBALMON_LABEL_<NAME>``, ``GLOBALMON_ANNOTATION_<NAME>``), like prometheus-am-executor's
``AMX_*``. A run past its timeout is killed with its whole process group.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
import signal
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

import aiohttp

from alert_webhook.matching import argv, render_json, target
from globalmon.conventions import ActionState as A
from globalmon.spec.recovery import (
    CommandAction,
    DockerRestartAction,
    HttpAction,
    RecoveryAction,
    SystemdRestartAction,
)
from globalmon.spec.types import duration_seconds

OUTPUT_LIMIT = 4000
_ENV_NAME = re.compile(r"[^A-Z0-9_]")
SYSTEMCTL = "systemctl"


def environment(
    labels: Mapping[str, str], annotations: Mapping[str, str], incident: int, status: str
) -> dict[str, str]:
    """The command's environment: a minimal PATH plus the alert, as data."""
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "LANG": "C.UTF-8"}
    env["GLOBALMON_INCIDENT_ID"] = str(incident)
    env["GLOBALMON_ALERT_STATUS"] = status
    for prefix, values in (("LABEL", labels), ("ANNOTATION", annotations)):
        for k, v in values.items():
            env[f"GLOBALMON_{prefix}_{_ENV_NAME.sub('_', k.upper())}"] = v.replace("\0", "")
    return env


async def run(
    action: RecoveryAction,
    labels: Mapping[str, str],
    annotations: Mapping[str, str],
    *,
    incident: int,
    status: str,
    session: aiohttp.ClientSession,
) -> tuple[str, str]:
    """Run once; (result, detail) with result one of succeeded, failed, timeout, dry_run."""
    timeout = duration_seconds(action.guardrails.timeout)
    if action.guardrails.dry_run:
        return "dry_run", f"would run {action.type}: {target(action, labels, annotations)}"
    if isinstance(action, CommandAction):
        env = environment(labels, annotations, incident, status)
        return await _command(argv(action, labels, annotations), env, timeout)
    if isinstance(action, SystemdRestartAction):
        unit = target(action, labels, annotations)
        return await _command([SYSTEMCTL, "restart", "--", unit], None, timeout)
    if isinstance(action, HttpAction):
        return await _http(action, labels, annotations, session, timeout)
    assert isinstance(action, DockerRestartAction)
    name = target(action, labels, annotations)
    try:
        return await asyncio.wait_for(
            asyncio.to_thread(_docker_restart, action.docker_host, name, timeout), timeout + 5
        )
    except TimeoutError:
        return A.TIMEOUT, f"docker restart {name}: no answer in {timeout + 5:.0f}s"


async def _command(args: list[str], env: dict[str, str] | None, limit: float) -> tuple[str, str]:
    try:
        proc = await asyncio.create_subprocess_exec(
            *args,
            stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.STDOUT,
            env=env,
            start_new_session=True,  # its own process group, so a kill reaches its children
        )
    except OSError as exc:
        return A.FAILED, f"cannot start {args[0]}: {exc.strerror}"
    try:
        out, _ = await asyncio.wait_for(proc.communicate(), limit)
    except TimeoutError:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        await proc.wait()
        return A.TIMEOUT, f"killed after {limit:.0f}s"
    text = out.decode(errors="replace")[-OUTPUT_LIMIT:]
    if proc.returncode == 0:
        return A.SUCCEEDED, text
    return A.FAILED, f"exit {proc.returncode}: {text}"


async def _http(
    action: HttpAction,
    labels: Mapping[str, str],
    annotations: Mapping[str, str],
    session: aiohttp.ClientSession,
    limit: float,
) -> tuple[str, str]:
    body = render_json(action.body, labels, annotations) if action.body is not None else None
    try:
        async with session.request(
            action.method,
            action.url,
            data=body,
            headers={"Content-Type": "application/json"} if body is not None else {},
            timeout=aiohttp.ClientTimeout(total=limit),
        ) as resp:
            text = (await resp.text())[:OUTPUT_LIMIT]
            return (A.SUCCEEDED if resp.status < 300 else A.FAILED), f"HTTP {resp.status}: {text}"
    except TimeoutError:
        return A.TIMEOUT, f"no answer in {limit:.0f}s"
    except aiohttp.ClientError as exc:
        return A.FAILED, f"{type(exc).__name__}: {exc}"


def _docker_restart(host: str | None, name: str, timeout: float) -> tuple[str, str]:
    import docker  # type: ignore[import-untyped]
    from docker.errors import DockerException  # type: ignore[import-untyped]

    try:
        client = docker.DockerClient(base_url=host) if host else docker.from_env()
        try:
            container = client.containers.get(name)
            container.restart(timeout=int(timeout))
            container.reload()
            return A.SUCCEEDED, f"container {name} restarted, now {container.status}"
        finally:
            client.close()
    except DockerException as exc:
        return A.FAILED, f"docker: {exc}"


# --- PromQL checks and silences ------------------------------------------------------------


async def promql_holds(
    session: aiohttp.ClientSession, url: str | None, expr: str
) -> tuple[bool, str]:
    """Whether ``expr`` returns a non-empty result on the Prometheus at ``url``."""
    if url is None:
        return False, "no Prometheus to ask"
    try:
        async with session.get(
            url.rstrip("/") + "/api/v1/query",
            params={"query": expr},
            timeout=aiohttp.ClientTimeout(total=10),
        ) as resp:
            body: dict[str, Any] = await resp.json(content_type=None)
    except (aiohttp.ClientError, TimeoutError, ValueError) as exc:
        return False, f"query failed: {type(exc).__name__}: {exc}"
    if body.get("status") != "success":
        return False, f"query failed: {body.get('error', 'unknown error')}"
    data = body["data"]
    result = data.get("result")
    if data.get("resultType") == "scalar":
        return bool(result and float(result[1])), f"scalar {result}"
    return bool(result), f"{len(result or [])} series"


async def silence(
    session: aiohttp.ClientSession,
    alertmanagers: list[str],
    labels: Mapping[str, str],
    duration: float,
    comment: str,
) -> tuple[str, str] | None:
    """Create a silence for exactly these labels; (alertmanager, id) or None when none took it."""
    now = datetime.now(UTC)
    body = {
        "matchers": [
            {"name": k, "value": v, "isRegex": False, "isEqual": True} for k, v in labels.items()
        ],
        "startsAt": now.isoformat(),
        "endsAt": (now + timedelta(seconds=duration)).isoformat(),
        "createdBy": "globalmon-webhook",
        "comment": comment,
    }
    for am in alertmanagers:  # one member is enough: the cluster gossips silences
        try:
            async with session.post(
                am.rstrip("/") + "/api/v2/silences",
                json=body,
                timeout=aiohttp.ClientTimeout(total=5),
            ) as resp:
                if resp.status == 200:
                    return am, str((await resp.json())["silenceID"])
        except (aiohttp.ClientError, TimeoutError, ValueError, KeyError):
            continue
    return None


async def expire_silence(session: aiohttp.ClientSession, am: str, silence_id: str) -> None:
    with contextlib.suppress(aiohttp.ClientError, TimeoutError):
        async with session.delete(
            f"{am.rstrip('/')}/api/v2/silence/{silence_id}", timeout=aiohttp.ClientTimeout(total=5)
        ):
            pass
