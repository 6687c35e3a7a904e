"""Every daemon's --web.listen-address goes through one parser: any text gives (host, port)
with a port a socket can take, or None (a usage error), never an exception."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from globalmon.cliutil import listen_address


@given(st.text(max_size=40))
def test_any_text_parses_or_is_refused(text: str) -> None:
    parsed = listen_address(text)
    if parsed is not None:
        host, port = parsed
        before, _, after = text.rpartition(":")
        assert 0 < port < 65536
        assert port == int(after)
        assert host == (before.strip("[]") or "0.0.0.0")


@given(st.integers(min_value=-(10**6), max_value=10**6))
def test_ports(port: int) -> None:
    parsed = listen_address(f"127.0.0.1:{port}")
    assert (parsed is not None) == (0 < port < 65536)


def test_forms() -> None:
    assert listen_address("127.0.0.1:9469") == ("127.0.0.1", 9469)
    assert listen_address(":9469") == ("0.0.0.0", 9469)
    assert listen_address("[::1]:9469") == ("::1", 9469)
    for bad in ("9469", "host:", "host:http", "host:٩٤٦٩", "host:9469\n", "host:65536"):
        assert listen_address(bad) is None, bad
