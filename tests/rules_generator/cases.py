"""Generator cases: each spec with the directory holding its committed output."""

from __future__ import annotations

from pathlib import Path

REPO = Path(__file__).resolve().parent.parent.parent
GOLDEN = REPO / "tests" / "golden"

# (name, spec, committed output directory)
CASES: list[tuple[str, Path, Path]] = [
    ("example_regions", REPO / "examples" / "regions.yaml", REPO / "examples" / "_gen" / "regions"),
    ("example_minimal", REPO / "examples" / "minimal.yaml", REPO / "examples" / "_gen" / "minimal"),
    *((d.name, d / "in.yaml", d / "out") for d in sorted(GOLDEN.iterdir()) if d.is_dir()),
]
