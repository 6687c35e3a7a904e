"""The spec loader on hostile YAML: tags, merge-key chains, huge numbers, separators at the end
of names, durations past Prometheus' range, files that are not files. Generated classes: every
input loads or raises SpecError with FILE:LINE:COL, and nothing it accepts carries a separator."""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from globalmon.spec import Spec, SpecError, load_spec, load_spec_text
from globalmon.spec.types import duration_seconds

MINIMAL = (Path(__file__).resolve().parents[2] / "examples" / "minimal.yaml").read_text()
SEPARATORS = ["\n", "\r", "\r\n", "\v", "\f", "\x85", "\u2028", "\t", " ", "\x00"]
TAGS = ["!!int", "!!float", "!!bool", "!!timestamp", "!!binary", "!!str", "!!null", "!!set"]

# The places a value can stand in the minimal spec, each with a field's usual value.
FIELDS = {
    "region id": ("id: local", "id: {}"),
    "region name": ("name: Local", "name: {}"),
    "agent address": ('address: "127.0.0.1:9464"', "address: {}"),
    "agent id": ("{id: local-host,", "{{id: {},"),
    "version": ("version: v1", "version: {}"),
}


def _quoted(text: str) -> str:
    """A YAML double-quoted scalar holding ``text`` exactly (escapes for every separator)."""
    out = "".join(c if c.isprintable() and c not in '"\\' else f"\\U{ord(c):08x}" for c in text)
    return f'"{out}"'


scalar_text = st.one_of(
    st.builds(
        lambda v, s: _quoted(v + s),
        st.sampled_from(["local", "127.0.0.1:9464", "v1", "local-host", "Local"]),
        st.sampled_from(SEPARATORS),
    ),
    st.builds(lambda t, v: f"{t} {v}", st.sampled_from(TAGS), st.sampled_from(
        ["abc", "1", "99999-01-01", "2024-13-45", "@@@", "yes", "maybe", "1e999", "0x1g", ""]
    )),
    st.integers(min_value=4000, max_value=6000).map(lambda n: "9" * n),  # past int() limits
    st.sampled_from(["1e400", "-.inf", ".nan", "~", "[]", "{}", "*undefined", "&a x"]),
)  # fmt: skip


def _check(text: str) -> Spec | None:
    try:
        return load_spec_text(text, "hostile.yaml")
    except SpecError as exc:
        problems = exc.problems
    assert problems
    for p in problems:
        assert p.line >= 1
        assert p.col >= 1
        assert str(p).startswith(f"hostile.yaml:{p.line}:{p.col}: ")
        assert p.found
        assert p.expected
    return None


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(field=st.sampled_from(sorted(FIELDS)), value=scalar_text)
def test_hostile_scalars_load_or_name_their_place(field: str, value: str) -> None:
    old, new = FIELDS[field]
    spec = _check(MINIMAL.replace(old, new.format(value), 1))
    if spec is not None:  # accepted: then the names are clean, whole
        for region in spec.regions:
            assert re.fullmatch(r"[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?", region.id)
            for agent in region.agents:
                assert re.fullmatch(r"[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?", agent.id)
                assert not any(s in agent.address for s in SEPARATORS)


@settings(max_examples=100, deadline=None)
@given(
    depth=st.integers(min_value=1, max_value=30),
    as_list=st.booleans(),
    tag=st.sampled_from(["", "!!int ", "!!str ", "!!bool "]),
)
def test_merge_key_chains_and_tagged_keys_load_or_name_their_place(
    depth: int, as_list: bool, tag: str
) -> None:
    anchors = ["x0: &a0 {name: Local}"]
    for i in range(1, depth):
        merge = f"[*a{i - 1}]" if as_list else f"*a{i - 1}"
        anchors.append(f"x{i}: &a{i} {{<<: {merge}, k{i}: {tag}{i}}}")
    text = "\n".join(anchors) + "\n" + MINIMAL
    spec = _check(text)
    assert spec is None  # the x keys are unknown: refused, with a place, not a traceback
    merged = MINIMAL.replace("    name: Local\n", f"    <<: *a{depth - 1}\n")
    _check("\n".join(anchors) + "\n" + merged)


@settings(max_examples=100, deadline=None)
@given(
    number=st.integers(min_value=0, max_value=10**15),
    unit=st.sampled_from(["y", "w", "d", "h", "m", "s", "ms"]),
)
def test_durations_within_prometheus_range_only(number: int, unit: str) -> None:
    text = MINIMAL + f"global:\n  scrape_interval: {number}{unit}\n"
    spec = _check(text)
    nanoseconds = number * {"y": 365 * 86400, "w": 604800, "d": 86400, "h": 3600, "m": 60,
                            "s": 1, "ms": 0.001}[unit] * 1e9  # fmt: skip
    if nanoseconds > 2**63 - 1.5e9:  # Prometheus refuses past int64 nanoseconds
        assert spec is None
    elif spec is not None:
        assert duration_seconds(spec.global_.scrape_interval) == pytest.approx(nanoseconds / 1e9)


def test_files_that_are_not_files_are_refused(tmp_path: Path) -> None:
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)  # reading it would block forever
    for path, found in [
        (Path("/dev/zero"), "not a regular file"),  # reading it never ends
        (fifo, "not a regular file"),
        (tmp_path, "a directory"),
    ]:
        with pytest.raises(SpecError, match=f"^{re.escape(str(path))}:1:1: .*found {found}"):
            load_spec(path)


def test_an_anchor_that_contains_itself_is_refused() -> None:
    _check("x: &a {<<: *a}\n" + MINIMAL)
    _check("x: &a [*a]\n" + MINIMAL)
