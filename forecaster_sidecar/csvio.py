"""Reading ``timestamp,value`` CSV files (the NAB format) for offline use of the sidecar.

Timestamps are ``YYYY-MM-DD HH:MM:SS`` (UTC), ISO 8601, or Unix seconds; they are written back
exactly as read. An empty value is a gap (NaN). Any other problem is a ``CsvError`` naming the
file, line and column as ``FILE:LINE:COL: found X; expected Y``.
"""

from __future__ import annotations

import csv
import math
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import numpy.typing as npt


class CsvError(ValueError):
    pass


@dataclass(frozen=True)
class Table:
    raw_timestamps: list[str]
    timestamps: npt.NDArray[np.float64]  # Unix seconds
    values: npt.NDArray[np.float64]


def _seconds(text: str) -> float | None:
    try:
        value = float(text)
    except ValueError:
        pass
    else:
        return value if math.isfinite(value) else None
    try:
        parsed = datetime.fromisoformat(text.strip())
    except ValueError:
        return None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    return parsed.timestamp()


def read(path: Path) -> Table:
    try:
        text = path.read_text()
    except UnicodeDecodeError:
        raise CsvError(f"{path}:1:1: found binary data; expected a timestamp,value CSV") from None
    rows = list(csv.reader(text.splitlines()))
    if not rows or [c.strip() for c in rows[0]] != ["timestamp", "value"]:
        found = ",".join(rows[0]) if rows else "an empty file"
        raise CsvError(f"{path}:1:1: found {found!r}; expected the header 'timestamp,value'")
    raw: list[str] = []
    stamps: list[float] = []
    values: list[float] = []
    for line, row in enumerate(rows[1:], start=2):
        if not row:
            continue
        if len(row) != 2:
            raise CsvError(f"{path}:{line}:1: found {len(row)} fields; expected 2")
        seconds = _seconds(row[0])
        if seconds is None:
            raise CsvError(
                f"{path}:{line}:1: found {row[0]!r}; expected a time like 2014-02-14 14:30:00"
            )
        if stamps and seconds <= stamps[-1]:
            raise CsvError(f"{path}:{line}:1: found {row[0]!r}; expected a time after the last")
        cell = row[1].strip()
        value: float | None
        try:
            value = float(cell) if cell else math.nan
        except ValueError:
            value = None
        if value is None or math.isinf(value):
            col = len(row[0]) + 2
            raise CsvError(f"{path}:{line}:{col}: found {row[1]!r}; expected a number")
        raw.append(row[0])
        stamps.append(seconds)
        values.append(value)
    if not raw:
        raise CsvError(f"{path}:2:1: found no rows; expected at least one")
    return Table(raw, np.array(stamps), np.array(values))
