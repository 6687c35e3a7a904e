"""Where each value of a YAML document stands, so errors can name a line and a column.

``yaml.safe_load`` forgets positions; we compose the node tree once, record the position of every
key and value by path, and build the Python data from the same nodes.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import yaml
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

from globalmon.spec.paths import Path, PathPart, format_path

MERGE_TAG = "tag:yaml.org,2002:merge"
# Aliases let a small file expand into a huge tree ("billion laughs"); refuse past this many nodes.
MAX_NODES = 200_000


@dataclass(frozen=True)
class Pos:
    """1-based line and column."""

    line: int
    col: int


def pos_of(node: Node) -> Pos:
    return Pos(node.start_mark.line + 1, node.start_mark.column + 1)


@dataclass
class Positions:
    """Positions of values and of mapping keys, by path; problems found while indexing."""

    values: dict[Path, Pos] = field(default_factory=dict)
    keys: dict[Path, Pos] = field(default_factory=dict)
    duplicates: list[tuple[Path, Pos, Pos]] = field(default_factory=list)
    too_large: bool = False

    def find(self, path: Path, *, key: bool = False) -> Pos:
        """Position of ``path`` (its key when ``key``), else of the nearest enclosing value."""
        if key and path in self.keys:
            return self.keys[path]
        for n in range(len(path), -1, -1):
            if path[:n] in self.values:
                return self.values[path[:n]]
        return Pos(1, 1)


class _Indexer:
    def __init__(self) -> None:
        self.out = Positions()
        self.visited = 0
        self._constructor = yaml.SafeLoader("")

    def key_of(self, node: Node) -> PathPart:
        if isinstance(node, ScalarNode):
            value = self._constructor.construct_object(node)
            if isinstance(value, int) and not isinstance(value, bool):
                return value
            return str(value)
        return f"<{type(node).__name__} key>"

    def walk(self, node: Node, path: Path) -> None:
        self.visited += 1
        if self.visited > MAX_NODES:
            self.out.too_large = True
            return
        self.out.values.setdefault(path, pos_of(node))
        if isinstance(node, MappingNode):
            self.walk_mapping(node, path)
        elif isinstance(node, SequenceNode):
            for i, item in enumerate(node.value):
                self.walk(item, (*path, i))

    def walk_mapping(self, node: MappingNode, path: Path) -> None:
        seen: dict[PathPart, Pos] = {}
        merged: list[MappingNode] = []
        for key_node, value_node in node.value:
            if key_node.tag == MERGE_TAG:
                values = value_node.value if isinstance(value_node, SequenceNode) else [value_node]
                merged.extend(v for v in values if isinstance(v, MappingNode))
                continue
            key = self.key_of(key_node)
            child = (*path, key)
            if key in seen:
                self.out.duplicates.append((child, seen[key], pos_of(key_node)))
                continue
            seen[key] = pos_of(key_node)
            self.out.keys[child] = pos_of(key_node)
            self.walk(value_node, child)
        # Merged keys (<<: *base) stand where the anchor was written; explicit keys win.
        for m in merged:
            for key_node, value_node in m.value:
                key = self.key_of(key_node)
                if key not in seen:
                    seen[key] = pos_of(key_node)
                    self.out.keys.setdefault((*path, key), pos_of(key_node))
                    self.walk(value_node, (*path, key))


def index_positions(root: Node) -> Positions:
    """Positions of every key and value below ``root``, and duplicate keys."""
    indexer = _Indexer()
    indexer.walk(root, ())
    return indexer.out


def duplicate_message(path: Path, first: Pos) -> tuple[str, str]:
    """(found, expected) for a key written twice in one mapping."""
    return (
        f'the key "{path[-1]}" a second time',
        f"each key once per mapping (first at line {first.line}, {format_path(path)})",
    )
