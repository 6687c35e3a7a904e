"""`load_spec`: the only place globalmon reads YAML. A spec loads whole or raises SpecError."""

from __future__ import annotations

import os
import stat

import yaml
from pydantic import ValidationError

from globalmon.spec import semantic
from globalmon.spec.errors import Problem, SpecError
from globalmon.spec.locate import Constructor, Positions, index_positions
from globalmon.spec.model import Spec
from globalmon.spec.paths import ROOT_NAME, format_path
from globalmon.spec.pydantic_errors import Located, convert

MAX_SPEC_BYTES = 10 * 1024 * 1024
# libyaml's parser composes ~30x faster with the same positions; its messages differ a little.
_COMPOSER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
TOP_EXPECTED = "a mapping with version, regions and the other spec sections"


def load_spec(path: str | os.PathLike[str]) -> Spec:
    """Read, validate and check the spec at ``path``; raise SpecError listing every problem."""
    name = os.fspath(path)
    try:
        info = os.stat(name)
        if stat.S_ISDIR(info.st_mode):
            raise IsADirectoryError(name)
        if not stat.S_ISREG(info.st_mode):  # a device or FIFO may never end, or block forever
            raise _one(name, "not a regular file (a device, FIFO or socket)", "a spec file")
        if info.st_size > MAX_SPEC_BYTES:
            too_large = f"a spec of at most {MAX_SPEC_BYTES} bytes"
            raise _one(name, f"{info.st_size} bytes", too_large)
        with open(name, "rb") as f:
            data = f.read(MAX_SPEC_BYTES + 1)  # a file that grows while read is still bounded
        if len(data) > MAX_SPEC_BYTES:
            raise _one(name, "a file that grew past the limit", f"at most {MAX_SPEC_BYTES} bytes")
        text = data.decode("utf-8")
    except FileNotFoundError:
        raise _one(name, "no such file", "a readable spec file") from None
    except IsADirectoryError:
        raise _one(name, "a directory", "a spec file") from None
    except UnicodeDecodeError as exc:
        raise _one(name, f"bytes that are not UTF-8 ({exc.reason})", "a UTF-8 text file") from None
    except OSError as exc:
        raise _one(name, exc.strerror or str(exc), "a readable spec file") from None
    return load_spec_text(text, name)


def load_spec_text(text: str, filename: str = "<spec>") -> Spec:
    """Validate and check spec text; ``filename`` only labels the errors."""
    try:
        root = yaml.compose(text, Loader=_COMPOSER)
    except yaml.MarkedYAMLError as exc:
        raise SpecError([_yaml_problem(filename, exc)]) from None
    except yaml.YAMLError as exc:
        raise _one(filename, f"invalid YAML ({exc})", "well-formed YAML") from None
    except RecursionError:
        raise _one(filename, "nesting too deep to read", "a spec of ordinary depth") from None
    if root is None:
        raise _one(filename, "an empty document", TOP_EXPECTED)
    try:
        positions = index_positions(root)
    except yaml.MarkedYAMLError as exc:  # a key its tag cannot read, such as !!int abc
        raise SpecError([_yaml_problem(filename, exc)]) from None
    except RecursionError:
        raise _one(filename, "nesting too deep to read", "a spec of ordinary depth") from None
    if positions.too_large:
        raise _one(filename, "aliases that expand to a huge document", "a spec of ordinary size")
    if positions.duplicates:
        raise SpecError(
            [
                Problem(
                    filename,
                    again.line,
                    again.col,
                    format_path(path),
                    f'the key "{path[-1]}" a second time',
                    f"each key once (first at line {first.line})",
                )
                for path, first, again in positions.duplicates
            ]
        )
    try:
        data = Constructor().construct_document(root)
    except yaml.MarkedYAMLError as exc:  # e.g. an unknown tag such as !!python/object
        raise SpecError([_yaml_problem(filename, exc)]) from None
    except RecursionError:  # an anchor that contains itself
        raise _one(filename, "a value that contains itself", "a spec without cycles") from None
    if not isinstance(data, dict):
        raise _one(filename, _kind(data), TOP_EXPECTED)
    try:
        spec = Spec.model_validate(data)
    except ValidationError as exc:
        located = [convert(Spec, err) for err in exc.errors()]
        raise SpecError([_place(filename, positions, p) for p in located]) from None
    problems = semantic.check(spec)
    if problems:
        raise SpecError([_place(filename, positions, p) for p in problems])
    return spec


def _yaml_problem(filename: str, exc: yaml.MarkedYAMLError) -> Problem:
    mark = exc.problem_mark or exc.context_mark
    line, col = (mark.line + 1, mark.column + 1) if mark else (1, 1)
    what = (exc.problem or "invalid YAML").strip()
    context = exc.context_mark
    if exc.context and context is not None and mark is not None and context.line != mark.line:
        what = f"{exc.context} from line {context.line + 1}: {what}"
    return Problem(filename, line, col, ROOT_NAME, f"invalid YAML ({what})", "well-formed YAML")


def _kind(value: object) -> str:
    return "a list" if isinstance(value, list) else f"a single value ({value!r})"


def _one(filename: str, found: str, expected: str) -> SpecError:
    return SpecError([Problem(filename, 1, 1, ROOT_NAME, found, expected)])


def _place(filename: str, positions: Positions, p: Located) -> Problem:
    pos = positions.find(p.path, key=p.at_key)
    return Problem(filename, pos.line, pos.col, format_path(p.path), p.found, p.expected)
