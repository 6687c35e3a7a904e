"""prometheus-operator's resource specs as JSON Schemas, made at test time from the npm package
@kubernetes-models/prometheus-operator (TypeScript types generated from the operator's CRDs) with
ts-json-schema-generator, which forbids fields a type does not declare. Nothing is committed:
the result is cached under .cache/ (ignored by git).
"""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path
from typing import Any

from tests.rules_generator.grafana_schema import GENERATOR

MODELS = "@kubernetes-models/prometheus-operator@6.0.0"
BASE = "node_modules/@kubernetes-models/prometheus-operator/monitoring.coreos.com"
# kind -> (apiVersion, the spec's TypeScript type)
KINDS = {
    "ServiceMonitor": ("monitoring.coreos.com/v1", "v1/ServiceMonitorSpec", "IServiceMonitorSpec"),
    "PodMonitor": ("monitoring.coreos.com/v1", "v1/PodMonitorSpec", "IPodMonitorSpec"),
    "ScrapeConfig": (
        "monitoring.coreos.com/v1alpha1",
        "v1alpha1/ScrapeConfigSpec",
        "IScrapeConfigSpec",
    ),
}


def spec_schemas(cache: Path) -> dict[str, tuple[str, dict[str, Any]]]:
    """kind -> (apiVersion, JSON Schema of its spec); raises FileNotFoundError without npm."""
    out: dict[str, tuple[str, dict[str, Any]]] = {}
    for kind, (api, path, type_) in KINDS.items():
        target = cache / f"{kind}.schema.json"
        if not target.is_file():
            npm = shutil.which("npm")
            if npm is None:
                raise FileNotFoundError("npm is not on PATH")
            cache.mkdir(parents=True, exist_ok=True)
            if not (cache / BASE).is_dir():
                (cache / "package.json").write_text('{"private": true}\n')
                subprocess.run(
                    [npm, "install", "--no-audit", "--no-fund", "--silent", MODELS, GENERATOR],
                    cwd=cache,
                    check=True,
                    capture_output=True,
                    timeout=300,
                )
            tmp = target.with_suffix(".tmp")
            subprocess.run(
                [
                    str(cache / "node_modules" / ".bin" / "ts-json-schema-generator"),
                    "--path",
                    f"{BASE}/{path}.d.ts",
                    "--type",
                    type_,
                    "--no-type-check",
                    "-o",
                    str(tmp),
                ],
                cwd=cache,
                check=True,
                capture_output=True,
                timeout=300,
            )
            tmp.replace(target)
        out[kind] = (api, json.loads(target.read_text()))
    return out
