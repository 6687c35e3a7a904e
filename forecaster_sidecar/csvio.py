"""Reading ``timestamp,value`` CSV files (the NAB format) for offline use of the sidecar.

Real files are messy, so the reader takes what it can score row by row and says what it passed
over; it refuses only what it cannot read at all:

- The columns are found by name: the time in ``timestamp`` (or ``time``, ``date``,
  ``datetime``, ``ts``, ``@timestamp``, ``_time``: Grafana's CSV export writes ``Time``), the
  value in ``value``, or in the only other column (Grafana names it after the series). A file
  whose first row is already a time and a number has no header: its first two columns are read.
- Fields are separated by commas, or by semicolons or tabs when that is what the first line
  uses (a spreadsheet's export in a locale whose decimal mark is the comma: there ``1,5`` is
  1.5). A number may group its thousands with commas when quoted (``"1,234.5"``).
- Text is UTF-8 (with or without its mark), UTF-16 with its mark (Excel's "Unicode text"), or
  else Latin-1 (a Windows code page's label column); a file holding a NUL byte is binary.
- Timestamps are ``YYYY-MM-DD HH:MM:SS`` (UTC; ``/`` between the date's parts, a trailing
  ``UTC`` or ``Z`` alike; ``DD.MM.YYYY HH:MM`` day first, as German spreadsheets write it), ISO
  8601 (any offset; nanoseconds as Go writes them are cut to microseconds), Unix seconds, or
  Unix milliseconds (a number of 10^11 or more: past year 5138 as seconds); they are written
  back exactly as read. An empty value, ``nan``, ``null``, ``None``, ``NA``, ``N/A``, ``#N/A``,
  ``-`` or ``undefined`` is a gap (NaN).
- A row whose time repeats an earlier one or goes back (a DST change written in local time, a
  collector's retry) is skipped: the series keeps the first value for each time. ``Table.notes``
  says which lines were skipped; the CLI prints them on stderr.
- More columns than ``timestamp`` and ``value`` (a ``label`` column, say) are ignored.
- Rows need not be evenly spaced: ``regular`` puts them on a grid of their step (the detector's
  ``step_of``), each at the column of its own time, with empty columns where rows are missing,
  so that an hour or a day is the same number of columns everywhere in the file (as in the live
  sidecar, whose Prometheus reads are such a grid), however early or late each row comes; rows
  that come faster than the grid share a column.
- Anything else (no header, a time or number that does not read, an infinite value, a field
  past the size limit, a directory or device) is a ``CsvError`` naming the file, line and column
  as ``FILE:LINE:COL: found X; expected Y``.
"""

from __future__ import annotations

import csv
import math
import os
import re
import stat
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import numpy.typing as npt

from forecaster_sidecar.phases import mean_phase

MAX_FIELD = 1024  # a timestamp or number longer than this is not one
MAX_BYTES = 2 * 1024**3
LATEST = datetime(9999, 12, 31, 23, 59, 59, tzinfo=UTC).timestamp()
MILLISECONDS_FROM = 1e11  # Unix seconds this large would be past year 5138
# what spreadsheets, pandas, R and JSON-to-CSV tools write for "no value", compared lowercased
_GAPS = {"", "nan", "null", "none", "na", "n/a", "#n/a", "-", "undefined", "nil"}
TIME_COLUMNS = ("timestamp", "time", "date", "datetime", "ts", "@timestamp", "_time")
DELIMITERS = (",", ";", "\t")
_SLASHED = re.compile(r"^\d{4}/\d{1,2}/\d{1,2}")
DOTTED_DATE = re.compile(r"^(\d{1,2})\.(\d{1,2})\.(\d{4})((?:[ T]\d{1,2}:\d{2}.*)?)$")
_NANOS = re.compile(r"(\.\d{6})\d+")  # Go's RFC 3339 nanoseconds: Python reads microseconds
# What ISO 8601 allows, and no more: Python 3.11's fromisoformat reads trailing junk as an offset
# ("2014-03-01 00:00:00;-1000000000000000" as 10 hours west), so a semicolon file whose first
# value has a decimal comma was split at the comma and its times moved by the value's digits
_ISO = re.compile(
    r"^\d{4}-?(?:\d{2}-?\d{2}|W\d{2}(?:-?\d)?)"  # a date, or a week date
    r"(?:[T ]\d{2}(?::?\d{2}(?::?\d{2}(?:[.,]\d+)?)?)?"  # a time
    r"(?:Z|[+-]\d{2}(?::?\d{2}(?::?\d{2}(?:\.\d+)?)?)?)?)?$"  # an offset
)
_GROUPED = re.compile(r"^[+-]?\d{1,3}(,\d{3})+(\.\d*)?$")  # 1,234.5
# 85.2%, 1.2 GB, 120 ms, 3.5 req/s: a value with its unit, as dashboards format them
_WITH_UNIT = re.compile(r"^[+-]?(\d[\d,]*(\.\d*)?|\.\d+)([eE][+-]?\d+)?\s*[^\d\s.,+-][^,;\t]*$")
_DECIMAL_COMMA = re.compile(r"^[+-]?\d*,\d+([eE][+-]?\d+)?$")  # 1,5 in a ; or tab file


class CsvError(ValueError):
    pass


@dataclass(frozen=True)
class Table:
    raw_timestamps: list[str]
    timestamps: npt.NDArray[np.float64]  # Unix seconds
    values: npt.NDArray[np.float64]
    notes: list[str] = field(default_factory=list)  # rows passed over, FILE:LINE: why


def datetime_of(text: str) -> datetime | None:
    """A date-and-time cell as a datetime (naive: UTC), or None when it is not one."""
    text = text.strip()
    if _ISO.match(text):
        try:
            return datetime.fromisoformat(text)  # the usual case, first: the rest costs per row
        except ValueError:
            pass
    for suffix in (" UTC", " GMT"):
        if text.endswith(suffix):
            text = text[: -len(suffix)] + "Z"
    if _SLASHED.match(text):
        text = text.replace("/", "-", 2)
    dotted = DOTTED_DATE.match(text)
    if dotted:  # 01.02.2024 10:00, day first: a German or Russian spreadsheet's dates
        day, month, year, rest = dotted.groups()
        text = f"{year}-{int(month):02d}-{int(day):02d}{rest}"
    text = _NANOS.sub(r"\1", text)
    if not _ISO.match(text):
        return None
    try:
        return datetime.fromisoformat(text)
    except ValueError:
        return None


def seconds_of(text: str) -> float | None:
    """Unix seconds of a timestamp cell, or None when it is not one (or past year 9999)."""
    try:
        value = float(text)
    except ValueError:
        pass
    else:
        if not math.isfinite(value):
            return None
        if abs(value) >= MILLISECONDS_FROM:
            value /= 1000.0
        return value if 0 <= value <= LATEST else None
    parsed = datetime_of(text)
    if parsed is None:
        return None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    try:
        return parsed.timestamp()
    except (OverflowError, ValueError):  # an offset that moves it past year 9999
        return None


def number_of(cell: str, delimiter: str) -> float | None:
    """A value cell as a float (NaN for a gap), or None when it is not a number."""
    cell = cell.strip()
    try:
        return float(cell)  # the usual case, first
    except ValueError:
        pass
    if cell.lower() in _GAPS:
        return math.nan
    if delimiter == "," and _GROUPED.match(cell):
        cell = cell.replace(",", "")
    elif delimiter != "," and _DECIMAL_COMMA.match(cell):
        cell = cell.replace(",", ".")
    else:
        return None
    return float(cell)


def _text(path: Path) -> str:
    where = f"{path}:1:1"
    try:
        info = os.stat(path)
    except FileNotFoundError:
        raise
    except OSError as exc:
        raise CsvError(f"{where}: found {exc.strerror}; expected a readable CSV file") from None
    if stat.S_ISDIR(info.st_mode):
        raise CsvError(f"{where}: found a directory; expected a timestamp,value CSV file")
    if not stat.S_ISREG(info.st_mode):
        raise CsvError(f"{where}: found a device, FIFO or socket; expected a CSV file")
    if info.st_size > MAX_BYTES:
        raise CsvError(f"{where}: found {info.st_size} bytes; expected at most {MAX_BYTES}")
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise CsvError(f"{where}: found {exc.strerror}; expected a readable CSV file") from None
    binary = CsvError(f"{where}: found binary data; expected a timestamp,value CSV")
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):  # UTF-16 with its mark: Excel's "Unicode text"
        try:
            return data.decode("utf-16")
        except UnicodeDecodeError:
            raise binary from None
    if b"\x00" in data:  # no text file holds a NUL: a gzip, an image, a database
        raise binary
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError:
        # a spreadsheet's export in a Windows code page (a label column's "café"): the times
        # and numbers read are ASCII either way, and Latin-1 decodes any byte
        return data.decode("latin-1")


EXPECTED_HEADER = (
    "the header 'timestamp,value' (or a time column such as 'time' or 'date' and one other)"
)


def _headerless(row: list[str], delimiter: str) -> bool:
    """A first row that is already data: a time, then a number."""
    return (
        len(row) >= 2
        and all(len(c) <= MAX_FIELD for c in row[:2])
        and seconds_of(row[0]) is not None
        and number_of(row[1], delimiter) is not None
    )


def _delimiter(first: str) -> str:
    """The separator the first line uses: the first of ``DELIMITERS`` that splits it into a
    header naming a time column, or into a time and a number; else the comma."""
    for delimiter in DELIMITERS:
        row = next(csv.reader([first], delimiter=delimiter), [])
        names = [c.strip().lower() for c in row]
        if len(row) >= 2 and (any(n in TIME_COLUMNS for n in names) or _headerless(row, delimiter)):
            return delimiter
    return ","


def _columns(path: Path, header: list[str] | None) -> tuple[int, int, int]:
    """(timestamp column, value column, number of columns) from the header."""
    names = [c.strip().lower() for c in header or []]
    times = [i for i, n in enumerate(names) if n in TIME_COLUMNS]
    # "timestamp" first: a file with both a time and a timestamp column means the latter
    t_col = names.index("timestamp") if "timestamp" in names else (times[0] if times else -1)
    others = [i for i in range(len(names)) if i != t_col]
    if "value" in names:
        v_col = names.index("value")
    elif len(others) == 1:
        v_col = others[0]
    else:
        v_col = -1
    if t_col < 0 or v_col < 0:
        found = ",".join(header) if header else "an empty file"
        raise CsvError(f"{path}:1:1: found {found!r}; expected {EXPECTED_HEADER}")
    return t_col, v_col, len(names)


def read(path: Path) -> Table:
    lines = _text(path).splitlines()
    delimiter = _delimiter(lines[0]) if lines else ","
    reader = csv.reader(lines, delimiter=delimiter)
    try:
        header = next(reader, None)
    except csv.Error as exc:
        raise CsvError(f"{path}:1:1: found {exc}; expected {EXPECTED_HEADER}") from None
    raw: list[str] = []
    stamps: list[float] = []
    values: list[float] = []
    notes: list[str] = []
    pending: list[list[str]] = []
    if header is not None and _headerless(header, delimiter):
        t_col, v_col, width = 0, 1, len(header)
        notes.append(f"{path}:1: no header: columns 1 and 2 read as timestamp,value")
        pending.append(header)
    else:
        t_col, v_col, width = _columns(path, header)
    while True:
        try:
            row = pending.pop() if pending else next(reader, None)
        except csv.Error as exc:
            raise CsvError(f"{path}:{reader.line_num}:1: found {exc}; expected CSV") from None
        if row is None:
            break
        line = reader.line_num
        if not row or (len(row) == 1 and not row[0].strip()):
            continue
        if len(row) != width:
            raise CsvError(f"{path}:{line}:1: found {len(row)} fields; expected {width}")
        stamp, cell = row[t_col], row[v_col].strip()
        seconds = seconds_of(stamp) if len(stamp) <= MAX_FIELD else None
        if seconds is None:
            shown = stamp if len(stamp) <= 60 else stamp[:60] + "..."
            raise CsvError(
                f"{path}:{line}:1: found {shown!r}; expected a time like 2014-02-14 14:30:00 "
                "(or Unix seconds), up to year 9999"
            )
        value = number_of(cell, delimiter) if len(cell) <= MAX_FIELD else None
        if value is None or math.isinf(value):
            col = sum(len(c) + 1 for c in row[:v_col]) + 1
            shown = row[v_col] if len(row[v_col]) <= 60 else row[v_col][:60] + "..."
            unit = _WITH_UNIT.match(cell) is not None
            raise CsvError(
                f"{path}:{line}:{col}: found {shown!r}; expected a number"
                + (" without a unit (Grafana's CSV export adds units with Formatted data)" * unit)
            )
        if stamps and seconds <= stamps[-1]:
            how = "repeats" if seconds == stamps[-1] else "is before"
            notes.append(f"{path}:{line}: skipped: {stamp!r} {how} {raw[-1]!r}, read before")
            continue
        raw.append(stamp)
        stamps.append(seconds)
        values.append(value)
    if not raw:
        raise CsvError(f"{path}:2:1: found no rows; expected at least one")
    return Table(raw, np.array(stamps), np.array(values), notes)


MAX_GAP_SECONDS = 7 * 86400.0  # a longer gap leaves a week of empty columns: every window forgets
GRID_BUDGET = 4  # columns per row at most (plus a million), whatever the gaps


@dataclass(frozen=True)
class Regular:
    """A table's values on a grid of ``step`` seconds from its first row (``regular``): row i in
    column ``columns[i]``, NaN in the columns no row fell in."""

    step: float
    values: npt.NDArray[np.float64]
    columns: npt.NDArray[np.int64]


def regular(
    timestamps: npt.NDArray[np.float64], values: npt.NDArray[np.float64], step: float
) -> Regular:
    """Rows (strictly increasing times) on a grid of ``step`` seconds (the detector's
    ``step_of``): each row in the column of its own time, counted from the first row's, on the
    grid the rows' times lie around (``_phase``). A row that comes in the same column as the
    row before it takes the next one, one column late at most: a row that would be later than
    that shares the column of the row before it (rows that come faster than the grid: the
    column holds the last of them that has a value, as a Prometheus read at that time would, and
    each of them is scored as the column is). A gap of k steps leaves k - 1 columns empty, at
    most a week's, and fewer when the whole grid would pass its budget (a few rows a year apart
    in a file of seconds).

    Columns follow the rows' times, not their spacing: a collector whose rows come 5 minutes
    apart give or take two (a collector under load, a cron job's jitter) would, rounded one
    spacing at a time, drift by a column at every pair of short spacings (two 2.4-minute
    spacings are a column each, for 4.8 minutes), and in NAB's subset so jittered the rows'
    time of day was half a day off by the end (median of the files), the subset's score 77.1 ->
    69.2. And two days of 1-minute rows after ten of 5-minute ones, each in a column of its own,
    ran 8 days ahead of their time."""
    t = np.asarray(timestamps, dtype=float)
    n = len(t)
    if n == 0:
        return Regular(step, np.empty(0), np.zeros(0, dtype=np.int64))
    # each row's grid point, from the first row's; a gap capped at a week of columns
    own = np.round((t - _phase(t, step)) / step)
    gaps = np.minimum(np.diff(own), max(1.0, round(MAX_GAP_SECONDS / step)))
    target = np.concatenate([[0.0], np.cumsum(gaps)])
    columns = target + _late(gaps)
    budget = GRID_BUDGET * n + 1_000_000
    if columns[-1] + 1 > budget:  # cap every gap alike: the grid stays within the budget
        steps = np.minimum(np.diff(columns), max(1, (budget - 1) // max(1, n - 1)))
        columns = np.concatenate([[0.0], np.cumsum(steps)])
    at = columns.astype(np.int64)
    grid = np.full(int(at[-1]) + 1, np.nan)
    # a shared column holds its last row with a value (assigned in order: the last one stays)
    known = ~np.isnan(values)
    cells, rows = at[known], np.asarray(values, dtype=float)[known]
    last = np.ones(len(cells), dtype=bool)
    last[:-1] = cells[1:] != cells[:-1]
    grid[cells[last]] = rows[last]
    return Regular(step, grid, at)


def _late(gaps: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
    """1 for a row one column after its own grid point, 0 for one at it, from the gaps between
    the rows' points: a row whose point is the row before's (gap 0) is late; one a column after
    a row is late when that row is (it is where its column would be); one further on is not.
    The rule ``column = max(own, the row before's + 1)``, bounded to one column late."""
    out = np.zeros(len(gaps) + 1)
    decided = np.flatnonzero(gaps != 1) + 1  # rows whose lateness does not follow the row before
    if len(decided):
        index = np.zeros(len(out), dtype=np.int64)
        index[decided] = decided
        source = np.maximum.accumulate(index)  # each row's latest deciding row (0: the first)
        out = np.where(source > 0, (gaps[np.maximum(source, 1) - 1] == 0).astype(float), 0.0)
    return out


def _phase(t: npt.NDArray[np.float64], step: float) -> float:
    """Where the grid the times lie around is, within a step: the circular mean of their
    remainders by the step (so times on a grid give its own phase, and times 5 minutes apart
    give or take one are each put at their nearest point of it). The first row's time would
    do for evenly spaced rows, but a jittered first row would move every row's column by its
    jitter."""
    mean = mean_phase(t, step)
    return float(t[0]) + step * math.atan2(mean.imag, mean.real) / (2 * np.pi)
