"""Daemon log lines: logfmt or JSON, one line per record whatever the values hold."""

from __future__ import annotations

import json
import logging

import pytest

from globalmon import logs


def _record(msg: str, **kv: object) -> logging.LogRecord:
    record = logging.LogRecord("globalmon.webhook", logging.WARNING, "x.py", 1, msg, (), None)
    record.kv = kv
    return record


def test_logfmt_quotes_what_needs_it_and_keeps_one_line() -> None:
    line = logs.LogfmtFormatter().format(
        _record("action failed", action_id=7, err="boom\nlevel=error msg=forged", ok="plain")
    )
    assert "\n" not in line
    assert line.split(" ", 1)[1].startswith('level=warn component=webhook msg="action failed"')
    assert ' action_id=7 err="boom\\nlevel=error msg=forged" ok=plain' in line


def test_json_is_one_object_a_line() -> None:
    line = logs.JsonFormatter().format(_record("x\u2028y", err="a\rb"))
    assert "\n" not in line
    record = json.loads(line)
    assert (record["level"], record["component"], record["msg"]) == ("warn", "webhook", "x\u2028y")
    assert record["err"] == "a\rb"


@pytest.mark.parametrize(("level", "shown"), [("warn", False), ("debug", True)])
def test_the_level_flag_filters_and_the_access_log_is_debug_only(
    level: str, shown: bool, capsys: pytest.CaptureFixture[str]
) -> None:
    logs.setup(level, "logfmt")
    logging.getLogger("globalmon.registry").info("an info line")
    logging.getLogger("aiohttp.access").info("GET /metrics")
    err = capsys.readouterr().err
    assert ("an info line" in err) is shown
    assert ("GET /metrics" in err) is shown
