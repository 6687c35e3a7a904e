"""Access control of the webhook: every route against every role, the acting identity from the
credential, and a request budget per credential."""

from __future__ import annotations

import base64
import hashlib
import re
import textwrap
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from globalmon.access import Budget
from globalmon.spec import SpecError, load_spec_text
from rules_generator.generate import generate
from tests.alert_webhook.fixtures import (
    TOKEN,
    Clock,
    Harness,
    Mailbox,
    Sink,
    alert,
    open_harness,
    payload,
    spec_text,
)

ROLES = ("sender", "viewer", "operator", "approver", "admin")
# who may call what, written out here rather than read from globalmon.access
READERS = {"viewer", "operator", "approver", "admin"}
EXPECTED = {
    ("POST", "/webhook"): {"sender", "admin"},
    ("GET", "/api/v1/incidents"): READERS,
    ("GET", "/api/v1/incidents/{id}"): READERS,
    ("POST", "/api/v1/incidents/{id}/{verb}"): {"operator", "admin"},
    ("GET", "/api/v1/actions"): READERS,
    ("POST", "/api/v1/actions/{id}/{verb}"): {"approver", "admin"},
}
OPEN = {"/metrics", "/-/healthy", "/-/ready"}


def _token(role: str) -> str:
    return f"token-of-the-{role}"


def _named() -> tuple[tuple[str, str, str], ...]:
    return tuple(
        (f"{role}-1", role, hashlib.sha256(_token(role).encode()).hexdigest()) for role in ROLES
    )


@pytest.fixture
async def harness(
    aiohttp_client: Any, tmp_path: Path, sink: Sink, mailbox: tuple[Mailbox, int], env_secrets: None
) -> AsyncIterator[Harness]:
    h, store = await open_harness(
        aiohttp_client,
        tmp_path,
        spec_text(sink.url, mailbox[1], tmp_path),
        Clock(),
        tokens=_named(),
        api_rate=1.0,
        api_burst=1000.0,
    )
    yield h
    store.close()


def _routes(h: Harness) -> list[tuple[str, str, str]]:
    """(method, route template, a concrete path) for every route of the app, each verb apart."""
    out = []
    for route in h.client.app.router.routes():
        info = route.resource.get_info() if route.resource else {}
        template = info.get("formatter") or info.get("path") or ""
        if route.method == "HEAD" or template in OPEN:
            continue
        pattern = info.get("pattern")
        found = re.search(r"\(\?P<verb>([^)]*)\)", pattern.pattern) if pattern else None
        verbs = found[1].split("|") if found else [""]
        for verb in verbs:
            path = template.replace("{id}", "1").replace("{verb}", verb)
            out.append((route.method, template, path))
    return out


def _body(method: str, path: str) -> Any:
    if path == "/webhook":
        return payload(alert("HostCpuHigh", agent="use1-web-01"))
    return {"note": "checked"} if method == "POST" else None


async def _call(h: Harness, method: str, path: str, headers: dict[str, str]) -> int:
    resp = await h.client.request(method, path, json=_body(method, path), headers=headers)
    await resp.read()
    return int(resp.status)


async def test_every_route_refuses_every_role_it_must(harness: Harness) -> None:
    routes = _routes(harness)
    assert {(m, t) for m, t, _ in routes} == set(EXPECTED)
    assert (
        len(routes) == 4 + 4 + 2
    )  # each verb of the incidents' and actions' POSTs apart  # a new route needs its row here
    await harness.post(payload(alert("HostCpuHigh", agent="use1-web-01")))  # incident 1
    for method, template, path in routes:
        assert await _call(harness, method, path, {}) == 401, path
        wrong = {"Authorization": "Bearer not-a-token"}
        assert await _call(harness, method, path, wrong) == 401, path
        for role in ROLES:
            status = await _call(harness, method, path, {"Authorization": f"Bearer {_token(role)}"})
            if role in EXPECTED[(method, template)]:
                assert status not in (401, 403, 429), (role, method, path, status)
            else:
                assert status == 403, (role, method, path, status)
        # the shared token of earlier specs is an admin
        shared = await _call(harness, method, path, {"Authorization": f"Bearer {TOKEN}"})
        assert shared not in (401, 403, 429), (method, path)
    rejected = harness.hook.metrics.rejected
    assert rejected.labels("forbidden")._value.get() > 0


async def test_the_identity_comes_from_the_credential(harness: Harness) -> None:
    await harness.post(payload(alert("HostCpuHigh", agent="use1-web-01")))
    operator = {"Authorization": f"Bearer {_token('operator')}"}
    resp = await harness.client.post(
        "/api/v1/incidents/1/acknowledge", json={"by": "mallory", "note": "mine"}, headers=operator
    )
    assert resp.status == 200, await resp.text()
    incident = await resp.json()
    assert incident["acknowledged_by"] == "operator-1"  # not the `by` the caller declared
    assert "mallory" not in str(incident["timeline"])
    # on the shared token the name is only what the caller claims, and says so
    claimed = await harness.act("/api/v1/incidents/1/annotate", {"by": "ada", "note": "seen"})
    notes = [e for e in claimed["timeline"] if "ada" in str(e)]
    assert notes
    assert "claimed" in str(notes[-1])


async def test_basic_auth_carries_the_credentials_name(harness: Harness) -> None:
    def basic(user: str, password: str) -> dict[str, str]:
        return {
            "Authorization": "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()
        }

    assert (
        await _call(harness, "GET", "/api/v1/incidents", basic("viewer-1", _token("viewer"))) == 200
    )
    assert (
        await _call(harness, "GET", "/api/v1/incidents", basic("admin-1", _token("viewer"))) == 401
    )


async def test_each_credential_has_its_own_request_budget(
    aiohttp_client: Any, tmp_path: Path, sink: Sink, mailbox: tuple[Mailbox, int], env_secrets: None
) -> None:
    clock = Clock()
    h, store = await open_harness(
        aiohttp_client,
        tmp_path,
        spec_text(sink.url, mailbox[1], tmp_path),
        clock,
        tokens=_named(),
        api_rate=1.0,
        api_burst=3.0,
    )
    try:
        viewer = {"Authorization": f"Bearer {_token('viewer')}"}
        assert [await _call(h, "GET", "/api/v1/incidents", viewer) for _ in range(3)] == [200] * 3
        resp = await h.client.get("/api/v1/incidents", headers=viewer)
        assert resp.status == 429
        assert resp.headers["Retry-After"] == "1"
        assert (await resp.json())["field"] == "Authorization"
        # another credential is not held back, nor are Alertmanager's alerts
        operator = {"Authorization": f"Bearer {_token('operator')}"}
        assert await _call(h, "GET", "/api/v1/incidents", operator) == 200
        sender = {"Authorization": f"Bearer {_token('sender')}"}
        assert [await _call(h, "POST", "/webhook", sender) for _ in range(5)] == [200] * 5
        clock.advance(1.0)
        assert await _call(h, "GET", "/api/v1/incidents", viewer) == 200
        assert h.hook.metrics.rejected.labels("rate_limited")._value.get() == 1
    finally:
        store.close()


def _spec(credentials: str) -> str:
    return (
        "version: v1\n"
        f"global:\n  credentials:\n{textwrap.indent(credentials, '    ')}"
        "regions: [{id: a, name: A, prometheus_urls: ['http://127.0.0.1:9090']}]\n"
    )


def test_alertmanager_sends_a_senders_token_and_a_spec_must_have_one() -> None:
    named = textwrap.dedent(
        """\
        webhook_tokens:
          - {name: alice, role: operator, secret: {env: ALICE}}
          - {name: am, role: sender, secret: {file: /run/secrets/am}}
        """
    )
    files = generate(load_spec_text(_spec(named)), "s.yaml", secrets_dir="/s")
    am = yaml.safe_load(files["alertmanager/alertmanager.yml"])
    [hook] = [r for r in am["receivers"] if r["name"] == "globalmon-webhook"]
    auth = hook["webhook_configs"][0]["http_config"]["authorization"]
    assert auth == {"credentials_file": "/run/secrets/am"}  # the sender's, not alice's
    hashed_only = "webhook_tokens:\n  - {name: am, role: sender, sha256: " + "a" * 64 + "}\n"
    with pytest.raises(SpecError, match="no credential Alertmanager can send"):
        load_spec_text(_spec(hashed_only))
    twice = named + "  - {name: am, role: viewer, sha256: " + "b" * 64 + "}\n"
    with pytest.raises(SpecError, match='"am" again'):
        load_spec_text(_spec(twice))


def test_a_budget_forgets_refilled_buckets_and_keeps_the_rest() -> None:
    """20,000 client addresses, a hundred a second, each asking once: the table stays at the
    sweep's size, not 20,000 (a refilled bucket is the same as none); a bucket still in debt
    survives every sweep."""
    budget = Budget(rate=1.0, burst=2.0)
    for _ in range(3):
        budget.take("busy", 0.0)
    largest = 0
    for i in range(20000):
        budget.take(f"10.{i // 65536}.{i // 256 % 256}.{i % 256}", i * 0.01)
        largest = max(largest, len(budget._left))
    assert largest <= 1024
    spent = Budget(rate=1.0, burst=2.0)
    for _ in range(3):
        spent.take("busy", 0.0)
    for i in range(3000):
        spent.take(f"a{i}", 0.0)  # three sweeps at time 0
    assert spent.take("busy", 0.5) > 0  # still in debt: not forgotten
