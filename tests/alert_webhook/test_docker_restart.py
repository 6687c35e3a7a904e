"""`docker_restart` against a real dockerd: started here with its own data dir and socket
(``--bridge=none --iptables=false``), an image made locally from a static busybox."""

from __future__ import annotations

import contextlib
import io
import os
import shutil
import subprocess
import tarfile
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from local_stack import servers
from tests.alert_webhook.fixtures import (
    T0,
    Clock,
    Mailbox,
    Sink,
    alert,
    open_harness,
    payload,
    spec_text,
)

pytestmark = [pytest.mark.integration, pytest.mark.usefixtures("env_secrets")]
IMAGE = "globalmon-test-busybox:1"
BUSYBOX = Path("/bin/busybox")


def _unavailable(reason: str) -> None:
    message = f"no real dockerd: {reason} (make test installs docker.io and busybox-static)"
    if servers.in_ci():
        pytest.fail(message)
    pytest.skip(message)


@pytest.fixture(scope="module")
def dockerd() -> Iterator[str]:
    """The unix:// address of a dockerd of our own, with the test image imported."""
    import docker  # type: ignore[import-untyped]

    binary = shutil.which("dockerd")
    if binary is None:
        _unavailable("dockerd is not installed")
    if not BUSYBOX.exists():
        _unavailable(f"{BUSYBOX} is missing")
    if os.geteuid() != 0:
        _unavailable("dockerd needs root")
    assert binary is not None
    root = Path(tempfile.mkdtemp(prefix="gm-docker-"))
    socket = root / "docker.sock"
    log = (root / "dockerd.log").open("wb")
    proc = subprocess.Popen(
        [binary, "--bridge=none", "--iptables=false", "--ip6tables=false",
         f"--data-root={root / 'data'}", f"--exec-root={root / 'exec'}",
         f"--pidfile={root / 'docker.pid'}", f"--host=unix://{socket}"],
        stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
    )  # fmt: skip
    address = f"unix://{socket}"
    try:

        def up() -> bool | None:
            if proc.poll() is not None:
                raise AssertionError((root / "dockerd.log").read_text()[-3000:])
            if not socket.exists():
                return None
            # a fixed API version: the client then connects only in ping(), whose failure
            # we can clean up after (a failed version probe leaks its socket)
            client = docker.DockerClient(base_url=address, version="1.41", timeout=5)
            try:
                return bool(client.ping())
            except docker.errors.DockerException:
                return None
            finally:
                client.close()

        servers.wait_for(up, timeout=60, what="dockerd")
        tar = io.BytesIO()
        with tarfile.open(fileobj=tar, mode="w") as t:
            t.add(BUSYBOX, arcname="bin/busybox")
        client = docker.DockerClient(base_url=address)
        client.api.import_image_from_data(tar.getvalue(), repository=IMAGE.split(":")[0], tag="1")
        client.close()
        yield address
    finally:
        proc.terminate()
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        log.close()
        with contextlib.suppress(OSError):
            shutil.rmtree(root, ignore_errors=True)


ACTION = """
  - name: restart-container
    type: docker_restart
    matchers: ['alertname="ContainerSick"']
    container: "{{{{ labels.service }}}}-{{{{ labels.region }}}}"
    docker_host: "{address}"
    guardrails: {{timeout: 5s}}
"""


async def test_docker_restart_restarts_the_container_the_alert_names(
    aiohttp_client: Any, tmp_path: Path, sink: Sink, mailbox: tuple[Mailbox, int], dockerd: str
) -> None:
    import docker

    client = docker.DockerClient(base_url=dockerd)
    container = client.containers.run(
        IMAGE, ["/bin/busybox", "sleep", "3600"], name="api-eu-west-1", network_mode="none",
        detach=True,
    )  # fmt: skip
    try:
        container.reload()
        started = container.attrs["State"]["StartedAt"]
        text = spec_text(sink.url, mailbox[1], tmp_path) + ACTION.format(address=dockerd)
        h, store = await open_harness(aiohttp_client, tmp_path, text, Clock())
        await h.post(payload(alert("ContainerSick", starts=T0, service="api")))
        # a label that would name some other thing is refused, never passed on
        await h.post(payload(alert("ContainerSick", starts=T0, service="x; docker rm -f api")))
        # a container that does not exist fails, and escalates at once
        await h.post(payload(alert("ContainerSick", starts=T0, service="ghost")))
        await h.tick()
        await h.tick()

        container.reload()
        assert container.status == "running"
        assert container.attrs["State"]["StartedAt"] != started
        ok = await h.get("/api/v1/incidents/1")
        assert [(a["state"], a["target"]) for a in ok["actions"]] == [
            ("succeeded", "api-eu-west-1")
        ]
        hostile = await h.get("/api/v1/incidents/2")
        assert hostile["actions"][0]["state"] == "refused"
        ghost = await h.get("/api/v1/incidents/3")
        assert ghost["actions"][0]["state"] == "failed"
        assert "escalate_now" in [e["kind"] for e in ghost["timeline"]]
        store.close()
    finally:
        container.remove(force=True)
        client.close()
