"""Real CSV files are messy: the reader scores what it can row by row, names what it skipped,
and refuses the rest with FILE:LINE:COL. Generated input classes, not a few examples."""

from __future__ import annotations

import csv
import gzip
import io
import math
import os
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from forecaster_sidecar.csvio import CsvError, read, seconds_of
from globalmon.cli import main

SHARED = Path(__file__).resolve().parents[3] / "shared" / "data"
START = datetime(2014, 3, 1, tzinfo=UTC)
POSITION = r"^{path}:[0-9]+:[0-9]+: found .*; expected .+"


def _stamp(seconds: float, style: str) -> str:
    at = START + timedelta(seconds=seconds)
    if style == "nab":
        return at.strftime("%Y-%m-%d %H:%M:%S")
    if style == "iso-offset":  # the same instant written with a +02:00 offset
        return (at + timedelta(hours=2)).strftime("%Y-%m-%dT%H:%M:%S+02:00")
    if style == "slash-utc":  # a spreadsheet's or a database's export
        return at.strftime("%Y/%m/%d %H:%M:%S UTC")
    if style == "day-first":  # a German spreadsheet's
        return at.strftime("%d.%m.%Y %H:%M:%S")
    if style == "go-nanos":  # Go's RFC 3339 with nanoseconds (Prometheus, Loki)
        return at.strftime("%Y-%m-%dT%H:%M:%S.000000000Z")
    if style == "unix":
        return str(int(at.timestamp()))
    return str(int(at.timestamp() * 1000))  # Unix milliseconds


# A row's time relative to the previous row: forward by the step, repeated, or back (DST).
moves = st.sampled_from([300, 300, 300, 300, 0, -3600, 600, 86400])
numbers = st.floats(allow_nan=False, allow_infinity=False)  # up to +-1.8e308
gaps = st.sampled_from(["", "nan", "NaN", "null", "None", "NA", "N/A", "#N/A", "-", "undefined"])
# (the header's names, None when the first row is data; whether a label column follows)
layouts = st.sampled_from(
    [
        (["timestamp", "value"], False),
        (["timestamp", "value", "label"], True),
        (["Time", 'cpu{instance="a:9100",job="node"}'], False),  # Grafana's CSV export
        (["date", "value", "label"], True),
        (None, False),
    ]
)


def _cell(value: float | str, delimiter: str, grouped: bool) -> str:
    """A value as a tool would write it: a gap marker, a decimal comma in a file separated by
    semicolons or tabs, or thousands grouped with commas (quoted by the writer)."""
    if isinstance(value, str):
        return value
    text = repr(value)
    if delimiter != ",":
        return text.replace(".", ",")
    if grouped and abs(value) >= 1000 and value.is_integer() and abs(value) < 1e15:
        return f"{value:,.1f}"
    return text


@st.composite
def messy_files(draw: st.DrawFn) -> tuple[str, list[float], list[float]]:
    """(CSV text, each row's time in seconds from START, each row's value: NaN for a gap)."""
    styles = ["nab", "iso-offset", "slash-utc", "day-first", "go-nanos", "unix", "unix-ms"]
    style = draw(st.sampled_from(styles))
    header, extra = draw(layouts)
    delimiter = draw(st.sampled_from([",", ";", "\t"]))
    grouped = draw(st.booleans())
    newline = draw(st.sampled_from(["\n", "\r\n"]))
    bom = draw(st.booleans())
    n = draw(st.integers(min_value=1, max_value=60))
    t, times, expected = 0.0, list[float](), list[float]()
    out = io.StringIO()
    writer = csv.writer(out, delimiter=delimiter, lineterminator=newline)
    if header is not None:
        writer.writerow(header)
    for i in range(n):
        t += draw(moves) if times else 0
        t = max(t, 0.0)
        times.append(t)
        # a file without a header starts with a number: that is how its first row is told apart
        v: float | str = draw(numbers if header is None and i == 0 else st.one_of(numbers, gaps))
        if isinstance(v, float) and grouped and abs(v) >= 1000 and abs(v) < 1e15:
            v = float(round(v))  # grouped thousands are whole numbers here
        expected.append(v if isinstance(v, float) else math.nan)
        row = [_stamp(t, style), _cell(v, delimiter, grouped)] + (["0,5"] if extra else [])
        writer.writerow(row)
    text = ("\ufeff" if bom else "") + out.getvalue()
    return text, times, expected


@pytest.mark.parametrize("junk", [";-1000000000000000,0", ";-10,5", "x-1000", "-1000000000000000"])
def test_text_after_a_time_is_no_offset(tmp_path: Path, junk: str) -> None:
    """Python 3.11's fromisoformat reads anything after the seconds that ends in digits as an
    offset: a semicolon file whose first value has a decimal comma was split at the comma, and
    its times moved 10 hours by the value's first digits (found by the property below)."""
    assert seconds_of("2014-03-01 00:00:00" + junk) is None
    path = tmp_path / "semicolons.csv"
    path.write_text("2014-03-01 00:00:00;-1000000000000000,0\n2014-03-01 00:05:00;0,5\n")
    table = read(path)
    assert table.raw_timestamps == ["2014-03-01 00:00:00", "2014-03-01 00:05:00"]
    assert table.timestamps[0] == START.timestamp()
    assert list(table.values) == [-1e15, 0.5]


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(messy_files())
def test_messy_files_are_read_row_by_row_in_time_order(
    tmp_path_factory: pytest.TempPathFactory, made: tuple[str, list[float], list[float]]
) -> None:
    text, times, expected = made
    path = tmp_path_factory.mktemp("csv") / "messy.csv"
    path.write_bytes(text.encode())
    table = read(path)
    kept = [0]
    for i in range(1, len(times)):
        if times[i] > times[kept[-1]]:
            kept.append(i)
    # exactly the rows whose time moves forward, first value kept for a repeated time
    assert len(table.raw_timestamps) == len(kept)
    assert np.all(np.diff(table.timestamps) > 0)
    assert table.timestamps[0] == pytest.approx(START.timestamp() + times[0])
    for got, i in zip(table.values, kept, strict=True):
        if math.isnan(expected[i]):
            assert math.isnan(got)
        else:
            assert got == expected[i]
    skipped = [note for note in table.notes if "skipped" in note]
    assert len(skipped) == len(times) - len(kept)
    assert all(note.startswith(f"{path}:") for note in table.notes)


junk = st.text(
    alphabet=st.characters(codec="utf-8", exclude_categories=["Cs"]), min_size=0, max_size=30
)


@settings(max_examples=150, deadline=None)
@given(
    rows=st.lists(st.tuples(junk, junk), min_size=1, max_size=8),
    header=st.sampled_from(["timestamp,value", "time,value", "", "timestamp"]),
)
def test_any_text_is_read_or_refused_with_file_line_col(
    tmp_path_factory: pytest.TempPathFactory, rows: list[tuple[str, str]], header: str
) -> None:
    path = tmp_path_factory.mktemp("csv") / "junk.csv"
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerows([header.split(",")] if header else [])
    writer.writerows(rows)
    path.write_text(out.getvalue())
    refused: CsvError | None = None
    try:
        table = read(path)
    except CsvError as exc:
        refused = exc
    if refused is not None:
        message = str(refused)
        assert message.startswith(f"{path}:")
        line, col = message[len(str(path)) + 1 :].split(":")[:2]
        assert int(line) >= 1
        assert int(col) >= 1
        assert "; expected " in message
    else:
        assert np.all(np.diff(table.timestamps) > 0)
        assert np.isfinite(table.timestamps).all()
        assert not np.isinf(table.values).any()


@given(
    value=st.floats(allow_nan=False, allow_infinity=False, width=32),
    unit=st.sampled_from(["%", " %", " GB", "GiB", " ms", "s", " req/s", "°C", " kB/s", "k"]),
)
def test_a_value_with_its_unit_is_refused_naming_the_unit(
    tmp_path_factory: pytest.TempPathFactory, value: float, unit: str
) -> None:
    """What a dashboard's formatted export writes (Grafana's "Formatted data"): refused, with the
    unit named as what to drop, and never read as a gap or a number."""
    path = tmp_path_factory.mktemp("csv") / "formatted.csv"
    path.write_text(f"Time,cpu\n2024-01-01 00:00:00,{value:g}{unit}\n")
    with pytest.raises(CsvError) as refused:
        read(path)
    assert str(refused.value).startswith(f"{path}:2:21: found ")
    assert "; expected a number without a unit" in str(refused.value)


def test_files_that_are_not_files_are_refused(tmp_path: Path) -> None:
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)  # reading it would block forever
    for path, found in [(tmp_path, "a directory"), (fifo, "a device, FIFO or socket")]:
        with pytest.raises(CsvError, match=f"^{path}:1:1: found {found}"):
            read(path)
    binary = tmp_path / "bin.csv"
    binary.write_bytes(gzip.compress(b"timestamp,value\n2014-03-01 00:00:00,1\n"))
    with pytest.raises(CsvError, match="found binary data"):
        read(binary)


@pytest.mark.parametrize("encoding", ["utf-8", "utf-8-sig", "utf-16", "cp1252", "latin-1"])
def test_a_spreadsheets_encodings_are_read(tmp_path: Path, encoding: str) -> None:
    """Excel writes UTF-16 with its mark ("Unicode text") or a Windows code page; a label
    column's "café" or "Zürich" must not make the file "binary". German dates, day first,
    with decimal commas and semicolons, are the same rows."""
    text = (
        "Zeitpunkt;timestamp;value;Ort\r\n"
        "a;01.03.2014 00:00;1,5;Zürich café\r\n"
        "b;01.03.2014 00:05;-;Zürich café\r\n"
        "c;1.3.2014 00:10:30;2,25;Zürich café\r\n"
    )
    path = tmp_path / "export.csv"
    path.write_bytes(text.encode(encoding))
    table = read(path)
    start = datetime(2014, 3, 1, tzinfo=UTC).timestamp()
    assert table.timestamps.tolist() == [start, start + 300, start + 630]
    assert table.values[0] == 1.5
    assert math.isnan(table.values[1])
    assert table.values[2] == 2.25


def _series(path: Path, step: timedelta, n: int, value: float = 10.0) -> None:
    rng = np.random.default_rng(1)
    rows = [
        f"{(START + i * step).strftime('%Y-%m-%d %H:%M:%S')},{value * (1 + rng.normal(0, 0.1))!r}"
        for i in range(n)
    ]
    path.write_text("timestamp,value\n" + "\n".join(rows) + "\n")


@pytest.mark.parametrize(
    ("step", "n", "value", "horizon"),
    [
        (timedelta(days=1), 400, 10.0, "30d"),  # daily
        (timedelta(weeks=1), 150, 10.0, "30d"),  # weekly
        (timedelta(minutes=5), 3000, 8e307, "1d"),  # values near float's limit (1.8e308)
        (timedelta(seconds=1), 5, 10.0, "10s"),  # a handful of rows
    ],
    ids=["daily", "weekly", "near-1e308", "five-rows"],
)
def test_any_step_and_scale_is_scored_and_forecast(
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    step: timedelta,
    n: int,
    value: float,
    horizon: str,
) -> None:
    path = tmp_path / "s.csv"
    _series(path, step, n, value)
    assert main(["sidecar", "detect", str(path)]) == 0
    rows = list(csv.DictReader(io.StringIO(capsys.readouterr().out)))
    assert len(rows) == n
    assert all(0 <= float(r["anomaly_score"]) <= 1 for r in rows)
    assert main(["sidecar", "forecast", str(path), "--horizon", horizon]) == 0
    out = capsys.readouterr()
    forecast = list(csv.DictReader(io.StringIO(out.out)))
    assert forecast
    yhat = np.array([float(r["yhat"]) for r in forecast])
    assert np.isfinite(yhat).all(), out.err
    assert np.all(np.abs(yhat) <= value * 3)  # the scale survives, nothing overflows


def test_horizons_past_the_limit_or_year_9999_are_refused(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "s.csv"
    _series(path, timedelta(minutes=5), 300)
    assert main(["sidecar", "forecast", str(path), "--horizon", "100y"]) == 2
    assert "--horizon: found '100y'" in capsys.readouterr().err
    late = tmp_path / "late.csv"
    late.write_text("timestamp,value\n9999-12-31 00:00:00,1\n9999-12-31 01:00:00,2\n")
    assert main(["sidecar", "forecast", str(late), "--horizon", "2d"]) == 2
    assert "ending before year 10000" in capsys.readouterr().err


def test_repeated_and_backward_times_are_skipped_and_said(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "dst.csv"
    path.write_text(
        "timestamp,value\n"
        "2014-03-09 01:00:00,1\n2014-03-09 02:00:00,2\n"
        "2014-03-09 01:00:00,3\n"  # back an hour
        "2014-03-09 02:00:00,4\n"  # repeats
        "2014-03-09 03:00:00,5\n"
    )
    assert main(["sidecar", "detect", str(path)]) == 0
    out = capsys.readouterr()
    rows = list(csv.DictReader(io.StringIO(out.out)))
    assert [r["value"] for r in rows] == ["1.0", "2.0", "5.0"]
    assert f"{path}:4: skipped: '2014-03-09 01:00:00' is before" in out.err
    assert f"{path}:5: skipped: '2014-03-09 02:00:00' repeats" in out.err


def _shared_files() -> list[Path]:
    files = sorted(SHARED.glob("*/**/*.csv"))
    if not files and os.environ.get("CI"):
        pytest.fail(f"no CSV files under {SHARED}: CI has shared/ beside the repository")
    return files


@pytest.mark.parametrize("mode", ["detect", "forecast"])
def test_every_file_of_the_shared_data_is_accepted(
    mode: str, capsys: pytest.CaptureFixture[str]
) -> None:
    files = _shared_files()
    if not files:
        pytest.skip(f"{SHARED} is not beside this checkout")
    refused = []
    for path in files:
        args = ["sidecar", mode, str(path), *(["--horizon", "1h"] if mode == "forecast" else [])]
        if main(args) != 0:
            refused.append(f"{path}: {capsys.readouterr().err.strip()[-300:]}")
        capsys.readouterr()
    assert refused == []


@pytest.mark.parametrize(
    ("last", "next_stamp"),
    [
        ("2014-03-01 00:55:00", "2014-03-01 01:00:00"),
        ("2014-03-01T01:55:00+01:00", "2014-03-01T02:00:00+01:00"),
        ("2014-03-01T01:55:00+0100", "2014-03-01T02:00:00+0100"),
        ("2014-03-01T00:55:00Z", "2014-03-01T01:00:00Z"),
        ("2014/03/01 00:55:00 UTC", "2014/03/01 01:00:00 UTC"),
        ("2014-03-01T00:55:00.000000000Z", "2014-03-01T01:00:00.000000Z"),
        ("1393635300", "1393635600"),
        ("1393635300000", "1393635600000"),
    ],
    ids=["nab", "offset", "offset-no-colon", "z", "slash-utc", "go-nanos", "unix", "unix-ms"],
)
def test_forecast_times_are_written_as_the_input_writes_them(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], last: str, next_stamp: str
) -> None:
    """The first future row follows the last row read by one step, in its format and offset:
    a forecast written in UTC beside an input in +01:00 reads as an hour off."""
    end = seconds_of(last)
    assert end is not None
    path = tmp_path / "s.csv"
    rows = [f"{last}" if i == 11 else _like(end - (11 - i) * 300, last) for i in range(12)]
    path.write_text("timestamp,value\n" + "".join(f"{r},{i}\n" for i, r in enumerate(rows)))
    assert main(["sidecar", "forecast", str(path), "--horizon", "5m"]) == 0
    out = list(csv.DictReader(io.StringIO(capsys.readouterr().out)))
    assert out[0]["timestamp"] == next_stamp


def _like(seconds: float, last: str) -> str:
    """``seconds`` written as ``last`` is: Unix seconds or milliseconds, else ISO in UTC (the
    reader takes any offset)."""
    if last.isdigit():
        return str(int(seconds * 1000)) if len(last) > 11 else str(int(seconds))
    return datetime.fromtimestamp(seconds, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


@pytest.mark.parametrize(
    "header",
    ["when,value", "timestamp,a,b", "Time,a,b", "timestamp", "value,amount"],
)
def test_headers_without_a_time_and_one_value_are_refused_naming_the_choices(
    tmp_path: Path, header: str
) -> None:
    path = tmp_path / "h.csv"
    cells = header.count(",") + 1
    path.write_text(f"{header}\n" + ",".join(["x"] * cells) + "\n")
    with pytest.raises(CsvError, match=rf"^{path}:1:1: found .*; expected the header "):
        read(path)


@pytest.mark.parametrize("jitter", [0.0, 0.05, 2.0])
def test_jittered_scrape_times_keep_the_days_season(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], jitter: float
) -> None:
    """Scrape times written with milliseconds jitter (a 5-minute series 300.013 s apart by the
    median): the step is taken as the 300 s it is, so a day is 288 steps and the forecast
    follows the daily swing (on 300.013 s no season is a whole number of steps)."""
    rng = np.random.default_rng(11)
    n = 7 * 288
    t = START.timestamp() + 300.0 * np.arange(n) + rng.uniform(0, jitter, n) + jitter / 3
    swing = 100 + 30 * np.sin(2 * np.pi * (t - t[-1]) / 86400)
    path = tmp_path / "jittered.csv"
    noisy = (swing + rng.normal(0, 1, n)).tolist()
    rows = [f"{int(s * 1000)},{v!r}" for s, v in zip(t.tolist(), noisy, strict=True)]
    path.write_text("timestamp,value\n" + "\n".join(rows) + "\n")
    assert main(["sidecar", "forecast", str(path), "--horizon", "6h"]) == 0
    out = capsys.readouterr()
    forecast = list(csv.DictReader(io.StringIO(out.out)))
    assert len(forecast) == 72  # 6 h of 300 s steps
    yhat = np.array([float(r["yhat"]) for r in forecast])
    # the swing's peak is 6 hours after the last row
    assert yhat[-1] == pytest.approx(130, abs=5), out.err
    assert "model: seasonal" in out.err or "model: holt_winters" in out.err
