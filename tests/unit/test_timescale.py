"""`global.time_scale`: PromQL windows divided, everything else in the expression as written."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import yaml
from hypothesis import given
from hypothesis import strategies as st

from globalmon.spec import load_spec
from globalmon.spec.dump import dump_spec
from globalmon.spec.timescale import scale_windows
from globalmon.spec.types import duration_seconds, format_duration, promql_problem
from rules_generator.generate import generate

EXAMPLES = Path(__file__).resolve().parent.parent.parent / "examples"


def test_ranges_subqueries_and_offsets_are_divided() -> None:
    assert scale_windows("rate(x[5m])", 15, 2) == "rate(x[20s])"
    assert scale_windows("max_over_time(x[1h:5m])", 15, 2) == "max_over_time(x[4m:20s])"
    assert scale_windows("max_over_time(x[1h:])", 15, 2) == "max_over_time(x[4m:])"
    assert scale_windows("x offset 1h", 15, 2) == "x offset 4m"
    assert scale_windows("x offset -30m", 15, 2) == "x offset -2m"
    assert scale_windows("rate(x[ 1h30m ])", 15, 2) == "rate(x[6m])"


def test_a_window_keeps_its_floor() -> None:
    assert scale_windows("rate(x[15s])", 15, 2) == "rate(x[2s])"
    assert scale_windows("rate(x[1m])", 60, 0.5) == "rate(x[1s])"
    assert scale_windows("rate(x[1s])", 60, 0.5) == "rate(x[500ms])"


def test_strings_comments_and_names_stay_as_written() -> None:
    expr = (
        "sum(rate(http_requests_total{path=\"/a[5m]\", note='offset 5m', raw=`[1h]`}[5m]))"
        " # was [1h]\n"
        " / on (offset) offset_total offset 10m"
    )
    assert scale_windows(expr, 15, 2) == (
        "sum(rate(http_requests_total{path=\"/a[5m]\", note='offset 5m', raw=`[1h]`}[20s]))"
        " # was [1h]\n"
        " / on (offset) offset_total offset 40s"
    )
    escaped = r'x{a="q\"[5m]"}[5m]'
    assert scale_windows(escaped, 15, 2) == r'x{a="q\"[5m]"}[20s]'


def test_scale_one_changes_nothing() -> None:
    assert scale_windows("rate(x[7m]) offset 1w", 1, 2) == "rate(x[7m]) offset 1w"


_LABEL_VALUE = st.text(st.characters(exclude_categories=["Cs"]), max_size=20)
_SECONDS = st.integers(min_value=1, max_value=30 * 86400)


@given(value=_LABEL_VALUE, window=_SECONDS, offset=_SECONDS, factor=st.integers(1, 100))
def test_any_label_value_survives_and_every_window_is_scaled(
    value: str, window: int, offset: int, factor: int
) -> None:
    quoted = '"' + value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n") + '"'
    expr = f"sum(rate(x{{l={quoted}}}[{format_duration(window)}] offset {format_duration(offset)}))"
    got = scale_windows(expr, factor, 2)
    assert promql_problem(got) is None
    assert f"{{l={quoted}}}" in got  # the label value, byte for byte
    m = re.search(r"\}\[([^\]]+)\] offset (\S+)\)\)$", got)
    assert m is not None, got
    for written, seconds in ((m.group(1), window), (m.group(2), offset)):
        want = seconds if factor == 1 else max(2, seconds / factor)
        assert abs(duration_seconds(written) - want) < 0.001


def test_a_scaled_spec_generates_rules_promtool_accepts(tmp_path: Path, promtool_bin: str) -> None:
    spec = load_spec(EXAMPLES / "regions.yaml")
    fast = spec.model_copy(update={"global_": spec.global_.model_copy(update={"time_scale": 15})})
    files = generate(fast, "regions.yaml")
    assert not [p for p in files if p.startswith("rules/tests/")]  # written for production time
    slow = generate(spec, "regions.yaml")
    for name, text in files.items():
        if not name.startswith("rules/") or "/tests/" in name:
            continue
        path = tmp_path / name.replace("/", "_")
        path.write_text(text)
        out = subprocess.run([promtool_bin, "check", "rules", str(path)], capture_output=True)
        assert out.returncode == 0, out.stderr.decode()
        scaled, production = yaml.safe_load(text), yaml.safe_load(slow[name])
        for g1, g2 in zip(scaled["groups"], production["groups"], strict=True):
            for r1, r2 in zip(g1["rules"], g2["rules"], strict=True):
                assert r1["expr"] == spec.model_copy(update={"global_": fast.global_}).scaled(
                    r2["expr"]
                )
                assert {k: v for k, v in r1.items() if k != "expr"} == {
                    k: v for k, v in r2.items() if k != "expr"
                }


def test_time_scale_round_trips_through_the_spec_file(tmp_path: Path) -> None:
    spec = load_spec(EXAMPLES / "regions.yaml")
    fast = spec.model_copy(update={"global_": spec.global_.model_copy(update={"time_scale": 15})})
    path = tmp_path / "spec.yaml"
    path.write_text(dump_spec(fast))
    assert load_spec(path) == fast
