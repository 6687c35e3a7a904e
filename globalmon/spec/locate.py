"""Where each value of a YAML document stands, so errors can name a line and a column.

``yaml.safe_load`` forgets positions; we compose the node tree once, record the position of every
key and value by path, and build the Python data from the same nodes.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

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


class Constructor(yaml.SafeLoader):
    """PyYAML's safe constructor whose every failure is a ConstructorError at the node.

    PyYAML raises plain ValueError, KeyError or AttributeError for a bad ``!!int``, ``!!bool``,
    ``!!timestamp`` or an integer of more digits than Python converts; those are the user's
    mistakes and must come back as FILE:LINE:COL like any other YAML error.
    """

    def __init__(self) -> None:
        super().__init__("")

    def construct_object(self, node: Node, deep: bool = False) -> Any:
        try:
            return super().construct_object(node, deep=deep)
        except yaml.YAMLError:
            raise
        except RecursionError:
            raise
        except (ValueError, LookupError, AttributeError, TypeError, ArithmeticError):
            tag = node.tag.rsplit(":", 1)[-1]
            shown = repr(node.value)[:40] if isinstance(node, ScalarNode) else "this value"
            expected = _TAG_EXPECTED.get(tag, f"a value that !!{tag} can read")
            raise yaml.constructor.ConstructorError(
                None, None, f"!!{tag} {shown}; expected {expected}", node.start_mark
            ) from None


_TAG_EXPECTED = {
    "int": "a whole number of at most 4300 digits",
    "float": "a number such as 1.5 or 1e3",
    "bool": "true or false",
    "timestamp": "a date such as 2024-01-31 or 2024-01-31T12:00:00Z",
    "binary": "base64 text",
}


def merged_pairs(node: MappingNode) -> list[tuple[Node, Node]]:
    """The mapping's own pairs, then those its merge keys (``<<: *base``) bring, nested merges
    included, each mapping once (an anchor may name a mapping that merges itself)."""
    own: list[tuple[Node, Node]] = []
    brought: list[tuple[Node, Node]] = []
    seen = {id(node)}
    pending: list[MappingNode] = []

    def take(n: MappingNode, into: list[tuple[Node, Node]]) -> None:
        for key_node, value_node in n.value:
            if key_node.tag == MERGE_TAG:
                values = value_node.value if isinstance(value_node, SequenceNode) else [value_node]
                for v in values:
                    if isinstance(v, MappingNode) and id(v) not in seen:
                        seen.add(id(v))
                        pending.append(v)
            else:
                into.append((key_node, value_node))

    take(node, own)
    while pending:
        take(pending.pop(0), brought)
    return own + brought


class _Indexer:
    def __init__(self) -> None:
        self.out = Positions()
        self.visited = 0
        self._constructor = Constructor()

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
        own = sum(1 for k, _ in node.value if k.tag != MERGE_TAG)
        # Merged keys (<<: *base) stand where the anchor was written; explicit keys win.
        for i, (key_node, value_node) in enumerate(merged_pairs(node)):
            key = self.key_of(key_node)
            child = (*path, key)
            if key in seen:
                if i < own:
                    self.out.duplicates.append((child, seen[key], pos_of(key_node)))
                continue
            seen[key] = pos_of(key_node)
            self.out.keys.setdefault(child, pos_of(key_node))
            self.walk(value_node, child)


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
