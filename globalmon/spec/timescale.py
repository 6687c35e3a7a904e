"""Compressed time for stacks that must show a fault in seconds: PromQL with its windows scaled.

``global.time_scale: 15`` makes ``rate(x[5m])`` read 20 s, ``x offset 1h`` 4 min and a
subquery ``[1h:5m]`` ``[4m:20s]``: at a 1 s scrape instead of 15 s, each window still holds as
many samples, so the rules behave as in production, 15 times faster. Everything else in the
expression stays as written: label values (``{path="/a[5m]"}``), comments, numbers and ``@``
timestamps. Windows never drop below ``floor`` seconds (two scrapes), or a rate sees one sample.
"""

from __future__ import annotations

import re

from globalmon.spec.types import duration_seconds, format_duration

_DURATION = r"(?:\d+(?:ms|[smhdwy]))+"
# inside [ ]: a range `[5m]` or a subquery `[1h:5m]` / `[1h:]`
_RANGE = re.compile(rf"\[\s*({_DURATION})\s*(?::\s*({_DURATION})?\s*)?\]")
_OFFSET = re.compile(rf"offset(\s+)(-?)({_DURATION})\b")
_WORD = re.compile(r"[A-Za-z0-9_:]")


def scale_windows(expr: str, factor: int, floor: float) -> str:
    """``expr`` with every range, subquery step and offset divided by ``factor``, at least
    ``floor`` seconds; unchanged when ``factor`` is 1."""
    if factor == 1:
        return expr

    def scaled(text: str) -> str:
        return format_duration(max(floor, duration_seconds(text) / factor))

    out: list[str] = []
    i, n = 0, len(expr)
    while i < n:
        c = expr[i]
        if c in "\"'`":  # a string: copied as it is, escapes included
            j = i + 1
            while j < n and expr[j] != c:
                j += 2 if expr[j] == "\\" and c != "`" else 1
            out.append(expr[i : j + 1])
            i = j + 1
        elif c == "#":  # a comment runs to the end of the line
            j = expr.find("\n", i)
            j = n if j < 0 else j
            out.append(expr[i:j])
            i = j
        elif c == "[" and (m := _RANGE.match(expr, i)):
            step = m.group(2)
            if ":" in m.group(0):
                out.append(f"[{scaled(m.group(1))}:{scaled(step) if step else ''}]")
            else:
                out.append(f"[{scaled(m.group(1))}]")
            i = m.end()
        elif (
            c == "o" and (i == 0 or not _WORD.match(expr[i - 1])) and (m := _OFFSET.match(expr, i))
        ):
            out.append(f"offset{m.group(1)}{m.group(2)}{scaled(m.group(3))}")
            i = m.end()
        else:
            out.append(c)
            i += 1
    return "".join(out)
