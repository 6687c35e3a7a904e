"""Random mutations of the example spec only ever raise SpecError, never crash the loader."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from globalmon.spec import Spec, SpecError, load_spec_text
from globalmon.spec.dump import dump_spec
from local_stack.demo import demo_spec

EXAMPLE = (Path(__file__).resolve().parent.parent.parent / "examples" / "regions.yaml").read_text()
DATA = yaml.safe_load(EXAMPLE)

scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=20),
    st.sampled_from(["5m", "0s", "us-east-1", "{{", "(", '"', "v1", "http://x", "", "__x"]),
)
values = st.recursive(
    scalars,
    lambda inner: st.one_of(
        st.lists(inner, max_size=3), st.dictionaries(st.text(max_size=8), inner, max_size=3)
    ),
    max_leaves=6,
)


def _containers(node: Any, out: list[Any]) -> list[Any]:
    if isinstance(node, dict | list):
        out.append(node)
        for child in node.values() if isinstance(node, dict) else node:
            _containers(child, out)
    return out


@st.composite
def mutated_specs(draw: st.DrawFn) -> Any:
    data = copy.deepcopy(DATA)
    for _ in range(draw(st.integers(min_value=1, max_value=4))):
        containers = _containers(data, [])
        target = draw(st.sampled_from(containers))
        action = draw(st.sampled_from(["replace", "delete", "insert", "rename"]))
        if isinstance(target, dict) and target:
            key = draw(st.sampled_from(sorted(target, key=str)))
            if action == "delete":
                del target[key]
            elif action == "insert":
                target[draw(st.text(max_size=10))] = draw(values)
            elif action == "rename":
                target[str(key) + draw(st.text(min_size=1, max_size=2))] = target.pop(key)
            else:
                target[key] = draw(values)
        elif isinstance(target, list) and target:
            i = draw(st.integers(min_value=0, max_value=len(target) - 1))
            if action == "delete":
                del target[i]
            elif action == "insert":
                target.insert(i, draw(values))
            elif action == "rename":
                target.append(target[i])  # a duplicate entry
            else:
                target[i] = draw(values)
    return data


def _load(text: str) -> None:
    try:
        spec = load_spec_text(text, "fuzz.yaml")
    except SpecError as exc:
        problems = exc.problems
    else:
        assert isinstance(spec, Spec)
        # every spec that loads is written back to the same model, and the demo profile of it
        # is a spec too (the stack runs on it)
        assert load_spec_text(dump_spec(spec), "dumped.yaml") == spec
        demo = demo_spec(spec, "http://127.0.0.1:1", 2)
        assert load_spec_text(dump_spec(demo), "demo.yaml") == demo
        return
    assert problems, "a SpecError always names at least one problem"
    for p in problems:
        assert p.line >= 1
        assert p.col >= 1
        assert p.found
        assert p.expected


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(mutated_specs())
def test_mutated_specs_load_or_raise_spec_error(data: Any) -> None:
    dumper = getattr(yaml, "CSafeDumper", yaml.SafeDumper)
    _load(yaml.dump(data, Dumper=dumper, sort_keys=False, allow_unicode=True))


@settings(max_examples=300, deadline=None)
@given(st.data())
def test_mangled_text_loads_or_raises_spec_error(data: st.DataObject) -> None:
    text = EXAMPLE
    for _ in range(data.draw(st.integers(min_value=1, max_value=3))):
        i = data.draw(st.integers(min_value=0, max_value=len(text)))
        j = data.draw(st.integers(min_value=i, max_value=min(len(text), i + 40)))
        text = text[:i] + data.draw(st.text(max_size=6)) + text[j:]
    _load(text)


def test_example_is_valid_before_mutation() -> None:
    # Guards the fuzz tests: they start from a spec that loads.
    assert isinstance(load_spec_text(EXAMPLE), Spec)
    assert DATA["version"] == "v1"
