"""`globalmon sidecar detect|forecast`: the sidecar's anomaly scores and forecasts for a CSV file,
offline, through the same functions the live sidecar uses."""

from __future__ import annotations

import argparse
import math
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

import numpy as np

from forecaster_sidecar.anomaly import scores, step_of
from forecaster_sidecar.counters import counter_hint, forecast_series, watched
from forecaster_sidecar.csvio import (
    DOTTED_DATE,
    LATEST,
    MILLISECONDS_FROM,
    CsvError,
    Table,
    datetime_of,
    read,
    regular,
)
from forecaster_sidecar.forecast import seasons_for
from globalmon.cliutil import (
    EXIT_FAILURE,
    EXIT_OK,
    EXIT_USAGE,
    bad_address,
    duration_arg,
    listen_address,
    serve,
)
from globalmon.logs import add_log_flags
from globalmon.spec.types import duration_seconds

COUNTER_HELP = "the values are a counter: undo its resets (any drop) first"


MAX_NOTES = 10  # skipped rows named on stderr; the rest counted
MAX_STEPS = 100_000  # forecast steps: a year of 5-minute steps, a few MB of output


def _read(path: Path, what: str) -> Table | int:
    try:
        table = read(path)
    except FileNotFoundError:
        print(f"globalmon sidecar {what}: no such file: {path}", file=sys.stderr)
        return EXIT_FAILURE
    except CsvError as exc:
        print(exc, file=sys.stderr)
        return EXIT_USAGE
    for note in table.notes[:MAX_NOTES]:
        print(note, file=sys.stderr)
    if len(table.notes) > MAX_NOTES:
        print(f"{path}: {len(table.notes) - MAX_NOTES} more rows skipped", file=sys.stderr)
    return table


def _write(text: str, output: str | None, what: str) -> int:
    if not output:
        sys.stdout.write(text)
        return EXIT_OK
    try:
        Path(output).write_text(text)
    except OSError as exc:
        print(f"globalmon sidecar {what}: cannot write {output}: {exc}", file=sys.stderr)
        return EXIT_FAILURE
    return EXIT_OK


def _counter_note(table: Table, args: argparse.Namespace) -> None:
    hint = counter_hint(table.values, args.counter)
    if hint is not None:
        print(f"{args.file}: note: {hint}", file=sys.stderr)


def run_detect(args: argparse.Namespace) -> int:
    table = _read(Path(args.file), "detect")
    if isinstance(table, int):
        return table
    _counter_note(table, args)
    grid = regular(table.timestamps, table.values, step_of(table.timestamps))
    # a z-score does not depend on the scale; windows are durations: the rows on a time grid
    followed = watched(grid.values[None, :], grid.step, args.counter)[0]
    score = scores(followed, grid.step)[grid.columns]
    lines = ["timestamp,value,anomaly_score\n"]
    lines += [
        f"{t},{'' if v != v else repr(float(v))},{s:.6f}\n"
        for t, v, s in zip(table.raw_timestamps, table.values, score, strict=True)
    ]
    return _write("".join(lines), args.output, "detect")


FILE_HELP = "CSV of timestamp,value (or a time column and one value column: Grafana's export)"


def _stamp(seconds: float, like: str) -> str:
    """A future timestamp in the input's own format: Unix seconds or milliseconds, or date and
    time with the same separators and the same offset (UTC when the input gives none)."""
    try:
        number = float(like)
    except ValueError:
        pass
    else:
        if abs(number) >= MILLISECONDS_FROM:
            seconds *= 1000
        return str(int(seconds)) if seconds == int(seconds) else repr(seconds)
    like = like.strip()
    parsed = datetime_of(like)
    zone = parsed.tzinfo if parsed is not None and parsed.tzinfo is not None else UTC
    at = datetime.fromtimestamp(seconds, zone)
    date = "%Y/%m/%d" if "/" in like[:10] else "%Y-%m-%d"
    date = "%d.%m.%Y" if DOTTED_DATE.match(like) else date
    sep = like[10] if len(like) > 10 and like[10] in "Tt" else " "
    text = at.strftime(f"{date}{sep}%H:%M:%S")
    if len(like) > 19 and like[19] == ".":  # the input's fractions of a second, to microseconds
        text += f".{at.microsecond:06d}"
    for suffix in (" UTC", " GMT", "Z", "z"):
        if like.endswith(suffix):
            return text + suffix
    if parsed is not None and parsed.tzinfo is not None:
        offset = at.strftime("%z")  # +0100; written +01:00 when the input has the colon
        return text + (f"{offset[:3]}:{offset[3:5]}" if like[-3:-2] == ":" else offset)
    return text


def run_forecast(args: argparse.Namespace) -> int:
    try:
        horizon_seconds = duration_seconds(args.horizon)
    except ValueError:
        print(
            f"globalmon sidecar forecast: --horizon: found {args.horizon!r}; "
            "expected a duration like 6h",
            file=sys.stderr,
        )
        return EXIT_USAGE
    table = _read(Path(args.file), "forecast")
    if isinstance(table, int):
        return table
    _counter_note(table, args)
    step = step_of(table.timestamps)
    steps = max(1, round(horizon_seconds / step))
    last = float(table.timestamps[-1])
    if steps > MAX_STEPS or last + steps * step > LATEST:
        print(
            f"globalmon sidecar forecast: --horizon: found {args.horizon!r}, {steps} steps of "
            f"{step:g}s; expected at most {MAX_STEPS} steps, ending before year 10000",
            file=sys.stderr,
        )
        return EXIT_USAGE
    levels = _levels(args.level)
    bounds = _bounds(args.min, args.max)
    if levels is None or bounds is None:
        return EXIT_USAGE
    # on a time grid: a season is the same number of columns everywhere in the file
    values = regular(table.timestamps, table.values, step).values
    floor, ceiling = bounds
    result = forecast_series(
        values[None, :],
        steps,
        seasons_for(step, points=len(values)),
        args.counter,
        floor=floor,
        ceiling=ceiling,
        levels=tuple(p / 100 for p in levels),
        step=step,
    )
    header = ["yhat"]
    columns = [result.yhat]
    for p in levels:
        suffix = "" if p == 95 else f"_{p:g}"
        header += [f"yhat_lower{suffix}", f"yhat_upper{suffix}"]
        columns += result.band(p / 100)
    rows = np.stack([a[0] for a in columns], axis=1)
    lines = ["timestamp," + ",".join(header) + "\n"]
    lines += [
        f"{_stamp(last + (h + 1) * step, table.raw_timestamps[-1])},"
        + ",".join(repr(float(v)) for v in rows[h])
        + "\n"
        for h in range(steps)
    ]
    print(f"model: {result.model[0]}", file=sys.stderr)
    return _write("".join(lines), args.output, "forecast")


def _levels(given: list[str] | None) -> list[float] | None:
    """--level values as percentages, each once, in order (default 95); None after an error."""
    out: list[float] = []
    for text in given or ["95"]:
        try:
            p = float(text)
        except ValueError:
            p = math.nan
        if not 0 < p < 100:
            print(
                f"globalmon sidecar forecast: --level: found {text!r}; expected a percentage "
                "above 0 and below 100, such as 80 or 95",
                file=sys.stderr,
            )
            return None
        if p not in out:
            out.append(p)
    return out


def _bounds(low: str | None, high: str | None) -> tuple[float | None, float | None] | None:
    """--min and --max as numbers (None: not given); None after an error."""
    out: list[float | None] = []
    for flag, text in (("--min", low), ("--max", high)):
        try:
            value = None if text is None else float(text)
        except ValueError:
            value = math.nan
        if value is not None and not math.isfinite(value):
            print(
                f"globalmon sidecar forecast: {flag}: found {text!r}; expected a finite number",
                file=sys.stderr,
            )
            return None
        out.append(value)
    floor, ceiling = out
    if floor is not None and ceiling is not None and floor >= ceiling:
        print(
            f"globalmon sidecar forecast: --max: found {high!r}; expected a number above --min "
            f"({low})",
            file=sys.stderr,
        )
        return None
    return floor, ceiling


def run_live(args: argparse.Namespace) -> int:
    from forecaster_sidecar.app import SidecarConfig, create_app
    from globalmon.cliutil import load_or_report
    from globalmon.spec.types import duration_seconds as seconds

    if not args.spec or not args.prometheus_url:
        print(
            "globalmon sidecar: --spec and --prometheus-url are required (or a MODE: detect, "
            "forecast)",
            file=sys.stderr,
        )
        return EXIT_USAGE
    shard = _shard(args.shard)
    if shard is None:
        print(
            f"globalmon sidecar: --shard: found {args.shard!r}; expected i/n with 0 <= i < n",
            file=sys.stderr,
        )
        return EXIT_USAGE
    if listen_address(args.listen) is None:
        return bad_address(args.listen, "sidecar")
    spec = load_or_report(args.spec)
    if spec is None:
        return EXIT_USAGE
    if not spec.forecasts:
        print(f"globalmon sidecar: {args.spec} has no forecasts; nothing to do", file=sys.stderr)
        return EXIT_USAGE
    config = SidecarConfig(
        tuple(spec.forecasts),
        args.prometheus_url.rstrip("/"),
        interval=seconds(args.interval),
        shard=shard,
        min_step=seconds(args.min_step),
        remote_write_url=args.remote_write_url,
    )
    return serve(create_app(config, clock=time.time), args.listen, "sidecar")


def _shard(text: str) -> tuple[int, int] | None:
    i, sep, n = text.partition("/")
    if not sep or not i.isdigit() or not n.isdigit() or not 0 <= int(i) < int(n):
        return None
    return int(i), int(n)


def add_parsers(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser(
        "sidecar", help="the forecaster sidecar (offline: detect and forecast on a CSV)"
    )
    p.add_argument("--spec", metavar="SPEC", help="region spec YAML file (live mode)")
    p.add_argument("--prometheus-url", metavar="URL", help="Prometheus to read history from")
    p.add_argument(
        "--web.listen-address",
        dest="listen",
        default="127.0.0.1:9468",
        metavar="ADDR",
        help="host:port for /metrics (default: %(default)s)",
    )
    p.add_argument(
        "--shard",
        default="0/1",
        metavar="I/N",
        help="take the series whose stable hash modulo N is I (default: %(default)s)",
    )
    p.add_argument(
        "--interval",
        default="1m",
        type=duration_arg,
        metavar="DURATION",
        help="between runs (default: %(default)s)",
    )
    p.add_argument(
        "--min-step",
        default="15s",
        type=duration_arg,
        metavar="DURATION",
        help="the finest history step read (default: %(default)s, Prometheus' usual scrape)",
    )
    p.add_argument(
        "--remote-write-url",
        metavar="URL",
        help="also push every run's series here (Prometheus remote write 1.0)",
    )
    add_log_flags(p)
    p.set_defaults(func=run_live)
    modes = p.add_subparsers(dest="mode", metavar="MODE")
    d = modes.add_parser(
        "detect",
        help="write timestamp,value,anomaly_score for a timestamp,value CSV (the NAB format)",
    )
    d.add_argument("file", metavar="FILE.csv", help=FILE_HELP)
    d.add_argument("-o", "--output", metavar="OUT", help="write here instead of standard output")
    d.add_argument("--counter", action="store_true", help=COUNTER_HELP + "; scores its increase")
    d.set_defaults(func=run_detect)
    f = modes.add_parser(
        "forecast",
        help="write timestamp,yhat,yhat_lower,yhat_upper for each step of the horizon",
    )
    f.add_argument("file", metavar="FILE.csv", help=FILE_HELP)
    f.add_argument("--horizon", required=True, metavar="H", help="how far ahead, e.g. 6h")
    f.add_argument("-o", "--output", metavar="OUT", help="write here instead of standard output")
    f.add_argument("--counter", action="store_true", help=COUNTER_HELP)
    f.add_argument(
        "--level",
        action="append",
        metavar="PCT",
        help="a band to write, in percent (repeatable; default 95): the 95%% band's columns are "
        "yhat_lower,yhat_upper, another's yhat_lower_PCT,yhat_upper_PCT",
    )
    f.add_argument(
        "--min",
        metavar="X",
        help="what the series cannot go below (default: 0 when no value read is negative)",
    )
    f.add_argument(
        "--max",
        metavar="X",
        help="what the series cannot go above (a ratio's 1, a percentage's 100)",
    )
    f.set_defaults(func=run_forecast)
