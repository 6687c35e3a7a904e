"""The byte-level reader of Prometheus' matrix answers gives exactly what ``json`` gives, and
declines (None) whatever it was not written for."""

from __future__ import annotations

import json
from typing import Any

import numpy as np
import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from forecaster_sidecar.prometheus import fast_matrix


def _answer(result: list[dict[str, Any]], **extra: Any) -> bytes:
    # laid out as Prometheus writes it: compact, status first, then data
    body = {"status": "success", "data": {"resultType": "matrix", "result": result}, **extra}
    return json.dumps(body, separators=(",", ":"), ensure_ascii=False).encode()


def _by_json(body: bytes) -> list[tuple[dict[str, str], list[float], list[float]]]:
    return [
        (s["metric"], [float(p[0]) for p in s["values"]], [float(p[1]) for p in s["values"]])
        for s in json.loads(body)["data"]["result"]
    ]


def _same(body: bytes) -> None:
    fast = fast_matrix(body)
    assert fast is not None
    expected = _by_json(body)
    assert len(fast) == len(expected)
    for (labels, stamps, values), (e_labels, e_stamps, e_values) in zip(
        fast, expected, strict=True
    ):
        assert labels == e_labels
        assert np.array_equal(stamps, e_stamps)
        assert np.array_equal(values, e_values, equal_nan=True)


label_text = st.text(st.characters(codec="utf-8"), max_size=12)
number = st.one_of(
    st.floats(allow_nan=False, allow_infinity=False).map(repr),
    st.sampled_from(["NaN", "+Inf", "-Inf", "0", "-0", "1e-300", "1.7976931348623157e+308"]),
)


@settings(max_examples=200, deadline=None)
@given(
    st.lists(
        st.tuples(
            st.dictionaries(st.sampled_from(["__name__", "job", "a", "b"]), label_text, max_size=4),
            st.lists(st.tuples(st.integers(0, 2_000_000_000), number), max_size=20),
        ),
        max_size=6,
    )
)
# numbers of 14 or more digits, which pandas' fast float parser may round off by a bit
@example(series=[({}, [(0, "1.4791991854351793e+32")])])
@example(series=[({}, [(1700000000, "0.30000000000000004"), (1, "12345678.901234")])])
def test_the_reader_gives_what_json_gives(series: list[Any]) -> None:
    result = [
        {"metric": labels, "values": [[t, v] for t, v in points]} for labels, points in series
    ]
    _same(_answer(result))


def test_label_values_that_look_like_the_layout() -> None:
    tricky = {"job": 'x"]],{"metric":{"a":"b"},"values":[[1,"2"]]}', "b": "]]", "c": "[\\"}
    _same(_answer([{"metric": tricky, "values": [[1.5, "2"], [3, "NaN"]]}]))


def test_fractional_timestamps_and_warnings_after_the_data() -> None:
    body = _answer(
        [{"metric": {"a": "1"}, "values": [[1700000000.123, "1"], [1700000300.5, "-Inf"]]}],
        warnings=["PromQL info: a warning"],
    )
    _same(body)


@pytest.mark.parametrize(
    "body",
    [
        b'{"status":"error","errorType":"bad_data","error":"parse error"}',
        b'{"status":"success","data":{"resultType":"vector","result":[]}}',
        _answer([{"metric": {"a": "1"}, "histograms": [[1, {"count": "1"}]]}]),
        _answer([{"metric": {"a": "1"}, "values": [[1, "oops"]]}]),
        _answer([{"metric": {"a": "1"}, "values": [[1, "1"]]}]).replace(
            b'"success"', b'"success" '
        ),
    ],
)
def test_anything_else_is_left_to_json(body: bytes) -> None:
    assert fast_matrix(body) is None


async def test_a_stretch_that_fails_fails_the_read_and_leaves_nothing_running(
    aiohttp_server: Any,
) -> None:
    """The first stretch is answered, the second is a 503: the read raises, and the first
    stretch's parse (under way while the second was asked for) is not left behind."""
    import aiohttp
    from aiohttp import web

    from forecaster_sidecar import prometheus as reader

    asked: list[str] = []

    async def handler(request: web.Request) -> web.Response:
        asked.append(request.query["start"])
        if len(asked) > 1:
            return web.json_response({"status": "error", "error": "overloaded"}, status=503)
        start = float(request.query["start"])
        points = [[start + 60 * i, "1"] for i in range(10)]
        return web.Response(body=_answer([{"metric": {"job": "a"}, "values": points}]))

    app = web.Application()
    app.router.add_get("/api/v1/query_range", handler)
    server = await aiohttp_server(app)
    async with aiohttp.ClientSession() as session:
        with pytest.raises(reader.QueryError) as failed:
            await reader.query_range(session, str(server.make_url("")), "up", 0.0, 2340.0, 60.0)
    assert failed.value.reason == "http"
    assert len(asked) == 2  # the third and fourth stretches were never asked for
