"""The one writer: put generated files in place, or (--check) say how the directory differs."""

from __future__ import annotations

import difflib
from pathlib import Path

from rules_generator.generate import MANAGED


def _existing(root: Path) -> set[str]:
    found: set[str] = set()
    for folder in MANAGED:
        base = root / folder
        if base.is_dir():
            found |= {p.relative_to(root).as_posix() for p in base.rglob("*") if p.is_file()}
    return found


def write(root: Path, files: dict[str, str]) -> list[str]:
    """Write ``files`` under ``root``; remove stale files in managed folders. Returns changes."""
    changed = []
    for rel, text in files.items():
        path = root / rel
        if path.is_file() and path.read_text(encoding="utf-8") == text:
            continue
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(path.name + ".tmp")
        tmp.write_text(text, encoding="utf-8")
        tmp.replace(path)  # readers never see half a file
        changed.append(rel)
    for rel in sorted(_existing(root) - set(files)):
        (root / rel).unlink()
        changed.append(f"{rel} (removed)")
    return changed


def diff(root: Path, files: dict[str, str]) -> str:
    """A unified diff from what is under ``root`` to ``files``; empty when up to date."""
    chunks: list[str] = []
    for rel in sorted(set(files) | _existing(root)):
        path = root / rel
        old = path.read_text(encoding="utf-8") if path.is_file() else ""
        new = files.get(rel, "")
        if old != new:
            chunks += difflib.unified_diff(
                old.splitlines(keepends=True),
                new.splitlines(keepends=True),
                fromfile=f"a/{rel}",
                tofile=f"b/{rel}",
            )
    return "".join(chunks)
