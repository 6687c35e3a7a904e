"""Spec paths: tuples of keys and list indexes, printed as ``regions[0].agents[2].id``."""

from __future__ import annotations

import re

PathPart = str | int
Path = tuple[PathPart, ...]
ROOT_NAME = "(document)"
_PLAIN_KEY = re.compile(r"^[A-Za-z_][A-Za-z0-9_-]*$")


def format_path(path: Path) -> str:
    """``("regions", 0, "id")`` -> ``regions[0].id``; odd keys are quoted: ``labels["a b"]``."""
    out = ""
    for part in path:
        if isinstance(part, int):
            out += f"[{part}]"
        elif _PLAIN_KEY.fullmatch(part):
            out += f".{part}" if out else part
        else:
            out += f'["{part}"]'
    return out or ROOT_NAME
