"""The spec error: every problem of a spec at once, each with file, line, column and path."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, order=True)
class Problem:
    """One problem, printed as ``FILE:LINE:COL: path: found X; expected Y``."""

    file: str
    line: int
    col: int
    path: str
    found: str
    expected: str

    def __str__(self) -> str:
        where = f"{self.file}:{self.line}:{self.col}"
        return f"{where}: {self.path}: found {self.found}; expected {self.expected}"


class SpecError(ValueError):
    """A spec that cannot be loaded; ``problems`` lists every problem found, in file order."""

    def __init__(self, problems: list[Problem]) -> None:
        self.problems = sorted(set(problems))
        super().__init__("\n".join(str(p) for p in self.problems))
