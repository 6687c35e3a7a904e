"""Turn pydantic's validation errors into (path, found, expected) in the spec's own words.

Pydantic's ``loc`` holds the discriminator tag of tagged unions (``receivers.0.slack.url``); we
walk the model's types along the loc to drop tags, and to know which keys a model accepts, so an
unknown key gets a did-you-mean suggestion.
"""

from __future__ import annotations

import datetime as dt
import difflib
import json
import math
import types
import typing
from dataclasses import dataclass
from typing import Any, Literal

from pydantic import BaseModel
from pydantic_core import ErrorDetails

from globalmon.spec.paths import Path, PathPart
from globalmon.spec.types import Expect


@dataclass(frozen=True)
class Located:
    """A problem at a path; ``at_key`` points at the mapping key instead of its value."""

    path: Path
    found: str
    expected: str
    at_key: bool = False


def describe(value: Any) -> str:
    """A short, YAML-flavoured rendering of an input value for 'found ...'."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and not math.isfinite(value):
        return ".nan" if math.isnan(value) else ("-.inf" if value < 0 else ".inf")
    if isinstance(value, int | float):
        return repr(value)
    if isinstance(value, str):
        text = value if len(value) <= 60 else value[:57] + "..."
        return json.dumps(text, ensure_ascii=False)
    if isinstance(value, dict):
        if not value:
            return "an empty mapping"
        keys = [str(k) for k in list(value)[:6]]
        return "a mapping of " + ", ".join(keys) + (", ..." if len(value) > 6 else "")
    if isinstance(value, list):
        return "a list"
    if isinstance(value, dt.datetime | dt.date):
        return f"the date {value.isoformat()}"
    return f"a {type(value).__name__}"


def suggest(word: str, choices: typing.Iterable[str]) -> str | None:
    """The closest choice to ``word``, if one is close enough to be a likely typo."""
    close = difflib.get_close_matches(word, list(choices), n=1, cutoff=0.6)
    return close[0] if close else None


def one_of(choices: typing.Sequence[str]) -> str:
    quoted = [f'"{c}"' for c in choices]
    if len(quoted) == 1:
        return quoted[0]
    return "one of " + ", ".join(quoted)


# --- walking the model's types along pydantic's loc ---------------------------------------------


def _expect_in(metadata: typing.Iterable[Any]) -> str | None:
    return next((m.text for m in metadata if isinstance(m, Expect)), None)


def _unwrap(tp: Any) -> Any:
    """Strip Annotated and Optional."""
    while True:
        origin = typing.get_origin(tp)
        if origin is typing.Annotated:
            tp = typing.get_args(tp)[0]
        elif origin in (typing.Union, types.UnionType):
            args = [a for a in typing.get_args(tp) if a is not type(None)]
            if len(args) != 1:
                return tp
            tp = args[0]
        else:
            return tp


def _is_model(tp: Any) -> bool:
    return isinstance(tp, type) and issubclass(tp, BaseModel)


def union_members(tp: Any) -> list[type[BaseModel]]:
    """The models of a tagged union (after unwrapping), else []."""
    tp = _unwrap(tp)
    if typing.get_origin(tp) in (typing.Union, types.UnionType):
        return [a for a in typing.get_args(tp) if _is_model(a)]
    return []


def tag_of(model: type[BaseModel]) -> str | None:
    """The value of a model's discriminator field (`type` or `kind`)."""
    for name in ("type", "kind"):
        field = model.model_fields.get(name)
        if field is not None and typing.get_origin(field.annotation) is Literal:
            return str(typing.get_args(field.annotation)[0])
    return None


def field_keys(model: type[BaseModel]) -> list[str]:
    """The keys a model accepts, as written in YAML (aliases)."""
    return [f.alias or name for name, f in model.model_fields.items()]


def _field(model: type[BaseModel], key: PathPart) -> tuple[Any, str | None]:
    for name, f in model.model_fields.items():
        if key in (f.alias, name):
            return f.annotation, _expect_in(f.metadata)
    return None, None


def _annotated_expect(tp: Any) -> str | None:
    """An Expect hint in Annotated metadata, also inside Optional."""
    if typing.get_origin(tp) is typing.Annotated:
        return _expect_in(typing.get_args(tp)[1:]) or _annotated_expect(typing.get_args(tp)[0])
    if typing.get_origin(tp) in (typing.Union, types.UnionType):
        args = [a for a in typing.get_args(tp) if a is not type(None)]
        return _annotated_expect(args[0]) if len(args) == 1 else None
    return None


@dataclass
class Walk:
    path: Path
    tp: Any  # the type at the end of the path
    expect: str | None = None  # what a value there must be, when its type is wrong


def walk_loc(root: type[BaseModel], loc: tuple[int | str, ...]) -> Walk:
    """Follow ``loc`` through the types from ``root``, dropping union tags from the path."""
    path: list[PathPart] = []
    tp: Any = root
    expect: str | None = None
    for part in loc:
        members = union_members(tp)
        if members:
            chosen = next((m for m in members if tag_of(m) == part), None)
            if chosen is not None:  # a tag: not part of the data path
                tp = chosen
                continue
        u = _unwrap(tp)
        origin = typing.get_origin(u)
        if part == "[key]":
            tp = None
            continue
        path.append(part)
        expect = None
        if _is_model(u):
            tp, expect = _field(u, part)
        elif origin is list:
            tp = typing.get_args(u)[0]
        elif origin is dict:
            tp = typing.get_args(u)[1]
        else:
            tp = None
        expect = expect or _annotated_expect(tp)
    return Walk(tuple(path), tp, expect)


# --- one pydantic error -> one located problem ---------------------------------------------------

_EXPECTED = {
    "missing": "a value (this key is required)",
    "string_type": "a string",
    "int_type": "an integer",
    "int_from_float": "an integer",
    "float_type": "a number",
    "bool_type": "true or false",
    "list_type": "a list",
    "dict_type": "a mapping",
    "model_type": "a mapping",
    "model_attributes_type": "a mapping",
    "finite_number": "a finite number",
    "string_unicode": "a string",
}


# pydantic's comparison errors: (operator to print, ctx key of the limit)
_BOUNDS = {
    "greater_than_equal": (">=", "ge"),
    "greater_than": (">", "gt"),
    "less_than_equal": ("<=", "le"),
    "less_than": ("<", "lt"),
}


def _tags(tp: Any) -> list[str]:
    return [t for m in union_members(tp) if (t := tag_of(m)) is not None]


def _bound(err: ErrorDetails, op: str, key: str) -> str:
    limit = (err.get("ctx") or {}).get(key)
    return (
        f"a number {op} {limit:g}" if isinstance(limit, int | float) else f"a number {op} {limit}"
    )


def convert(root: type[BaseModel], err: ErrorDetails) -> Located:
    """One pydantic error as a located problem in the spec's words."""
    walk = walk_loc(root, tuple(err["loc"]))
    kind = err["type"]
    ctx: dict[str, Any] = dict(err.get("ctx") or {})
    value = err.get("input")
    found = describe(value)
    at_key = bool(err["loc"]) and err["loc"][-1] == "[key]"
    if kind == "extra_forbidden":
        parent = walk_loc(root, tuple(err["loc"][:-1]))
        allowed = field_keys(_unwrap(parent.tp)) if _is_model(_unwrap(parent.tp)) else []
        key = str(walk.path[-1])
        hint = suggest(key, allowed)
        expected = f'"{hint}" (did you mean it?)' if hint else "one of " + ", ".join(allowed)
        return Located(walk.path, f'unknown key "{key}"', expected, at_key=True)
    if kind in ("union_tag_invalid", "union_tag_not_found"):
        disc = str(ctx.get("discriminator", "'type'")).strip("'")
        tags = _tags(walk.tp)
        tag_value = value.get(disc) if isinstance(value, dict) else None
        found = "nothing" if kind == "union_tag_not_found" else describe(tag_value)
        return Located((*walk.path, disc), found, one_of(tags))
    if kind == "missing":
        return Located(walk.path, "nothing", _EXPECTED[kind])
    if kind in ("literal_error", "enum"):
        expected = "one of " + str(ctx.get("expected", "")).replace("'", '"')
        if " or " in expected:
            expected = expected.replace(" or ", ", ")
        elif expected.count('"') == 2:
            expected = expected.removeprefix("one of ")
        return Located(walk.path, found, expected, at_key)
    if kind == "value_error":
        return Located(walk.path, found, str(ctx.get("error", err["msg"])), at_key)
    if kind in _BOUNDS:
        op, key = _BOUNDS[kind]
        return Located(walk.path, found, _bound(err, op, key), at_key)
    if kind == "too_short":
        n = int(ctx.get("min_length", 1))
        return Located(walk.path, f"{ctx.get('actual_length', 0)} items", f"at least {n}", at_key)
    if kind == "too_long":
        n = int(ctx.get("max_length", 0))
        return Located(walk.path, f"{ctx.get('actual_length', 0)} items", f"at most {n}", at_key)
    if kind == "string_too_short":
        n = int(ctx.get("min_length", 1))
        return Located(
            walk.path, found, "a non-empty string" if n == 1 else f"at least {n} characters", at_key
        )
    if kind == "string_pattern_mismatch":
        return Located(walk.path, found, f"a string matching {ctx.get('pattern')}", at_key)
    if kind in _EXPECTED and walk.expect:  # the YAML type is wrong: say what the value must be
        return Located(walk.path, found, walk.expect, at_key)
    expected = _EXPECTED.get(kind, err["msg"][:1].lower() + err["msg"][1:])
    return Located(walk.path, found, expected, at_key)
