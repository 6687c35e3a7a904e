"""Field types shared by the spec's models: durations, names, PromQL, URLs, secret references.

Each type validates with a message that reads as the "expected" half of a spec error, so
``load_spec`` can print ``path: found X; expected <message>``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache
from typing import Annotated, Any
from urllib.parse import urlsplit

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, WithJsonSchema, model_validator

# Prometheus' duration grammar (model.ParseDuration): units in decreasing order, each at most once.
DURATION_PATTERN = (
    r"^(0|(([0-9]+)y)?(([0-9]+)w)?(([0-9]+)d)?(([0-9]+)h)?(([0-9]+)m)?(([0-9]+)s)?(([0-9]+)ms)?)$"
)
_DURATION_RE = re.compile(DURATION_PATTERN)
_UNIT_SECONDS = {
    "y": 365 * 86400,
    "w": 7 * 86400,
    "d": 86400,
    "h": 3600,
    "m": 60,
    "s": 1,
    "ms": 0.001,
}
_DURATION_PART = re.compile(r"([0-9]+)(ms|y|w|d|h|m|s)")

LABEL_NAME_PATTERN = r"^[a-zA-Z_][a-zA-Z0-9_]*$"
_LABEL_NAME_RE = re.compile(LABEL_NAME_PATTERN)
ID_PATTERN = r"^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$"
_ID_RE = re.compile(ID_PATTERN)
ALERT_NAME_PATTERN = r"^[A-Z][A-Za-z0-9]*$"
# Plugins are named by their authors (the seed design's `my_plugin`, `restaurant_management`):
# letters, digits, _ and -; they only ever become a label value and a URL path segment.
PLUGIN_ID_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$"
_PLUGIN_ID_RE = re.compile(PLUGIN_ID_PATTERN)


@dataclass(frozen=True)
class Expect:
    """What a value must be, said when its YAML type is wrong: ``found 15; expected <text>``."""

    text: str


class StrictModel(BaseModel):
    """Base of every spec model: strict types, unknown keys rejected, immutable after loading."""

    model_config = ConfigDict(
        extra="forbid", strict=True, frozen=True, populate_by_name=False, allow_inf_nan=False
    )


# Prometheus keeps a duration as int64 nanoseconds and refuses more ("duration out of range").
MAX_DURATION_NS = 2**63 - 1
_UNIT_NS = {u: round(s * 1_000_000_000) for u, s in _UNIT_SECONDS.items()}


# Generation parses the same few durations tens of thousands of times for a fleet-sized spec.
@lru_cache(maxsize=4096)
def _duration_ns(text: str) -> int | None:
    """Nanoseconds in a well-formed duration within Prometheus' range, else None."""
    if text == "" or not _DURATION_RE.fullmatch(text):
        return None
    total = sum(int(n) * _UNIT_NS[u] for n, u in _DURATION_PART.findall(text))
    return total if total <= MAX_DURATION_NS else None


def duration_seconds(text: str) -> float:
    """Seconds in a Prometheus duration string: ``duration_seconds("1h30m") == 5400.0``."""
    ns = _duration_ns(text)
    if ns is None:
        raise ValueError(f"not a Prometheus duration: {text!r}")
    return ns / 1e9


def format_duration(seconds: float) -> str:
    """The Prometheus duration for whole milliseconds: ``format_duration(5400) == "1h30m"``."""
    ms = round(seconds * 1000)
    if ms == 0:
        return "0s"
    out = ""
    for unit in ("w", "d", "h", "m", "s", "ms"):
        size = round(_UNIT_SECONDS[unit] * 1000)
        n, ms = divmod(ms, size)
        if n:
            out += f"{n}{unit}"
    return out


def _check_duration(value: str) -> str:
    if value == "" or not _DURATION_RE.fullmatch(value):
        raise ValueError(_DURATION_EXPECTED)
    if _duration_ns(value) is None:
        raise ValueError("a duration within Prometheus' range (at most 292y)")
    return value


def is_label_name(value: str) -> bool:
    """A whole Prometheus label name, not one of the reserved ``__`` names. The one check every
    boundary uses: ``fullmatch``, because ``re.match`` with ``$`` lets a final newline through."""
    return _LABEL_NAME_RE.fullmatch(value) is not None and not value.startswith("__")


def is_id(value: str) -> bool:
    return _ID_RE.fullmatch(value) is not None


def is_host_port(value: str) -> bool:
    m = _HOSTPORT_RE.fullmatch(value)
    return m is not None and 0 < int(value.rsplit(":", 1)[1]) < 65536


def _check_label_name(value: str) -> str:
    if not _LABEL_NAME_RE.fullmatch(value):
        raise ValueError("a label name: letters, digits and _, not starting with a digit")
    if value.startswith("__"):
        raise ValueError("a label name not starting with __ (reserved for Prometheus)")
    return value


def _check_id(value: str) -> str:
    if not is_id(value):
        raise ValueError(
            "an id of lowercase letters, digits and -, starting and ending with a letter or digit"
        )
    return value


def _check_plugin_id(value: str) -> str:
    if not _PLUGIN_ID_RE.fullmatch(value):
        raise ValueError(
            "a plugin id of letters, digits, _ and - (at most 64), starting with a letter or digit"
        )
    return value


def _check_url(value: str) -> str:
    parts = urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise ValueError('an http(s) URL such as "http://prometheus:9090"')
    return value


_OPENERS = {"(": ")", "[": "]", "{": "}"}
_CLOSERS = {v: k for k, v in _OPENERS.items()}


def promql_problem(expr: str) -> str | None:
    """Why ``expr`` is obviously not PromQL (empty, unbalanced brackets or quotes), else None.

    This is a cheap structural check, not a parser: promtool checks the generated rules fully.
    """
    if not expr.strip():
        return "a PromQL expression, not an empty string"
    stack: list[tuple[str, int]] = []
    quote: str | None = None
    i = 0
    while i < len(expr):
        c = expr[i]
        if quote:
            if c == "\\" and quote != "`":
                i += 2
                continue
            if c == quote:
                quote = None
        elif c in "\"'`":
            quote = c
            quote_at = i
        elif c == "#":  # a comment runs to the end of the line
            nl = expr.find("\n", i)
            i = len(expr) if nl < 0 else nl
            continue
        elif c in _OPENERS:
            stack.append((c, i))
        elif c in _CLOSERS:
            if not stack or stack[-1][0] != _CLOSERS[c]:
                return f"PromQL with balanced brackets (unmatched {c!r} at offset {i})"
            stack.pop()
        i += 1
    if quote:
        return f"PromQL with closed quotes (unterminated {quote} at offset {quote_at})"
    if stack:
        c, at = stack[-1]
        return f"PromQL with balanced brackets (unclosed {c!r} at offset {at})"
    return None


def _check_promql(value: str) -> str:
    problem = promql_problem(value)
    if problem:
        raise ValueError(problem)
    return value


def _schema(pattern: str | None = None, **extra: Any) -> WithJsonSchema:
    schema: dict[str, Any] = {"type": "string", **extra}
    if pattern:
        schema["pattern"] = pattern
    return WithJsonSchema(schema)


_DURATION_EXPECTED = 'a Prometheus duration such as "30s", "5m" or "1h30m"'
Duration = Annotated[
    str,
    Expect(_DURATION_EXPECTED),
    AfterValidator(_check_duration),
    _schema(DURATION_PATTERN, format="prometheus-duration"),
]
"""A Prometheus duration string, kept as written (``"30s"``, ``"5m"``, ``"1h30m"``)."""

LabelName = Annotated[str, AfterValidator(_check_label_name), _schema(LABEL_NAME_PATTERN)]
Id = Annotated[str, AfterValidator(_check_id), _schema(ID_PATTERN)]
PluginId = Annotated[str, AfterValidator(_check_plugin_id), _schema(PLUGIN_ID_PATTERN)]
_HOSTPORT_RE = re.compile(r"^(\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9_.-]+):[0-9]{1,5}$")


def _check_hostport(value: str) -> str:
    if not is_host_port(value):
        raise ValueError('host:port such as "10.0.1.10:9464" or "[::1]:9464"')
    return value


HostPort = Annotated[str, AfterValidator(_check_hostport), _schema(_HOSTPORT_RE.pattern)]
Url = Annotated[str, AfterValidator(_check_url), _schema(r"^https?://", format="uri")]
PromQL = Annotated[str, AfterValidator(_check_promql), _schema(None, minLength=1)]
AlertName = Annotated[str, Field(pattern=ALERT_NAME_PATTERN)]
Labels = dict[LabelName, str]
Percent = Annotated[float, Field(ge=0, le=100)]
Ratio = Annotated[float, Field(ge=0, le=1)]


class SecretRef(StrictModel):
    """Where a secret comes from: an environment variable or a file, never the spec itself.

    Generated configs refer to the file (``credentials_file``) or the variable, so a secret's
    value never lands in generated output or in version control.
    """

    env: str | None = Field(
        None,
        description="Name of the environment variable that holds the secret.",
        examples=["GLOBALMON_WEBHOOK_TOKEN"],
        pattern=r"^[A-Za-z_][A-Za-z0-9_]*$",
    )
    file: str | None = Field(
        None,
        description="Path of a file whose content (trailing newline stripped) is the secret.",
        examples=["/etc/globalmon/webhook.token"],
        min_length=1,
    )

    @model_validator(mode="after")
    def _exactly_one(self) -> SecretRef:
        if (self.env is None) == (self.file is None):
            raise ValueError(SECRET_EXPECTED)
        return self


SECRET_EXPECTED = "a secret reference: {env: VARIABLE} or {file: PATH}, exactly one"
Secret = Annotated[SecretRef, Expect(SECRET_EXPECTED + ", never the secret itself")]
