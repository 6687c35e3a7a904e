"""Render the small subset of Prometheus' alert templates our annotations use.

Only to compute the annotations a promtool test expects; promtool renders the real templates
with Go and compares, so a difference between this and Go fails the generated tests.
"""

from __future__ import annotations

import math
import re

_TOKEN = re.compile(r"\{\{\s*(\$labels\.([a-zA-Z_][a-zA-Z0-9_]*)|\$value(\s*\|\s*(\w+))?)\s*\}\}")
_SMALL = ("m", "u", "n", "p", "f", "a", "z", "y")
_BIG = ("k", "M", "G", "T", "P", "E", "Z", "Y")


def _g4(v: float) -> str:
    return f"{v:.4g}"


def humanize(v: float) -> str:
    """Go's ``humanize``: SI prefixes, 4 significant digits."""
    if v == 0 or math.isnan(v) or math.isinf(v):
        return _g4(v)
    prefix = ""
    if abs(v) >= 1:
        for p in _BIG:
            if abs(v) < 1000:
                break
            prefix, v = p, v / 1000
        return _g4(v) + prefix
    for p in _SMALL:
        if abs(v) >= 1:
            break
        prefix, v = p, v * 1000
    return _g4(v) + prefix


def humanize_duration(v: float) -> str:
    """Go's ``humanizeDuration`` for seconds."""
    if v == 0 or math.isnan(v) or math.isinf(v):
        return _g4(v) + "s"
    sign = "-" if v < 0 else ""
    v = abs(v)
    if v >= 1:
        whole = int(v)
        days, hours, minutes = whole // 86400, whole // 3600 % 24, whole // 60 % 60
        seconds = math.fmod(v, 60)
        if days:
            return f"{sign}{days}d {hours}h {minutes}m {int(seconds)}s"
        if hours:
            return f"{sign}{hours}h {minutes}m {int(seconds)}s"
        if minutes:
            return f"{sign}{minutes}m {int(seconds)}s"
        return f"{sign}{_g4(seconds)}s"
    prefix = ""
    for p in _SMALL:
        if v >= 1:
            break
        prefix, v = p, v * 1000
    return f"{sign}{_g4(v)}{prefix}s"


def humanize_percentage(v: float) -> str:
    return _g4(v * 100) + "%"


# A bare {{ $value }} prints with Go's %v (shortest round-trip); annotations always pipe it
# through one of these instead, so a case's expected text is exact.
_FUNCS = {
    "humanize": humanize,
    "humanizeDuration": humanize_duration,
    "humanizePercentage": humanize_percentage,
}


def render(template: str, labels: dict[str, str], value: float) -> str:
    """``render("{{ $labels.agent }} at {{ $value | humanizePercentage }}", ...)``."""

    def one(m: re.Match[str]) -> str:
        if m.group(2):
            return labels.get(m.group(2), "")
        fn = _FUNCS.get(m.group(4) or "")
        if fn is None:
            raise ValueError(f"{m.group(0)}: pipe $value through one of {', '.join(_FUNCS)}")
        return fn(value)

    return _TOKEN.sub(one, template)
