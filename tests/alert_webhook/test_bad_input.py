"""The bad-input corpus: every case is refused with a 4xx naming the field, and nothing is kept."""

from __future__ import annotations

import io
import json
from pathlib import Path
from typing import Any

import pytest

from tests.alert_webhook.fixtures import (
    AUTH,
    T0,
    Clock,
    Harness,
    Mailbox,
    Sink,
    alert,
    open_harness,
    payload,
    spec_text,
)

pytestmark = pytest.mark.usefixtures("env_secrets")


@pytest.fixture(params=["thread", "process"])
async def hook(
    request: pytest.FixtureRequest,
    aiohttp_client: Any,
    tmp_path: Path,
    sink: Sink,
    mailbox: tuple[Mailbox, int],
) -> Any:
    """The corpus runs against both writers: with the process writer the body is parsed there."""
    h, store = await open_harness(
        aiohttp_client,
        tmp_path,
        spec_text(sink.url, mailbox[1], tmp_path),
        Clock(),
        writer=request.param,
        max_body_bytes=2_000_000,
    )
    yield h
    store.close()


def _with(change: Any) -> bytes:
    body = payload(alert(starts=T0, service="api", instance="a"))
    change(body)
    return json.dumps(body).encode()


def _set(path: tuple[Any, ...], value: Any) -> Any:
    def change(body: Any) -> None:
        for key in path[:-1]:
            body = body[key]
        body[path[-1]] = value

    return change


def _drop(*path: Any) -> Any:
    def change(body: Any) -> None:
        for key in path[:-1]:
            body = body[key]
        del body[path[-1]]

    return change


CASES: list[tuple[str, bytes, int, str]] = [
    ("malformed JSON", b'{"version": "4", "alerts": [', 400, "body"),
    ("not an object", b"[1, 2]", 422, "body"),
    ("empty body", b"", 400, "body"),
    ("wrong version", _with(_set(("version",), "3")), 422, "version"),
    ("version as a number", _with(_set(("version",), 4)), 422, "version"),
    ("no alerts", _with(_drop("alerts")), 422, "alerts"),
    ("empty alerts", _with(_set(("alerts",), [])), 422, "alerts"),
    ("alerts not a list", _with(_set(("alerts",), {"a": 1})), 422, "alerts"),
    ("no fingerprint", _with(_drop("alerts", 0, "fingerprint")), 422, "alerts.0.fingerprint"),
    (
        "empty fingerprint",
        _with(_set(("alerts", 0, "fingerprint"), "")),
        422,
        "alerts.0.fingerprint",
    ),
    ("bad status", _with(_set(("alerts", 0, "status"), "burning")), 422, "alerts.0.status"),
    ("bad startsAt", _with(_set(("alerts", 0, "startsAt"), "yesterday")), 422, "alerts.0.startsAt"),
    ("no startsAt", _with(_drop("alerts", 0, "startsAt")), 422, "alerts.0.startsAt"),
    ("labels not an object", _with(_set(("alerts", 0, "labels"), ["a"])), 422, "alerts.0.labels"),
    (
        "bad label name",
        _with(_set(("alerts", 0, "labels", "bad-name"), "x")),
        422,
        "alerts.0.labels.bad-name.[key]",
    ),
    (
        "label value not a string",
        _with(_set(("alerts", 0, "labels", "service"), 7)),
        422,
        "alerts.0.labels.service",
    ),
    (
        "huge label value",
        _with(_set(("alerts", 0, "labels", "service"), "x" * 5000)),
        422,
        "alerts.0.labels.service",
    ),
    (
        "annotation not a string",
        _with(_set(("alerts", 0, "annotations", "summary"), {"nested": True})),
        422,
        "alerts.0.annotations.summary",
    ),
    ("negative truncatedAlerts", _with(_set(("truncatedAlerts",), -1)), 422, "truncatedAlerts"),
    (
        "a second bad alert",
        _with(lambda b: b["alerts"].append({"status": "firing"})),
        422,
        "alerts.1.labels",
    ),
    (
        "body over the limit",
        _with(_set(("alerts", 0, "annotations", "x"), "y" * 3_000_000)),
        413,
        "body",
    ),
]


@pytest.mark.parametrize(("case", "body", "status", "field"), CASES, ids=[c[0] for c in CASES])
async def test_refused_and_nothing_kept(
    hook: Harness, case: str, body: bytes, status: int, field: str
) -> None:
    resp = await hook.client.post(
        "/webhook", data=io.BytesIO(body), headers={**AUTH, "Content-Type": "application/json"}
    )
    assert resp.status == status, await resp.text()
    reason = await resp.json()
    assert reason["field"] == field, reason
    assert reason["error"]
    await hook.tick()
    assert (await hook.get("/api/v1/incidents"))["incidents"] == []
    counts = await hook.hook.store.rows(
        "SELECT (SELECT count(*) FROM receipts), (SELECT count(*) FROM audit), "
        "(SELECT count(*) FROM actions)"
    )
    assert tuple(counts[0]) == (0, 0, 0)
    assert hook.run_lines() == []


async def test_the_api_refuses_bad_input_naming_the_field(hook: Harness) -> None:
    await hook.post(payload(alert(starts=T0, service="api", instance="a")))
    for path, body, status, field in [
        ("/api/v1/incidents/1/acknowledge", {"by": 5}, 422, "by"),  # `by` may be left out
        ("/api/v1/incidents/1/acknowledge", {"by": ""}, 422, "by"),
        ("/api/v1/incidents/1/acknowledge", {"by": "a", "extra": 1}, 422, "extra"),
        ("/api/v1/incidents/1/annotate", {"by": "a", "note": 5}, 422, "note"),
        ("/api/v1/incidents/99/acknowledge", {"by": "a"}, 404, "id"),
        ("/api/v1/actions/99/approve", {"by": "a"}, 404, "id"),
        ("/api/v1/actions/1/approve", {"by": "a"}, 409, "state"),  # ran without approval
    ]:
        resp = await hook.client.post(path, json=body, headers=AUTH)
        assert resp.status == status, (path, body, await resp.text())
        assert (await resp.json())["field"] == field
    for query, field in [
        ("state=burning", "state"),
        ("limit=x", "limit"),
        ("colour=red", "colour"),
    ]:
        resp = await hook.client.get(f"/api/v1/incidents?{query}", headers=AUTH)
        assert resp.status == 400
        assert (await resp.json())["field"] == field


async def test_a_storm_of_ten_thousand_alerts_in_one_post(
    aiohttp_client: Any, tmp_path: Path, sink: Sink, mailbox: tuple[Mailbox, int]
) -> None:
    big, store = await open_harness(  # the default body limit, not the corpus' small one
        aiohttp_client,
        tmp_path,
        spec_text(sink.url, mailbox[1], tmp_path),
        Clock(),
        writer="process",  # what `globalmon webhook` runs: the storm is parsed in the writer
    )
    alerts = [alert("Storm", starts=T0, instance=f"host-{i}") for i in range(10_000)]
    body = json.dumps(payload(*alerts)).encode()
    assert len(body) > 3 * 1024**2  # past aiohttp's default limit of 1 MiB
    resp = await big.client.post(
        "/webhook", data=io.BytesIO(body), headers={**AUTH, "Content-Type": "application/json"}
    )
    assert resp.status == 200, await resp.text()
    out = await resp.json()
    assert out["received"] == 10_000
    assert len(out["incidents_opened"]) == 10_000
    page = await big.get("/api/v1/incidents?limit=1000&alertname=Storm")
    assert len(page["incidents"]) == 1000
    rest = await big.get(f"/api/v1/incidents?limit=1000&alertname=Storm&before={page['next']}")
    assert rest["incidents"][0]["id"] == page["incidents"][-1]["id"] - 1
    store.close()


async def test_the_plugin_exporters_critical_event_push_is_a_valid_payload(hook: Harness) -> None:
    from exporters.plugin.push import payload as pushed

    event = {"id": 7, "plugin": "payments", "type": "fraud", "timestamp": T0, "description": "x"}
    body = pushed(event, "eu-west-1")
    out = await hook.post(body)
    assert out["incidents_opened"] == [1]
    assert (await hook.post(body))["duplicates"] == 1  # the exporter's retry changes nothing
    incident = await hook.get("/api/v1/incidents/1")
    assert incident["alertname"] == "PluginCriticalEvent"
    assert incident["labels"]["plugin"] == "payments"
