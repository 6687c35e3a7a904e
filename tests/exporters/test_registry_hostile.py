"""The registry under hostile registrations: every answer a 2xx or a 4xx naming the field, and
the http_sd answer stays one that Prometheus accepts whatever was sent before it."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from exporters.registry.app import RESERVED_LABELS, TARGETS_PATH, RegistryConfig, create_app
from exporters.registry.store import Registration, RegistryStore
from tests.exporters.promtool import Client

TOKEN = "s3cret"
AUTH = {"Authorization": f"Bearer {TOKEN}"}
LABEL_NAME = re.compile(r"[a-zA-Z_][a-zA-Z0-9_]*")  # Prometheus' rule, matched whole
ID = re.compile(r"[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?")

# names that look right but carry a separator (the class `re.match` with `$` lets through),
# reserved names, and anything at all
tails = st.sampled_from(["\n", "\r", "\r\n", "\x00", " ", "\u2028", "\t", ""])
names = st.one_of(
    st.builds(lambda n, t: n + t, st.from_regex(LABEL_NAME, fullmatch=True), tails),
    st.sampled_from([*sorted(RESERVED_LABELS), "__meta_x", "__address__", "le"]),
    st.text(max_size=12),
)
ids = st.one_of(
    st.builds(lambda n, t: n + t, st.from_regex(ID, fullmatch=True), tails), st.text(max_size=8)
)
addresses = st.one_of(
    st.sampled_from(["127.0.0.1:9464", "[::1]:9100", "host:0", "host:65536", "host", ":80"]),
    st.builds(lambda t: "127.0.0.1:9464" + t, tails),
    st.text(max_size=20),
)
registrations = st.fixed_dictionaries(
    {
        "region": ids,
        "agent": ids,
        "agent_type": st.sampled_from(["system", "process", "custom", "bogus"]),
        "address": addresses,
        "labels": st.dictionaries(names, st.text(max_size=20), max_size=4),
    }
)


@pytest.fixture
async def client(aiohttp_client: Any, tmp_path: Path) -> Client:
    # a budget no run reaches: the property is about bodies, not the limiter
    config = RegistryConfig(token=TOKEN, stale_after=60, ttl=600, rate=1e9, burst=1e9)
    store = RegistryStore(tmp_path / "registry.db")
    made: Client = await aiohttp_client(create_app(config, clock=lambda: 1e6, store=store))
    return made


def _valid_group(group: dict[str, Any]) -> bool:
    labels = group["labels"]
    return all(LABEL_NAME.fullmatch(k) and not k.startswith("__") for k in labels) and all(
        re.fullmatch(r"(\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9_.-]+):[0-9]{1,5}", t)
        for t in group["targets"]
    )


@settings(
    max_examples=200,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(body=registrations)
async def test_any_registration_is_stored_whole_or_refused_naming_the_field(
    client: Client, body: dict[str, Any]
) -> None:
    before = await (await client.get(TARGETS_PATH, headers=AUTH)).json()
    resp = await client.post(TARGETS_PATH, json=body, headers=AUTH)
    answer = await resp.json()
    assert resp.status in (200, 400), answer
    after = await (await client.get(TARGETS_PATH, headers=AUTH)).json()
    if resp.status == 400:
        assert answer["field"].split(".")[0] in body, answer
        assert after == before  # nothing stored
    else:
        labels = body["labels"]
        assert not set(labels) & RESERVED_LABELS
        assert all(LABEL_NAME.fullmatch(k) for k in labels)
        assert ID.fullmatch(body["region"])
        assert ID.fullmatch(body["agent"])
    assert all(_valid_group(g) for g in after)


async def test_a_bad_row_stored_by_an_older_version_hides_no_other_agent(
    aiohttp_client: Any, tmp_path: Path
) -> None:
    """One bad label in an http_sd answer makes Prometheus drop all of it: such a row, written
    by a laxer version before an upgrade, is left out and every other agent still served."""
    store = RegistryStore(tmp_path / "registry.db")
    await store.upsert(Registration("eu", "bad", "system", "h:1", {"rack\n": "a"}), 1e6)
    await store.upsert(Registration("eu", "reserved", "system", "h:2", {"job": "x"}), 1e6)
    await store.upsert(Registration("eu", "good", "system", "h:3", {"rack": "a"}), 1e6)
    config = RegistryConfig(token=TOKEN, stale_after=60, ttl=600)
    client = await aiohttp_client(create_app(config, clock=lambda: 1e6, store=store))
    groups = await (await client.get(TARGETS_PATH, headers=AUTH)).json()
    assert [g["targets"] for g in groups] == [["h:3"]]
