"""The webhook on a fake clock: receipts, dedupe, incidents, escalation, channels, root causes."""

from __future__ import annotations

import asyncio
import base64
from pathlib import Path

import pytest

from tests.alert_webhook.fixtures import (
    AUTH,
    T0,
    TOKEN,
    Harness,
    Mailbox,
    Sink,
    alert,
    payload,
)
from tests.exporters.promtool import check_metrics

pytestmark = pytest.mark.usefixtures("env_secrets")


async def test_an_alert_opens_one_incident_and_repeats_change_nothing(hook: Harness) -> None:
    a = alert(starts=T0, instance="api-1", service="api")
    first = await hook.post(payload(a))
    assert first == {"received": 1, "duplicates": 0, "incidents_opened": [1]}
    # Alertmanager's retry, the HA peer's copy and the repeat_interval resend are all the same
    for _ in range(3):
        again = await hook.post(payload(a))
        assert again == {"received": 0, "duplicates": 1, "incidents_opened": []}
    found = await hook.get("/api/v1/incidents")
    assert [i["id"] for i in found["incidents"]] == [1]
    incident = found["incidents"][0]
    assert incident["state"] == "firing"
    assert incident["labels"]["instance"] == "api-1"
    assert incident["policy"] == "standard"
    assert incident["starts_at"] == "2026-09-21T14:13:20+00:00"
    # one naming style on the API: snake_case keys, in the list and in the detail
    detail = await hook.get("/api/v1/incidents/1")
    for row in (incident, detail, *detail["timeline"], *detail["notifications"]):
        assert all(k == k.lower() for k in row), sorted(row)
    metrics = await (await hook.client.get("/metrics")).text()
    assert 'globalmon_webhook_alerts_received_total{status="firing"} 1.0' in metrics
    assert "globalmon_webhook_alerts_duplicate_total 3.0" in metrics
    assert 'globalmon_webhook_incidents_open{region="eu-west-1",severity="critical"} 1.0' in metrics


async def test_a_new_episode_of_the_same_alert_is_a_new_incident(hook: Harness) -> None:
    await hook.post(payload(alert(starts=T0, service="api")))
    await hook.post(payload(alert(starts=T0, service="api", status="resolved")))
    out = await hook.post(payload(alert(starts=T0 + 600, service="api")))
    assert out["incidents_opened"] == [2]
    states = {i["id"]: i["state"] for i in (await hook.get("/api/v1/incidents"))["incidents"]}
    assert states == {1: "resolved", 2: "firing"}


async def test_escalation_runs_each_step_once_on_time(
    hook: Harness, sink: Sink, mailbox: tuple[Mailbox, int]
) -> None:
    box = mailbox[0]
    await hook.post(payload(alert(starts=T0, service="api")))
    await hook.tick()
    hook_bodies = sink.bodies("/hook")
    assert [b["event"] for b in hook_bodies] == ["trigger"]
    assert hook_bodies[0]["incident"]["labels"]["alertname"] == "ApiDown"
    assert sink.received["/hook"][0]["headers"]["Authorization"] == "Bearer ops-token"
    slack = sink.bodies("/slack")
    assert slack[0]["channel"] == "#ops"
    assert slack[0]["text"].startswith("[TRIGGER step 1] ApiDown (critical) in eu-west-1")
    assert box.messages == []

    hook.clock.now = T0 + 299
    await hook.tick()
    assert box.messages == []  # not yet: the step is due at 5m
    hook.clock.now = T0 + 300
    await hook.tick()
    await hook.tick()
    assert len(box.messages) == 1
    assert box.messages[0].rcpt_tos == ["oncall@example.com"]

    hook.clock.now = T0 + 900  # the email's first repeat and the page, both due at 15m
    await hook.tick()
    assert len(box.messages) == 2
    pages = sink.bodies("/pd")
    assert len(pages) == 1
    page = pages[0]
    assert page["routing_key"] == "pd-routing-key"
    assert page["event_action"] == "trigger"
    assert page["dedup_key"] == "globalmon-incident-1"
    assert page["payload"]["severity"] == "critical"
    assert page["payload"]["source"] == "eu-west-1"

    hook.clock.now = T0 + 3600
    await hook.tick()
    assert len(box.messages) == 3  # the second and last repeat
    incident = await hook.get("/api/v1/incidents/1")
    assert [e["step"] for e in incident["timeline"] if e["kind"] == "escalated"] == [
        "1",
        "2",
        "2",
        "3",
        "2",
    ]
    assert incident["next_escalation_at"] is None
    metrics = await (await hook.client.get("/metrics")).text()
    assert 'globalmon_webhook_escalations_total{step="2"} 3.0' in metrics
    assert 'globalmon_webhook_notifications_total{outcome="sent",receiver="pager"} 1.0' in metrics


async def test_acknowledging_stops_escalation_and_unacknowledging_resumes_it(
    hook: Harness, sink: Sink, mailbox: tuple[Mailbox, int]
) -> None:
    box = mailbox[0]
    await hook.post(payload(alert(starts=T0, service="api")))
    await hook.tick()
    hook.clock.now = T0 + 60
    acked = await hook.act("/api/v1/incidents/1/acknowledge", {"by": "alice", "note": "on it"})
    assert acked["state"] == "acknowledged"
    assert acked["acknowledged_by"] == "alice (claimed, shared-token)"  # the shared token
    await hook.act("/api/v1/incidents/1/acknowledge", {"by": "bob"}, status=409)
    hook.clock.now = T0 + 7200
    await hook.tick()
    assert box.messages == []
    assert "/pd" not in sink.received
    # the receivers that were told get the acknowledgement
    assert [b["event"] for b in sink.bodies("/hook")] == ["trigger", "acknowledge"]

    await hook.act("/api/v1/incidents/1/unacknowledge", {"by": "alice", "note": "handing back"})
    await hook.tick()
    await hook.tick()
    # every step that came due while acknowledged runs once, in order
    assert len(box.messages) == 3
    assert len(sink.bodies("/pd")) == 1


async def test_resolution_stops_escalation_and_tells_who_was_told(
    hook: Harness, sink: Sink, mailbox: tuple[Mailbox, int]
) -> None:
    await hook.post(payload(alert(starts=T0, service="api")))
    await hook.tick()
    await hook.post(payload(alert(starts=T0, service="api", status="resolved")))
    hook.clock.now = T0 + 7200
    await hook.tick()
    assert [b["event"] for b in sink.bodies("/hook")] == ["trigger", "resolve"]
    assert mailbox[0].messages == []
    incident = await hook.get("/api/v1/incidents/1")
    assert incident["state"] == "resolved"
    assert incident["resolved_by"] == "alertmanager"
    await hook.act("/api/v1/incidents/1/resolve", {"by": "alice"}, status=409)


async def test_resolving_by_hand_and_notes(hook: Harness) -> None:
    await hook.post(payload(alert(starts=T0, service="api")))
    await hook.act("/api/v1/incidents/1/annotate", {"by": "bob", "note": "looking at the db"})
    done = await hook.act("/api/v1/incidents/1/resolve", {"by": "bob", "note": "fixed"})
    assert done["state"] == "resolved"
    kinds = [(e["kind"], e.get("note")) for e in done["timeline"]]
    assert ("note", "looking at the db") in kinds
    assert ("note", "fixed") in kinds
    assert (await hook.get("/api/v1/incidents?state=resolved"))["incidents"][0]["id"] == 1
    assert (await hook.get("/api/v1/incidents?state=firing"))["incidents"] == []


async def test_business_hours_pick_the_step(
    hook: Harness, sink: Sink, mailbox: tuple[Mailbox, int]
) -> None:
    # T0 is Monday 16:13 in Berlin: inside the database policy's 09:00-17:00
    await hook.post(payload(alert("DbDown", starts=T0, service="db")))
    hook.clock.now = T0 + 61
    await hook.tick()
    assert len(mailbox[0].messages) == 1
    assert "/pd" not in sink.received
    incident = await hook.get("/api/v1/incidents/1")
    skipped = [e for e in incident["timeline"] if e["kind"] == "step_skipped"]
    assert [(e["step"], e["reason"]) for e in skipped] == [("3", "runs off_hours")]

    # the same alert at 20:13 Berlin time pages instead of mailing
    hook.clock.now = T0 + 4 * 3600
    await hook.post(payload(alert("DbDown", starts=T0 + 4 * 3600, service="db", instance="b")))
    hook.clock.now = T0 + 4 * 3600 + 61
    await hook.tick()
    assert len(mailbox[0].messages) == 1
    assert len(sink.bodies("/pd")) == 1


async def test_failed_deliveries_are_retried_with_backoff_and_logged(
    hook: Harness, sink: Sink
) -> None:
    sink.status = 503
    await hook.post(payload(alert(starts=T0, service="api")))
    await hook.tick()
    await hook.tick()  # the retry is not due yet (backoff 1s)
    assert len(sink.received["/hook"]) == 1
    hook.clock.advance(1)
    await hook.tick()
    assert len(sink.received["/hook"]) == 2
    sink.status = 200
    hook.clock.advance(2)
    await hook.tick()
    assert len(sink.received["/hook"]) == 3
    hook.clock.advance(600)
    await hook.tick()
    assert len(sink.received["/hook"]) == 3  # sent: never again
    incident = await hook.get("/api/v1/incidents/1")
    hook_delivery = next(n for n in incident["notifications"] if n["receiver"] == "ops-hook")
    assert (hook_delivery["state"], hook_delivery["attempts"]) == ("sent", 3)
    metrics = await (await hook.client.get("/metrics")).text()
    assert (
        'globalmon_webhook_notifications_total{outcome="retrying",receiver="ops-hook"} 2.0'
        in metrics
    )


async def test_a_client_error_is_not_retried(hook: Harness, sink: Sink) -> None:
    sink.status = 400
    await hook.post(payload(alert(starts=T0, service="api")))
    await hook.tick()
    hook.clock.advance(3600)
    await hook.tick()
    assert len(sink.received["/hook"]) == 1
    incident = await hook.get("/api/v1/incidents/1")
    http = [n for n in incident["notifications"] if n["receiver"] in ("ops-hook", "ops-slack")]
    assert [(n["state"], n["attempts"]) for n in http] == [("failed", 1), ("failed", 1)]


async def test_a_dependency_incident_is_ranked_as_the_root_cause(hook: Harness) -> None:
    await hook.post(payload(alert("DbDown", starts=T0, service="db")))
    await hook.post(payload(alert("ApiErrors", starts=T0 + 30, service="api")))
    await hook.post(payload(alert("WebErrors", starts=T0 + 60, service="web")))
    await hook.post(payload(alert("WebErrors", starts=T0 + 60, service="web", region="us-east-1")))
    api = await hook.get("/api/v1/incidents/2")
    web = await hook.get("/api/v1/incidents/3")
    assert api["symptom_of"] == 1
    assert web["symptom_of"] == 1  # api is itself a symptom of db: db ranks first
    assert [c["id"] for c in web["root_cause_candidates"]] == [1, 2]
    assert (await hook.get("/api/v1/incidents/1"))["symptoms"] == [2, 3]
    other_region = await hook.get("/api/v1/incidents/4")
    assert other_region["symptom_of"] is None


async def test_hostile_label_values_are_inert_text(
    hook: Harness, sink: Sink, tmp_path: Path
) -> None:
    hostile = "$(touch /tmp/pwned); reboot\n{{ 7*7 }}{% raw %}`id`"
    await hook.post(payload(alert("Hostile", starts=T0, service="api", cmd=hostile)))
    await hook.tick()
    assert hook.run_lines()[0] == "$(touch /tmp/pwned); reboot"  # one argv element, verbatim
    assert hook.run_lines()[1] == "{{ 7*7 }}{% raw %}`id`|api"
    assert not await asyncio.to_thread(Path("/tmp/pwned").exists)
    slack = sink.bodies("/slack")[0]["text"]
    assert "49" not in slack
    hook_body = sink.bodies("/hook")[0]
    assert hook_body["incident"]["labels"]["cmd"] == hostile


async def test_auth_bearer_and_basic(hook: Harness) -> None:
    body = payload(alert(starts=T0))
    basic = base64.b64encode(f"alertmanager:{TOKEN}".encode()).decode()
    await hook.post(body, headers={"Authorization": f"Basic {basic}"})
    wrong_user = base64.b64encode(f"mallory:{TOKEN}".encode()).decode()
    for headers in (
        {},
        {"Authorization": "Bearer nope"},
        {"Authorization": f"Basic {wrong_user}"},
        {"Authorization": "Basic !!!"},
        {"Authorization": TOKEN},
    ):
        out = await hook.post(body, status=401, headers=headers)
        assert out["field"] == "Authorization"
    resp = await hook.client.get("/api/v1/incidents")
    assert resp.status == 401
    resp = await hook.client.get("/api/v1/incidents", headers=AUTH)
    assert resp.status == 200


async def test_every_route_but_metrics_and_health_refuses_without_credentials(
    hook: Harness,
) -> None:
    """Enumerated from the router, so a route added without its check fails here (the checks
    are per route, not a middleware)."""
    open_paths = {"/metrics", "/-/healthy", "/-/ready"}
    checked = 0
    for route in hook.client.app.router.routes():
        info = route.resource.get_info() if route.resource else {}
        path = info.get("path") or info["formatter"].replace("{id}", "1").replace(
            "{verb}", "approve" if "actions" in info["formatter"] else "acknowledge"
        )
        if route.method == "HEAD" or path in open_paths:
            continue
        resp = await hook.client.request(route.method, path, json={"by": "x"})
        assert resp.status == 401, (route.method, path)
        assert (await resp.json())["field"] == "Authorization"
        checked += 1
    assert checked == 6  # /webhook; incidents: list, show, act; actions: list, approve/reject
    for path in open_paths:
        assert (await hook.client.get(path)).status == 200


async def test_the_watchdog_is_a_heartbeat_not_an_incident(hook: Harness) -> None:
    dog = alert("Watchdog", starts=T0, severity="none")
    await hook.post(payload(dog))
    hook.clock.advance(60)
    again = await hook.post(payload(dog))  # Alertmanager's repeat every minute
    assert again["duplicates"] == 1
    assert (await hook.get("/api/v1/incidents"))["incidents"] == []
    metrics = await (await hook.client.get("/metrics")).text()
    series = 'globalmon_webhook_watchdog_last_seen_timestamp_seconds{region="eu-west-1"} '
    (value,) = [
        line.removeprefix(series) for line in metrics.splitlines() if line.startswith(series)
    ]
    assert float(value) == T0 + 60


async def test_kpis_time_to_acknowledge_and_resolve(hook: Harness, promtool_bin: str) -> None:
    """Each acknowledgement and resolution is observed once committed; the means of the last 7
    days come from the database, so they hold across restarts and leave the window on time."""
    await hook.post(payload(alert("ApiDown", starts=T0, service="api")))
    await hook.post(payload(alert("DbDown", starts=T0, service="db")))
    # resolved without ever being seen firing: no repair time to count
    await hook.post(payload(alert("Flap", starts=T0, service="api", status="resolved")))
    hook.clock.advance(90)
    await hook.act("/api/v1/incidents/1/acknowledge", {"by": "alice"})
    hook.clock.advance(60)
    await hook.post(payload(alert("ApiDown", starts=T0, service="api", status="resolved")))
    hook.clock.advance(150)
    await hook.act("/api/v1/incidents/2/resolve", {"by": "bob"})
    text = await (await hook.client.get("/metrics")).text()
    await check_metrics(promtool_bin, text)
    ack = 'region="eu-west-1",severity="critical"'
    assert f"globalmon_webhook_incident_time_to_acknowledge_seconds_count{{{ack}}} 1.0" in text
    assert f"globalmon_webhook_incident_time_to_acknowledge_seconds_sum{{{ack}}} 90.0" in text
    res = 'auto_recovered="false",region="eu-west-1",severity="critical"'
    assert f"globalmon_webhook_incident_time_to_resolve_seconds_count{{{res}}} 2.0" in text
    assert f"globalmon_webhook_incident_time_to_resolve_seconds_sum{{{res}}} 450.0" in text
    mttr = "globalmon_webhook_mean_time_to_resolve_seconds"
    assert f'{mttr}{{region="eu-west-1",service="api"}} 150.0' in text
    assert f'{mttr}{{region="eu-west-1",service="db"}} 300.0' in text
    assert 'globalmon_webhook_mean_time_to_acknowledge_seconds{region="eu-west-1"} 90.0' in text

    hook.clock.advance(7 * 86400 + 1)  # out of the window: the means go, the histograms stay
    text = await (await hook.client.get("/metrics")).text()
    assert f"{mttr}{{" not in text
    assert f"globalmon_webhook_incident_time_to_resolve_seconds_count{{{res}}} 2.0" in text
