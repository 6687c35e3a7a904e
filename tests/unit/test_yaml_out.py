"""The generator's YAML writer gives PyYAML's bytes for every input, and its fast path is taken."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from globalmon.spec import load_spec
from rules_generator import yaml_out
from rules_generator.build import region_groups
from rules_generator.prometheus_config import region_config
from rules_generator.render_rules import rule_file

REPO = Path(__file__).resolve().parents[2]
SHARED = ("<shared-1>", "<shared-2>")
TRICKY = [
    *sorted(yaml_out._WORDS),
    "",
    " ",
    "~",
    "1",
    "-1",
    "1.0",
    "1e3",
    "0x1F",
    "0o7",
    ".inf",
    ".NaN",
    "2001-12-14",
    "1:20",
    "<<",
    "=",
    "- a",
    "? a",
    "a: b",
    "a #b",
    "a#b",
    "a:",
    "a: ",
    "#a",
    "&a",
    "*a",
    "!a",
    "|",
    ">",
    "%a",
    "@a",
    "`a",
    "'a'",
    '"a"',
    "{a}",
    "[a]",
    "a,b",
    "line\n",
    "line\n\n",
    "\nlead",
    " lead\nx",
    "x\n y\n",
    "tab\tin",
    "trail \nx",
    "é",
    "a\x85b",
    "a\u2028b",
    "\x07",
    'sum(rate(x{job="a", code=~"5.."}[5m])) > 0.5',
    "(a) or vector(0)",
    "x" * 5000,
    "y " * 2600,
]
ALPHABET = st.sampled_from([*"aZ09 :#-?\n\t\"'|>&*!%@`{}[],.~=<é\x85\u2028"])
strings = st.one_of(st.sampled_from(TRICKY), st.text(ALPHABET, max_size=12))
scalars = st.one_of(
    strings,
    st.integers(),
    st.floats(allow_nan=True),
    st.booleans(),
    st.none(),
    st.sampled_from(SHARED),
    st.sampled_from(SHARED),
)
trees = st.recursive(
    scalars,
    lambda inner: st.one_of(
        st.lists(inner, max_size=4),
        st.dictionaries(strings, inner, max_size=4),
    ),
    max_leaves=25,
)


def _share(node: Any, shared: dict[str, Any]) -> Any:
    """Each SHARED leaf becomes its one object: PyYAML writes anchors and aliases for them."""
    if isinstance(node, str) and node in shared:
        return shared[node]
    if isinstance(node, dict):
        return {k: _share(v, shared) for k, v in node.items()}
    if isinstance(node, list):
        return [_share(v, shared) for v in node]
    return node


def _container(node: Any) -> Any:
    return node if isinstance(node, dict | list) else {"region": node}


@settings(max_examples=600, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.dictionaries(strings, trees, min_size=1, max_size=5),
    st.tuples(trees, trees),
    st.lists(st.sampled_from(SHARED), max_size=4),
)
def test_same_bytes_as_pyyaml(data: dict[str, Any], objects: Any, tail: list[str]) -> None:
    """Random documents, with two objects met more than once (as label sets are in configs)."""
    shared = {name: _container(o) for name, o in zip(SHARED, objects, strict=True)}
    doc = _share(data, shared)
    for i, name in enumerate(tail):  # shared mapping values, the case the fast path writes
        doc[f"tail-{i}"] = {"labels": shared[name]}
    assert yaml_out.dump(doc) == yaml_out.pyyaml(doc)


@settings(max_examples=400, deadline=None)
@given(strings)
def test_the_plain_shortcut_agrees_with_pyyaml(text: str) -> None:
    if yaml_out._plain(text):
        assert yaml_out.pyyaml({"k": text}) == f"k: {text}\n"


def test_generated_files_take_the_fast_path(monkeypatch: Any) -> None:
    spec = load_spec(REPO / "examples" / "regions.yaml")
    region = spec.regions[0]
    docs = [rule_file(region_groups(spec, region)), region_config(spec, region, "/s")]
    whole: list[Any] = []
    reference = yaml_out.pyyaml

    def spy(data: Any) -> str:
        if any(data is d for d in docs):
            whole.append(data)
        return reference(data)

    monkeypatch.setattr(yaml_out, "pyyaml", spy)
    for doc in docs:
        text = yaml_out.dump(doc)
        assert yaml.safe_load(text) == doc
    assert whole == []  # no document fell back to PyYAML as a whole


def test_zero_and_negative_zero_are_written_apart() -> None:
    """0.0 and -0.0 are equal and hash alike: a cache keyed by value alone wrote whichever it
    met first (hypothesis found it)."""
    for doc in ({"a": 0.0, "b": -0.0}, {"a": -0.0, "b": 0.0}):
        assert yaml_out.dump(doc) == yaml_out.pyyaml(doc)
    assert yaml_out.dump({"a": -0.0}) == yaml_out.pyyaml({"a": -0.0}) == "a: -0.0\n"
