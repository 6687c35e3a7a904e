"""Daemon logging as Prometheus' own binaries do it: ``--log.level`` and ``--log.format``.

    ts=2026-12-03T06:00:00.123Z level=warn component=webhook msg="background pass failed" err="..."
    {"ts": "2026-12-03T06:00:00.123Z", "level": "warn", "component": "webhook", "msg": "..."}

Modules log through ``logging.getLogger("globalmon.<component>")``; extra key-value pairs go in
``extra={"kv": {...}}``. Usage errors before a daemon starts stay plain lines on stderr, as
every command's do.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
from datetime import UTC, datetime
from typing import Any

LEVELS = {"debug": logging.DEBUG, "info": logging.INFO, "warn": logging.WARNING,
          "error": logging.ERROR}  # fmt: skip
_NAMES = {logging.DEBUG: "debug", logging.INFO: "info", logging.WARNING: "warn",
          logging.ERROR: "error", logging.CRITICAL: "error"}  # fmt: skip


def add_log_flags(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--log.level",
        dest="log_level",
        choices=list(LEVELS),
        default="info",
        help="only log messages of this level or above (default: %(default)s)",
    )
    parser.add_argument(
        "--log.format",
        dest="log_format",
        choices=["logfmt", "json"],
        default="logfmt",
        help="output format of log messages (default: %(default)s)",
    )


def _fields(record: logging.LogRecord) -> dict[str, Any]:
    at = datetime.fromtimestamp(record.created, UTC)
    out: dict[str, Any] = {
        "ts": at.strftime("%Y-%m-%dT%H:%M:%S.") + f"{at.microsecond // 1000:03d}Z",
        "level": _NAMES.get(record.levelno, "info"),
        "component": record.name.removeprefix("globalmon.").split(".")[0],
        "msg": record.getMessage(),
    }
    out.update(getattr(record, "kv", {}))
    if record.exc_info and record.exc_info[1] is not None:
        out["err"] = repr(record.exc_info[1])
    return out


def _logfmt_value(value: Any) -> str:
    text = value if isinstance(value, str) else json.dumps(value, default=str)
    if text and all(c.isalnum() or c in "-_.:/@+" for c in text):
        return text
    return json.dumps(text, ensure_ascii=False)  # quoted, with every control character escaped


class LogfmtFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        return " ".join(f"{k}={_logfmt_value(v)}" for k, v in _fields(record).items())


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        return json.dumps(_fields(record), ensure_ascii=False, default=str)


class _Stderr(logging.StreamHandler):  # type: ignore[type-arg]
    """Whatever sys.stderr is when a record is written (a test may have swapped it)."""

    def emit(self, record: logging.LogRecord) -> None:
        self.stream = sys.stderr
        super().emit(record)


def setup(level: str, fmt: str) -> None:
    """Our stderr handler on the root logger (once; others' handlers are left alone), and
    aiohttp's per-request access log only at debug."""
    root = logging.getLogger()
    for old in [h for h in root.handlers if isinstance(h, _Stderr)]:
        root.removeHandler(old)
    handler = _Stderr()
    handler.setFormatter(JsonFormatter() if fmt == "json" else LogfmtFormatter())
    root.addHandler(handler)
    root.setLevel(LEVELS[level])
    logging.getLogger("aiohttp.access").setLevel(
        logging.DEBUG if level == "debug" else logging.WARNING
    )
