"""`globalmon sidecar detect` on CSV files: a score per input row; bad files, clear errors."""

from __future__ import annotations

import csv
import datetime
import io
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from forecaster_sidecar.analyse import FLAG_THRESHOLD
from forecaster_sidecar.anomaly import scores
from globalmon.cli import main

REPO = Path(__file__).resolve().parents[2]


def write_series(path: Path, n: int = 600, spike: int | None = 500, step: int = 300) -> np.ndarray:
    rng = np.random.default_rng(3)
    values = 10 + rng.normal(0, 1, n)
    if spike is not None:
        values[spike] += 40
    lines = ["timestamp,value"]
    start = datetime.datetime(2014, 2, 14)
    for i, v in enumerate(values):
        at = start + datetime.timedelta(seconds=i * step)
        lines.append(f"{at:%Y-%m-%d %H:%M:%S},{float(v)!r}")
    path.write_text("\n".join(lines) + "\n")
    return values


def test_detect_writes_a_score_per_row(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "s.csv"
    values = write_series(path)
    assert main(["sidecar", "detect", str(path)]) == 0
    rows = list(csv.DictReader(io.StringIO(capsys.readouterr().out)))
    assert len(rows) == 600
    assert rows[0]["timestamp"] == "2014-02-14 00:00:00"
    got = np.array([float(r["anomaly_score"]) for r in rows])
    assert np.allclose(got, scores(values, 300.0), atol=1e-6)  # the same code path
    assert 500 <= int(np.argmax(got)) < 506  # the spike, or the short mean over it
    # noise passes its record now and then (r a little over 1), never twice over
    assert got[:500].max() < FLAG_THRESHOLD <= got.max()
    assert main(["sidecar", "detect", str(path), "-o", str(tmp_path / "out.csv")]) == 0
    assert (tmp_path / "out.csv").read_text().count("\n") == 601


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("when,value\n1,2\n", ":1:1: found 'when,value'; expected the header 'timestamp,value'"),
        ("timestamp,value\n", ":2:1: found no rows; expected at least one"),
        ("timestamp,value\nyesterday,1\n", ":2:1: found 'yesterday'; expected a time"),
        ("timestamp,value\n1,abc\n", ":2:3: found 'abc'; expected a number\n"),
        # a dashboard's formatted value: the unit is named as what to drop
        ("timestamp,value\n1,85.2%\n", ":2:3: found '85.2%'; expected a number without a unit"),
        ("timestamp,value\n1,1.2 GB\n", ":2:3: found '1.2 GB'; expected a number without a unit"),
        ("timestamp,value\n1,inf\n", ":2:3: found 'inf'; expected a number"),
        ("timestamp,value\n1,2,3\n", ":2:1: found 3 fields; expected 2"),
        ("timestamp,value\n1e300,2\n", ":2:1: found '1e300'; expected a time"),
        ("timestamp,value\n10000-01-01 00:00:00,1\n", ":2:1: found '10000-01-01"),
        ("timestamp,value\n1," + "9" * 2000 + "\n", ":2:3: found '99999"),
    ],
)
def test_bad_files_exit_2_with_file_line_col(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], text: str, message: str
) -> None:
    path = tmp_path / "bad.csv"
    path.write_text(text)
    assert main(["sidecar", "detect", str(path)]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"{path}{message}")
    assert "Traceback" not in err


def test_gaps_and_unix_seconds_are_accepted(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "gaps.csv"
    path.write_text(
        "timestamp,value\n" + "".join(f"{60 * i},{'' if i % 7 == 0 else i}\n" for i in range(200))
    )
    assert main(["sidecar", "detect", str(path)]) == 0
    rows = list(csv.DictReader(io.StringIO(capsys.readouterr().out)))
    assert len(rows) == 200
    assert rows[7]["value"] == ""


def test_missing_file_exits_1(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["sidecar", "detect", str(tmp_path / "nope.csv")]) == 1
    assert "no such file" in capsys.readouterr().err


def test_nab_eval_runs_on_each_corpus_through_the_command(tmp_path: Path) -> None:
    """bench.nab_eval end to end on tiny corpora in the shared data's layout (the real ones are
    in ../shared/data, outside the repository): each file through `globalmon sidecar detect`,
    each corpus reported on its own, the derived checks too."""
    category = tmp_path / "nab" / "realAWSCloudwatch"
    category.mkdir(parents=True)
    write_series(category / "a.csv", n=1200, spike=1000)
    windows = {"realAWSCloudwatch/a.csv": [["2014-02-17 10:00:00", "2014-02-17 12:00:00"]]}
    (tmp_path / "nab" / "combined_windows.json").write_text(json.dumps(windows))
    kpi = tmp_path / "aiops2018-kpi" / "phase2_train"
    kpi.mkdir(parents=True)
    write_series(kpi / "b.csv", n=3 * 1440, spike=2 * 1440 + 100, step=60)
    # the spike's row exactly, as the AIOps labels mark rows (2014-02-16 01:40)
    aiops = {"phase2_train/b.csv": [["2014-02-16 01:40:00", "2014-02-16 01:40:00"]]}
    (tmp_path / "aiops2018-kpi" / "windows.json").write_text(json.dumps(aiops))
    result = subprocess.run(
        [sys.executable, "-m", "bench.nab_eval", "--data", str(tmp_path), "--jobs", "2"],
        cwd=REPO, capture_output=True, text=True, check=False, timeout=300,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    # a.csv, the four files derived from it, b.csv
    assert "globalmon sidecar detect: 6 files" in result.stdout
    out = result.stdout.splitlines()

    def standard(after: str, label: str = "") -> float:
        block = out[out.index(after) :]
        line = next(x for x in block if x.split() and x.split()[: 1 + bool(label)] == (
            [label, "standard"] if label else ["standard"]))  # fmt: skip
        return float(line.split("corpus threshold")[1].split()[0])

    # row 1000 is 2014-02-17 11:20, inside the window: the spike is found, nothing else fires
    assert standard("nab (1 files, 1 windows)", "realAWSCloudwatch") > 50
    assert standard("aiops, exact labels (1 files, 1 windows)") > 50
    assert standard("aiops, NAB windows (1 files, 1 windows)") > 50
    derived_from_a = ("rows missing", "rows missing and late", "30-minute steps", "hourly steps")
    for derived in (f"nab, {how}" for how in derived_from_a):
        assert any(x.startswith(derived + " (1 files") for x in out)


def test_forecast_writes_each_future_step_with_bounds(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "s.csv"
    write_series(path, n=2000, spike=None)
    assert main(["sidecar", "forecast", str(path), "--horizon", "1h"]) == 0
    out = capsys.readouterr()
    rows = list(csv.DictReader(io.StringIO(out.out)))
    assert len(rows) == 12  # 1 h at 5-minute steps
    assert rows[0]["timestamp"] == "2014-02-20 22:40:00"  # the step after 2014-02-20 22:35
    for r in rows:
        lo, mid, hi = (float(r[k]) for k in ("yhat_lower", "yhat", "yhat_upper"))
        assert lo <= mid <= hi
        assert 8 < mid < 12  # the series is 10 plus unit noise
    assert out.err.startswith("model: ")


@pytest.mark.parametrize(("minutes", "days"), [(7, 14), (11, 28), (58, 14)])
def test_a_daily_swing_is_forecast_on_steps_that_do_not_divide_a_day(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], minutes: int, days: int
) -> None:
    """A CSV 7, 11 or 58 minutes apart has no whole number of steps in a day; its day, rounded
    to one, still carries the swing (noise 2): 2.2, 2.4 and 4.3 off. Before, 11 and 58 minutes
    had no season at all (17.4 and 16.2 off); 7 minutes had its week, which divides, and is a
    control."""
    step = 60 * minutes
    n, ahead = days * 86400 // step, round(86400 / step)  # 1d in whole steps, as the CLI
    rng = np.random.default_rng(5)
    phase = 2 * np.pi * np.arange(n + ahead) * step / 86400
    values = 50 + 20 * np.sin(phase) + np.where(np.sin(phase) > 0.9, 30, 0)
    values += rng.normal(0, 2, n + ahead)
    stamps = 1_700_000_000 + np.arange(n + ahead) * step
    path = tmp_path / "s.csv"
    rows = zip(stamps[:n], values[:n], strict=True)
    path.write_text("timestamp,value\n" + "".join(f"{t},{float(v)!r}\n" for t, v in rows))
    assert main(["sidecar", "forecast", str(path), "--horizon", "1d"]) == 0
    out = list(csv.DictReader(io.StringIO(capsys.readouterr().out)))
    assert [int(r["timestamp"]) for r in out] == list(stamps[n:])
    yhat = np.array([float(r["yhat"]) for r in out])
    assert np.abs(yhat - values[n:]).mean() < 7.0


def test_forecast_writes_the_bands_asked_for_within_min_and_max(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "s.csv"
    write_series(path, n=2000, spike=None)  # 10 plus unit noise
    args = ["sidecar", "forecast", str(path), "--horizon", "1h"]
    assert main([*args, "--level", "80", "--level", "95", "--level", "99.5"]) == 0
    text = capsys.readouterr().out
    assert text.splitlines()[0] == (
        "timestamp,yhat,yhat_lower_80,yhat_upper_80,yhat_lower,yhat_upper,"
        "yhat_lower_99.5,yhat_upper_99.5"
    )
    for r in csv.DictReader(io.StringIO(text)):
        lo995, lo95, lo80, mid, hi80, hi95, hi995 = (
            float(r[k])
            for k in ("yhat_lower_99.5", "yhat_lower", "yhat_lower_80", "yhat",
                      "yhat_upper_80", "yhat_upper", "yhat_upper_99.5")
        )  # fmt: skip
        assert lo995 <= lo95 <= lo80 <= mid <= hi80 <= hi95 <= hi995
        assert hi95 - lo95 > hi80 - lo80  # the wider level, the wider band
    # a limit the series cannot pass clips the forecast and its band
    assert main([*args, "--min", "9.5", "--max", "10.5"]) == 0
    for r in csv.DictReader(io.StringIO(capsys.readouterr().out)):
        assert 9.5 <= float(r["yhat_lower"]) <= float(r["yhat"]) <= float(r["yhat_upper"]) <= 10.5


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--level", "100"], "--level: found '100'; expected a percentage above 0 and below 100"),
        (["--level", "x"], "--level: found 'x'; expected a percentage"),
        (["--min", "nan"], "--min: found 'nan'; expected a finite number"),
        (["--max", "ten"], "--max: found 'ten'; expected a finite number"),
        (["--min", "5", "--max", "5"], "--max: found '5'; expected a number above --min (5)"),
    ],
)
def test_forecast_refuses_bad_levels_and_limits(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], extra: list[str], message: str
) -> None:
    path = tmp_path / "s.csv"
    write_series(path, n=100, spike=None)
    assert main(["sidecar", "forecast", str(path), "--horizon", "1h", *extra]) == 2
    captured = capsys.readouterr()
    assert message in captured.err
    assert captured.out == ""
    assert "Traceback" not in captured.err


def test_forecast_keeps_unix_timestamps_and_refuses_bad_horizons(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "u.csv"
    path.write_text("timestamp,value\n" + "".join(f"{60 * i},{i % 5}\n" for i in range(100)))
    assert main(["sidecar", "forecast", str(path), "--horizon", "3m"]) == 0
    rows = list(csv.DictReader(io.StringIO(capsys.readouterr().out)))
    assert [r["timestamp"] for r in rows] == ["6000", "6060", "6120"]
    assert main(["sidecar", "forecast", str(path), "--horizon", "soon"]) == 2
    assert "--horizon: found 'soon'; expected a duration" in capsys.readouterr().err


def test_forecast_eval_runs_on_a_corpus(tmp_path: Path) -> None:
    """bench.forecast_eval end to end on tiny corpora (NAB: 9 days, two origins; AIOps: 1-minute
    rows averaged to 5 minutes, 8 days, one origin), each reported on its own, and again at
    hourly steps, as young series and on 11-minute steps."""
    category = tmp_path / "nab" / "realAWSCloudwatch"
    category.mkdir(parents=True)
    write_series(category / "a.csv", n=9 * 288, spike=None)
    windows = json.dumps({"realAWSCloudwatch/a.csv": []})
    (tmp_path / "nab" / "combined_windows.json").write_text(windows)
    kpi = tmp_path / "aiops2018-kpi" / "phase2_train"
    kpi.mkdir(parents=True)
    write_series(kpi / "b.csv", n=8 * 1440, spike=None, step=60)
    result = subprocess.run(
        [sys.executable, "-m", "bench.forecast_eval", "--data", str(tmp_path),
         "--reference-sample", "0"],
        cwd=REPO, capture_output=True, text=True, check=False, timeout=300,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert "== realAWSCloudwatch: 2 origins" in result.stdout
    assert "== aiops2018-kpi: 1 origins" in result.stdout
    assert "== realAWSCloudwatch, 60-minute steps: 2 origins" in result.stdout
    assert "== aiops2018-kpi, 60-minute steps: 1 origins" in result.stdout
    assert result.stdout.count("95% band covers") == 4
    assert result.stdout.count("hours 1-6 / hours 6-24 / the day; mean half-width") == 8
    assert "== aiops2018-kpi, young series" in result.stdout
    assert result.stdout.count("days old: own points") == 6
    assert "== realAWSCloudwatch, 11-minute steps" in result.stdout
    assert result.stdout.count("day rounded          seasons (131,)") == 2
    assert result.stdout.count("no season (before)   seasons ()") == 2


def test_live_mode_usage_errors(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    spec = str(REPO / "examples" / "regions.yaml")
    assert main(["sidecar"]) == 2
    assert "--spec and --prometheus-url are required" in capsys.readouterr().err
    url = ["--prometheus-url", "http://127.0.0.1:1"]
    assert main(["sidecar", "--spec", spec, *url, "--shard", "2/2"]) == 2
    assert "--shard: found '2/2'; expected i/n with 0 <= i < n" in capsys.readouterr().err
    with pytest.raises(SystemExit) as exit_:
        main(["sidecar", "--spec", spec, *url, "--interval", "often"])
    assert exit_.value.code == 2
    assert "--interval: found 'often'" in capsys.readouterr().err
    minimal = str(REPO / "examples" / "minimal.yaml")
    assert main(["sidecar", "--spec", minimal, *url]) == 2
    assert "has no forecasts" in capsys.readouterr().err


def test_counter_flag_undoes_resets_offline(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "c.csv"
    rng = np.random.default_rng(8)
    raw = np.cumsum(5 + rng.normal(0, 0.5, 2000))
    raw[1500:] -= raw[1499]  # a restart: counting from zero again
    lines = ["timestamp,value"] + [
        f"{1_600_000_000 + 300 * i},{float(v)!r}" for i, v in enumerate(raw)
    ]
    path.write_text("\n".join(lines) + "\n")
    assert main(["sidecar", "forecast", str(path), "--horizon", "1h", "--counter"]) == 0
    rows = list(csv.DictReader(io.StringIO(capsys.readouterr().out)))
    assert float(rows[-1]["yhat"]) == pytest.approx(raw[-1] + 12 * 5, rel=0.01)
    assert main(["sidecar", "detect", str(path), "--counter"]) == 0
    detected = list(csv.DictReader(io.StringIO(capsys.readouterr().out)))
    assert len(detected) == 2000
    got = [float(r["anomaly_score"]) for r in detected]
    assert max(got[1495:1510]) < 0.5  # the restart is no anomaly: not even the week's record
    assert max(got) < FLAG_THRESHOLD  # nor is anything else in a steady rate


def _write_values(path: Path, values: np.ndarray, step: int = 300) -> None:
    start = datetime.datetime(2014, 2, 14)
    lines = ["timestamp,value"] + [
        f"{start + datetime.timedelta(seconds=i * step):%Y-%m-%d %H:%M:%S},{float(v)!r}"
        for i, v in enumerate(values)
    ]
    path.write_text("\n".join(lines) + "\n")


@pytest.mark.parametrize("command", ["detect", "forecast"])
def test_a_counter_read_without_counter_and_a_gauge_read_as_one_get_a_note(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], command: str
) -> None:
    """--counter undoes resets (any drop): whether it is given is the user's to say, but a
    series that only rises but for a restart, read as a gauge, and a series that falls half
    the time, read as a counter, are named on stderr (the output is what was asked for)."""
    rng = np.random.default_rng(5)
    total = np.cumsum(rng.poisson(5, 900)).astype(float)
    total[600:] -= total[600]  # a restart
    gauge = 10 + rng.normal(0, 1, 900)
    extra = ["--horizon", "1h"] if command == "forecast" else []
    cases: list[tuple[np.ndarray, list[str], str | None]] = [
        (total, [], "pass --counter"),
        (gauge, ["--counter"], "a counter falls only"),
        (total, ["--counter"], None),
        (gauge, [], None),
    ]
    for values, flag, note in cases:
        path = tmp_path / "s.csv"
        _write_values(path, values)
        assert main(["sidecar", command, str(path), *flag, *extra]) == 0
        err = capsys.readouterr().err
        if note is None:
            assert "note:" not in err
        else:
            assert f"{path}: note: " in err
            assert note in err


@pytest.mark.parametrize("command", ["detect", "forecast"])
def test_a_counter_near_floats_limit_is_read_without_a_warning(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], command: str
) -> None:
    """--counter on values near float's limit: differences and sums past it are infinite, as
    float arithmetic says, and nothing but the output and the notes reaches the user (warnings
    fail the suite)."""
    path = tmp_path / "s.csv"
    values = np.array([1e308, -1e308, 1.7e308, -1.7e308, 1.7e308, 5.0, 1e308, -1.7e308])
    _write_values(path, values)
    extra = ["--horizon", "10m"] if command == "forecast" else []
    assert main(["sidecar", command, str(path), "--counter", *extra]) == 0
    captured = capsys.readouterr()
    assert "Warning" not in captured.err
    assert len(captured.out.splitlines()) > 1
