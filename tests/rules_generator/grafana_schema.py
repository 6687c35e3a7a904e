"""Grafana's dashboard JSON Schema, made at test time from the npm package @grafana/schema.

ts-json-schema-generator turns the package's TypeScript `Dashboard` type into a JSON Schema.
Nothing is committed: the result is cached under .cache/ (ignored by git).
"""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path
from typing import Any

GRAFANA_SCHEMA = "@grafana/schema@11.6.7"
GENERATOR = "ts-json-schema-generator@2.9.0"
TYPES = "node_modules/@grafana/schema/dist/esm/raw/dashboard/x/dashboard_types.gen.d.ts"


def dashboard_schema(cache: Path) -> dict[str, Any]:
    """Build (once) and load the schema; raises FileNotFoundError when npm is missing."""
    out = cache / "dashboard.schema.json"
    if not out.is_file():
        npm = shutil.which("npm")
        if npm is None:
            raise FileNotFoundError("npm is not on PATH")
        cache.mkdir(parents=True, exist_ok=True)
        (cache / "package.json").write_text('{"private": true}\n')
        subprocess.run(
            [npm, "install", "--no-audit", "--no-fund", "--silent", GRAFANA_SCHEMA, GENERATOR],
            cwd=cache,
            check=True,
            capture_output=True,
            timeout=300,
        )
        tmp = cache / "dashboard.schema.json.tmp"
        subprocess.run(
            [
                str(cache / "node_modules" / ".bin" / "ts-json-schema-generator"),
                "--path",
                TYPES,
                "--type",
                "Dashboard",
                "--no-type-check",
                "-o",
                str(tmp),
            ],
            cwd=cache,
            check=True,
            capture_output=True,
            timeout=300,
        )
        tmp.replace(out)
    schema: dict[str, Any] = json.loads(out.read_text())
    return schema
