"""A daemon that accepts writes must not run open by omission: with no token in the spec it
refuses to start (exit 2, naming the credential) unless --insecure-no-auth says so, and then it
warns loudly and the writes it accepts are open to anyone, as asked."""

from __future__ import annotations

import json
import sys
import urllib.request
from pathlib import Path

import pytest

from globalmon.cli import main
from local_stack import servers

SPEC = """\
version: v1
global:
  webhook_url: http://127.0.0.1:{port}
regions:
  - id: local
    name: Local
    prometheus_urls: [http://127.0.0.1:9090]
    endpoints: {{registry_url: "http://127.0.0.1:{port}/api/v1/registry/targets"}}
plugins:
  - {{id: payments, owner: team-x}}
"""

DAEMONS = [
    (["webhook"], "webhook_token"),
    (["registry"], "registry_token"),
    (["plugin-exporter"], "ingest_token"),
]


def _spec(tmp_path: Path, port: int = 1) -> str:
    path = tmp_path / "open.yaml"
    path.write_text(SPEC.format(port=port))
    return str(path)


@pytest.mark.parametrize(("command", "field"), DAEMONS, ids=[d[0][0] for d in DAEMONS])
def test_no_token_refuses_to_start_naming_it(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], command: list[str], field: str
) -> None:
    args = [*command, "--spec", _spec(tmp_path), "--db", str(tmp_path / "x.db")]
    assert main(args) == 2
    err = capsys.readouterr().err
    assert f"no global.credentials.{field} in the spec" in err
    assert "--insecure-no-auth" in err


@pytest.mark.parametrize("log_format", ["logfmt", "json"])
def test_insecure_no_auth_starts_warns_and_is_open(tmp_path: Path, log_format: str) -> None:
    port = servers.free_port()
    argv = [
        sys.executable, "-m", "globalmon", "registry", "--spec", _spec(tmp_path, port),
        "--db", str(tmp_path / "r.db"), "--web.listen-address", f"127.0.0.1:{port}",
        "--insecure-no-auth", "--log.format", log_format,
    ]  # fmt: skip
    registry = servers.Server("registry", argv, port, tmp_path / "registry").start()
    try:
        registry.wait_ready(path="/metrics")
        body = {"region": "local", "agent": "a", "agent_type": "system", "address": "h:1"}
        request = urllib.request.Request(
            f"{registry.url}/api/v1/registry/targets",
            data=json.dumps(body).encode(),
            headers={"Content-Type": "application/json"},
        )
        with urllib.request.urlopen(request, timeout=10) as resp:  # no credentials at all
            assert resp.status == 200
    finally:
        registry.stop()
    [line] = [x for x in registry.log_path.read_text().splitlines() if "WITHOUT AUTH" in x]
    if log_format == "json":  # one JSON object a line, as Prometheus' --log.format=json
        record = json.loads(line)
        assert (record["level"], record["component"]) == ("warn", "registry")
        assert record["msg"].startswith("running WITHOUT AUTHENTICATION (--insecure-no-auth)")
    else:
        assert ' level=warn component=registry msg="running WITHOUT AUTHENTICATION' in line
        assert line.startswith("ts=")
