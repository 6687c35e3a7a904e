"""Read a SecretRef (environment variable or file) once, at start-up."""

from __future__ import annotations

import os
from pathlib import Path

from globalmon.spec.types import SecretRef


class SecretUnavailable(RuntimeError):
    """A secret the spec names cannot be read: a runtime failure (exit 1)."""


def read_secret(ref: SecretRef) -> str:
    if ref.env is not None:
        value = os.environ.get(ref.env)
        if not value:
            raise SecretUnavailable(f"environment variable {ref.env} is not set")
        return value
    assert ref.file is not None
    try:
        value = Path(ref.file).read_text(encoding="utf-8").strip()
    except OSError as exc:
        raise SecretUnavailable(f"cannot read secret file {ref.file}: {exc.strerror}") from None
    if not value:
        raise SecretUnavailable(f"secret file {ref.file} is empty")
    return value
