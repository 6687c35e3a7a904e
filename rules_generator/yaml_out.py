"""YAML text of generated data, the same bytes as PyYAML's block style, several times faster.

PyYAML's C emitter still builds a node per value in Python (its representer), which made
``generate`` of a fleet-sized spec spend most of its time there. Generated data is plain: dicts
with string keys, lists, strings, numbers, booleans and None, shared dicts for repeated label
sets. This walks that data once and asks PyYAML only how each distinct scalar is written
(memoised), so quoting stays PyYAML's own. Anything else (a key that needs ``? ``, a shared
object where an anchor is not a mapping value, a scalar PyYAML folds over lines, a literal
block that keeps trailing newlines) falls back to ``yaml.dump`` for the whole document:
the output is PyYAML's in every case (a property test compares the two).
"""

from __future__ import annotations

import math
import re
from functools import lru_cache
from typing import Any

import yaml

WIDTH = 10_000


# libyaml's emitter is ~30x faster than PyYAML's own; PyPI's wheels ship it.
class _Dumper(getattr(yaml, "CSafeDumper", yaml.SafeDumper)):  # type: ignore[misc]
    pass


def _str(dumper: yaml.SafeDumper, value: str) -> yaml.ScalarNode:
    style = "|" if "\n" in value else None
    return dumper.represent_scalar("tag:yaml.org,2002:str", value, style=style)


_Dumper.add_representer(str, _str)


def pyyaml(data: Any) -> str:
    """The reference: PyYAML with the generator's settings."""
    text: str = yaml.dump(data, Dumper=_Dumper, sort_keys=False, width=WIDTH, allow_unicode=True)
    return text


class _Fallback(Exception):
    """This document has something the fast path does not write; PyYAML writes all of it."""


_SCALARS = (str, int, float, bool, type(None))
_SCALAR_TYPES = frozenset(_SCALARS)


@lru_cache(maxsize=65_536)
def _key(key: str) -> str:
    text = pyyaml({key: None})
    if not text.endswith(": null\n") or text.startswith("? ") or text.count("\n") != 1:
        raise _Fallback
    return text[: -len(": null\n")]


# A string PyYAML surely writes plain in block style: printable ASCII starting with a letter
# or "(" (no implicit type starts so, but the words below), no ": ", " #", trailing ":" or
# space, short of the line width. Everything else asks PyYAML.
_PLAIN = re.compile(r"[A-Za-z(][\x20-\x7e]{0,4000}")
_WORDS = frozenset(  # YAML 1.1's booleans and null, as PyYAML's resolver spells them
    w
    for b in ("yes", "no", "true", "false", "on", "off", "null")
    for w in (b, b.title(), b.upper())
)


def _plain(value: str) -> bool:
    return (
        _PLAIN.fullmatch(value) is not None
        and value[-1] not in " :"
        and ": " not in value
        and " #" not in value
        and value not in _WORDS
    )


@lru_cache(maxsize=262_144)
def _scalar(value: str | int | float | bool | None, kind: str) -> tuple[str, ...]:
    """``value`` as written after ``k: `` at indent 0: its first line, then the block's lines.

    ``kind`` keeps 1, 1.0 and True apart in the cache (they are equal and hash alike), and
    0.0 and -0.0.
    """
    if isinstance(value, str) and _plain(value):
        return (value,)
    text = pyyaml({"k": value})[len("k: ") :]
    if any(br in text for br in "\x85\u2028\u2029"):  # YAML line breaks: indented by PyYAML
        raise _Fallback
    lines = text.split("\n")[:-1]
    if len(lines) == 1:
        return (lines[0],)
    head = lines[0]
    if head[:1] != "|" or "+" in head:  # a folded flow scalar, or a block keeping its breaks
        raise _Fallback
    return tuple(lines)


class _Writer:
    def __init__(self, data: Any) -> None:
        self.out: list[str] = []
        self.anchors: dict[int, str | None] = {}
        self.written: set[int] = set()
        self.last = 0
        self.keys: dict[str, str] = {}
        self.scalars: dict[object, tuple[str, ...]] = {}  # str by itself, else (value, type)
        self._anchor(data)

    def _anchor(self, node: Any) -> None:
        """PyYAML's numbering: a shared node is named when it is met the second time."""
        if type(node) in _SCALAR_TYPES:
            return
        ident = id(node)
        if ident in self.anchors:
            if self.anchors[ident] is None:
                self.last += 1
                self.anchors[ident] = f"id{self.last:03d}"
            return
        self.anchors[ident] = None
        if isinstance(node, dict):
            for value in node.values():
                if type(value) not in _SCALAR_TYPES:
                    self._anchor(value)
        elif isinstance(node, list):
            for item in node:
                if type(item) not in _SCALAR_TYPES:
                    self._anchor(item)
        else:
            raise _Fallback

    def lines(self, value: Any) -> tuple[str, ...]:
        kind = type(value).__name__
        if kind == "float" and value == 0 and math.copysign(1.0, value) < 0:
            kind = "-0.0"  # equal to 0.0 and hashed alike, but written "-0.0"
        memo = value if kind == "str" else (value, kind)
        got = self.scalars.get(memo)
        if got is None:
            got = self.scalars[memo] = _scalar(value, kind)
        return got

    def key(self, key: Any) -> str:
        got = self.keys.get(key)
        if got is None:
            if type(key) is not str:
                raise _Fallback
            got = self.keys[key] = _key(key)
        return got

    def scalar(self, value: Any, indent: int) -> None:
        lines = self.lines(value)
        self.out.append(" " + lines[0] + "\n")
        pad = " " * indent
        for line in lines[1:]:
            self.out.append(pad + line + "\n" if line else "\n")

    def value(self, value: Any, indent: int) -> None:
        """What follows ``key:`` of a mapping at ``indent``."""
        if isinstance(value, _SCALARS):
            self.scalar(value, indent)
            return
        anchor = self.anchors[id(value)]
        if anchor is not None:
            if id(value) in self.written:
                self.out.append(f" *{anchor}\n")
                return
            self.written.add(id(value))
            self.out.append(f" &{anchor}")
        if not value:
            self.out.append(" {}\n" if isinstance(value, dict) else " []\n")
        elif isinstance(value, dict):
            self.out.append("\n")
            self.mapping(value, indent + 2, first=" " * (indent + 2))
        else:
            self.out.append("\n")
            self.sequence(value, indent, first=" " * indent)

    def _unshared(self, node: Any) -> None:
        if self.anchors.get(id(node)) is not None:
            raise _Fallback

    def mapping(self, data: dict[Any, Any], indent: int, first: str) -> None:
        out, pad, rest = self.out, first, " " * indent
        for key, value in data.items():
            if type(value) in _SCALAR_TYPES:  # inline: most values are one-line scalars
                lines = self.lines(value)
                out.append(f"{pad}{self.key(key)}: {lines[0]}\n")
                if len(lines) > 1:
                    out.extend(rest + line + "\n" if line else "\n" for line in lines[1:])
            else:
                out.append(pad + self.key(key) + ":")
                self.value(value, indent)
            pad = rest

    def sequence(self, data: list[Any], indent: int, first: str) -> None:
        pad = first
        for item in data:
            self.out.append(pad + "-")
            if isinstance(item, _SCALARS):
                self.scalar(item, indent)
            else:
                self._unshared(item)
                if not item:
                    self.out.append(" {}\n" if isinstance(item, dict) else " []\n")
                elif isinstance(item, dict):
                    self.mapping(item, indent + 2, first=" ")
                else:
                    self.sequence(item, indent + 2, first=" ")
            pad = " " * indent


def dump(data: Any) -> str:
    """``data`` as PyYAML writes it with the generator's settings (block style, no key sort)."""
    if not isinstance(data, dict) or not data:
        return pyyaml(data)
    try:
        writer = _Writer(data)
        writer._unshared(data)
        writer.mapping(data, 0, first="")
    except _Fallback:
        return pyyaml(data)
    return "".join(writer.out)
