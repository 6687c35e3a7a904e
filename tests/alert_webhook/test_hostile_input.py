"""The webhook under hostile or messy input: any payload or API call gets a 2xx or a 4xx naming
the field (never a 5xx), and no single bad item stops a background pass for the others."""

from __future__ import annotations

import copy
import gzip
import io
import json
from datetime import UTC, datetime, timedelta
from email.parser import BytesParser
from email.policy import default
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from alert_webhook.channels import Message, email, pagerduty
from globalmon import pg
from globalmon.spec import SpecError, load_spec_text
from globalmon.spec.notify import EmailReceiver
from tests.alert_webhook.fixtures import AUTH, T0, Harness, Mailbox, Sink, alert, payload

pytestmark = pytest.mark.usefixtures("env_secrets")

# Every character Python's str.splitlines() breaks on, and a few that only look like text.
SEPARATORS = ["\r", "\n", "\r\n", "\v", "\f", "\x1c", "\x1d", "\x1e", "\x85", "\u2028", "\u2029"]
hostile_text = st.one_of(
    st.text(alphabet=st.characters(codec="utf-8", exclude_categories=["Cs"]), max_size=40),
    st.builds(lambda a, s, b: a + s + b, st.text(max_size=10), st.sampled_from(SEPARATORS),
              st.text(max_size=10)),
    st.sampled_from(["{{ 7*7 }}", '"}, "x": "', "\x00", "Subject: hi\r\n\r\nbody", "a" * 4096]),
)  # fmt: skip


@settings(max_examples=300, deadline=None)
@given(
    labels=st.dictionaries(st.from_regex(r"[a-z_][a-z0-9_]{0,10}", fullmatch=True), hostile_text),
    summary=hostile_text,
    description=hostile_text,
)
def test_any_label_or_annotation_makes_a_mail_and_a_json_message(
    labels: dict[str, str], summary: str, description: str
) -> None:
    message = Message(
        incident={
            "id": 1,
            "state": "firing",
            "labels": labels,
            "annotations": {"summary": summary, "description": description},
            "startsAt": "2024-01-01T00:00:00+00:00",
        },
        event="trigger",
        step="1",
        note="",
    )
    receiver = EmailReceiver.model_validate(
        {
            "type": "email",
            "name": "mail",
            "to": ["a@example.com"],
            "sender": "g@example.com",
            "smarthost": "127.0.0.1:25",
        }
    )
    mail = email(receiver, message)
    raw = mail.as_bytes()  # what smtplib sends; raises on a header it cannot fold
    subject = str(mail["Subject"])
    assert not any(s in subject for s in SEPARATORS if s != " ")
    parsed = BytesParser(policy=default).parsebytes(raw)  # as the receiving server reads it
    assert sorted(parsed.keys()) == sorted(mail.keys())  # no value added a header
    assert parsed["To"] == "a@example.com"
    json.dumps(message.json())
    json.dumps(pagerduty("key", message))


def _poison(hook: Harness, sql: str, *args: Any) -> None:
    """Corrupt a row behind the webhook's back, as a bug or a hand edit could."""
    conn = hook.connect()
    try:
        conn.execute(sql, args)
    finally:
        conn.close()


async def test_a_mail_with_line_breaks_stops_neither_recovery_nor_other_mail(
    hook: Harness, mailbox: tuple[Mailbox, int]
) -> None:
    """The outage: a summary with \\r routed to email raised in the background pass, which then
    never reached the recovery step again. Each receiver's email step comes 5 minutes in."""
    box, _ = mailbox
    first = alert(starts=T0, service="api", instance="a")
    first["annotations"]["summary"] = "disk\rfull\u2028on\va"
    await hook.post(payload(first))
    await hook.tick()
    hook.clock.advance(301)
    await hook.tick()  # the email step is due: the hostile summary goes out as one line
    await hook.post(payload(alert(starts=T0 + 300, service="api", instance="b")))
    await hook.tick()
    assert [r.split("|")[0] for r in hook.run_lines()] == ["a", "b"]  # recovery kept running
    assert len(box.messages) == 1
    subject = BytesParser(policy=default).parsebytes(box.messages[0].content)["Subject"]
    assert "disk full on a (incident #1)" in subject
    incident = await hook.get("/api/v1/incidents/1")
    assert {n["receiver"]: n["state"] for n in incident["notifications"]}["oncall-email"] == "sent"


async def test_a_bad_incident_row_stops_only_its_own_escalation(
    hook: Harness, tmp_path: Path
) -> None:
    await hook.post(payload(alert("DiskFull", starts=T0, instance="a")))
    await hook.post(payload(alert("DiskFull", starts=T0, instance="b")))
    await hook.tick()
    if pg.is_url(hook.db):
        pytest.skip("PostgreSQL's typed columns refuse this corruption (text in a time column)")
    _poison(hook, "UPDATE incidents SET base='not a time' WHERE id=1")
    hook.clock.advance(301)
    await hook.tick()
    bad, good = [await hook.get(f"/api/v1/incidents/{i}") for i in (1, 2)]
    assert [t["kind"] for t in good["timeline"]].count("escalated") == 2  # step 2 ran
    assert "escalation_failed" in [t["kind"] for t in bad["timeline"]]
    assert bad["next_escalation_at"] is None  # taken out of the due list, not retried forever
    hook.clock.advance(600)
    await hook.tick()  # and the passes go on
    good = await hook.get("/api/v1/incidents/2")
    assert [t["kind"] for t in good["timeline"]].count("escalated") > 2


async def test_an_action_that_cannot_run_ends_in_its_row_and_others_run(
    hook: Harness, tmp_path: Path
) -> None:
    await hook.post(payload(alert("WebSlow", starts=T0, service="web")))
    await hook.tick()
    [waiting] = (await hook.get("/api/v1/actions?state=awaiting_approval"))["actions"]
    _poison(hook, "UPDATE incidents SET labels='{' WHERE id=1")
    await hook.act(f"/api/v1/actions/{waiting['id']}/approve", {"by": "ops"})
    await hook.post(payload(alert(starts=T0, service="api", instance="c")))
    await hook.tick()  # the approved action fails to start; restart-api waits for its region
    await hook.tick()
    assert [r.split("|")[0] for r in hook.run_lines()] == ["c"]
    [row] = [a for a in (await hook.get("/api/v1/actions"))["actions"] if a["id"] == waiting["id"]]
    assert row["state"] == "error"


async def test_one_instant_with_two_offsets_is_one_episode(hook: Harness) -> None:
    """Alertmanager replicas may format the same startsAt with different offsets."""
    utc = alert(starts=T0, service="api", instance="a")
    shifted = copy.deepcopy(utc)
    at = datetime.fromtimestamp(T0, UTC).astimezone(
        __import__("datetime").timezone(timedelta(hours=5, minutes=30))
    )
    shifted["startsAt"] = at.isoformat()
    assert (await hook.post(payload(utc)))["incidents_opened"] == [1]
    assert (await hook.post(payload(shifted)))["duplicates"] == 1
    await hook.tick()
    assert [r.split("|")[0] for r in hook.run_lines()] == ["a"]  # the action ran once


def _mutations() -> st.SearchStrategy[tuple[tuple[Any, ...], Any]]:
    paths = st.sampled_from(
        [
            ("alerts", 0, "labels", "service"),
            ("alerts", 0, "labels", "alertname"),
            ("alerts", 0, "labels", "instance"),  # rendered into restart-api's argv
            ("alerts", 0, "labels", "region"),
            ("alerts", 0, "labels", "severity"),
            ("alerts", 0, "annotations", "summary"),
            ("alerts", 0, "startsAt"),
            ("alerts", 0, "endsAt"),
            ("alerts", 0, "fingerprint"),
            ("alerts", 0, "status"),
            ("truncatedAlerts",),
            ("version",),
            ("alerts", 0, "labels"),
            ("alerts",),
        ]
    )
    times = st.builds(
        lambda d, off: (datetime(2000, 1, 1, tzinfo=UTC) + d).isoformat()[:19] + off,
        st.timedeltas(min_value=timedelta(days=-730_000), max_value=timedelta(days=2_900_000)),
        st.sampled_from(["Z", "+14:00", "-12:00", "+05:30", "", "+99:00"]),
    )
    values = st.one_of(
        hostile_text,
        times,
        st.integers(min_value=-(2**70), max_value=2**70),
        st.floats(allow_nan=False),
        st.none(),
        st.lists(st.integers(), max_size=2),
        st.dictionaries(st.text(max_size=5), st.text(max_size=5), max_size=2),
        st.sampled_from(
            ["0001-01-01T00:00:00Z", "9999-12-31T23:59:59Z", "9999-12-31T23:59:59-01:00"]
        ),
    )  # fmt: skip
    return st.tuples(paths, values)


@settings(
    max_examples=150,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(changes=st.lists(_mutations(), min_size=1, max_size=3))
async def test_any_payload_is_stored_or_refused_naming_the_field(
    hook: Harness, changes: list[tuple[tuple[Any, ...], Any]]
) -> None:
    body: Any = payload(alert(starts=T0, service="api", instance="z"))
    body["alerts"].append(copy.deepcopy(body["alerts"][0]))  # the same alert twice in one body
    for path, value in changes:
        target = body
        for key in path[:-1]:
            if not isinstance(target, dict | list):
                break
            try:
                target = target[key]
            except (KeyError, IndexError, TypeError):
                break
        else:
            if isinstance(target, dict):
                target[path[-1]] = value
            elif isinstance(target, list) and isinstance(path[-1], int) and target:
                target[0] = value
    resp = await hook.client.post(
        "/webhook",
        data=io.BytesIO(json.dumps(body).encode()),
        headers={**AUTH, "Content-Type": "application/json"},
    )
    answer = await resp.json()
    assert resp.status in (200, 400, 413, 422), answer
    if resp.status != 200:
        assert answer["field"]
    await hook.tick()  # whatever was stored, the background pass survives it


@pytest.mark.parametrize(
    ("path", "field"),
    [
        ("/api/v1/incidents?limit=0", "limit"),
        ("/api/v1/incidents?limit=-1", "limit"),
        ("/api/v1/incidents?limit=%C2%B2", "limit"),  # a superscript two
        ("/api/v1/incidents?limit=99999999999999999999999", "limit"),
        ("/api/v1/incidents?before=18446744073709551616", "before"),
        ("/api/v1/incidents/18446744073709551616", "id"),
        ("/api/v1/incidents/9223372036854775808", "id"),
    ],
)
async def test_numbers_out_of_range_are_a_400_naming_them(
    hook: Harness, path: str, field: str
) -> None:
    resp = await hook.client.get(path, headers=AUTH)
    assert resp.status == 400, await resp.text()
    assert (await resp.json())["field"] == field


@pytest.mark.parametrize(
    ("encoding", "status"),
    [("gzip", 400), ("deflate", 400), ("gzip, gzip", 400), ("br", 415), ("zstd-ish", 415)],
)
async def test_a_body_its_content_encoding_cannot_decode_is_refused(
    hook: Harness, encoding: str, status: int
) -> None:
    resp = await hook.client.post(
        "/webhook",
        data=b"not compressed at all",
        headers={**AUTH, "Content-Type": "application/json", "Content-Encoding": encoding},
    )
    assert resp.status == status, await resp.text()
    assert (await resp.json())["field"] == "Content-Encoding"


async def test_a_zip_bomb_stops_at_the_body_limit(hook: Harness) -> None:
    bomb = gzip.compress(b" " * (65 * 1024 * 1024))  # 64 KiB that decode past the 64 MiB limit
    resp = await hook.client.post(
        "/webhook",
        data=bomb,
        headers={**AUTH, "Content-Type": "application/json", "Content-Encoding": "gzip"},
    )
    assert resp.status == 413, await resp.text()


async def test_a_body_in_gzip_is_read(hook: Harness) -> None:
    body = gzip.compress(json.dumps(payload(alert(starts=T0, instance="g"))).encode())
    resp = await hook.client.post(
        "/webhook",
        data=body,
        headers={**AUTH, "Content-Type": "application/json", "Content-Encoding": "gzip"},
    )
    assert resp.status == 200, await resp.text()


async def test_a_label_value_cannot_change_an_http_actions_json_body(
    hook: Harness, sink: Sink
) -> None:
    """scale-web's body is '{"service": "{{ labels.service }}"}': a value that closes the string
    and adds a key stays inside the string."""
    hostile = 'web", "admin": true, "x": "\\'
    await hook.post(payload(alert("WebSlow", starts=T0, service=hostile)))
    await hook.tick()
    [held] = (await hook.get("/api/v1/actions?state=awaiting_approval"))["actions"]
    await hook.act(f"/api/v1/actions/{held['id']}/approve", {"by": "ops"})
    await hook.tick()
    assert sink.bodies("/scale") == [{"service": hostile}]


@pytest.mark.parametrize(
    "body",
    [
        '{"replicas": {{ labels.count }}}',  # a template outside a string: its value is JSON
        "service={{ labels.service }}",  # not JSON at all
        '{"a": "{{ labels.x"}',  # a broken template inside a string
    ],
)
def test_an_http_body_that_is_not_json_data_is_refused_at_load(body: str) -> None:
    text = (
        "version: v1\nregions: [{id: r, name: R, prometheus_urls: ['http://p:9090']}]\n"
        "recovery_actions:\n  - {name: a, type: http, matchers: ['alertname=\"X\"'], "
        f"url: 'http://h/x', body: {json.dumps(body)}}}\n"
    )
    with pytest.raises(SpecError, match=r"recovery_actions\[0\]\.body: found .*; expected "):
        load_spec_text(text, "spec.yaml")
