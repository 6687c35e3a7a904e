"""Shared fixtures: the real Prometheus and Alertmanager binaries, started on loopback."""

from __future__ import annotations

import itertools
import logging
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from functools import partial
from pathlib import Path
from typing import Any

import pytest
from prometheus_client import disable_created_metrics

from local_stack import postgres, servers

# As `globalmon` does when a daemon starts (globalmon/cli.py): apps built in-process by the tests
# expose what the daemons expose.
disable_created_metrics()  # type: ignore[no-untyped-call]


@pytest.fixture(autouse=True)
def _logging_as_before() -> Iterator[None]:
    """A test that runs a daemon's `main()` in-process sets up its logging; undo it after, so
    the next test (and a thread logging late) sees pytest's own setup."""
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    yield
    root.handlers[:] = handlers
    root.setLevel(level)


def _binary(names: tuple[str, ...]) -> str:
    found = servers.find_binary(names)
    if found:
        return found
    message = f"none of {', '.join(names)} on PATH (make test installs them)"
    if servers.in_ci():
        pytest.fail(message)
    pytest.skip(message)


@pytest.fixture(scope="session")
def pg_server() -> Iterator[postgres.Postgres]:
    """One real PostgreSQL for the session (Debian's package, initdb in a temp dir); each test
    takes a database of its own with ``pg_server.database(name)``."""
    try:
        server = postgres.start()
    except RuntimeError as exc:
        if servers.in_ci():
            pytest.fail(str(exc))
        pytest.skip(str(exc))
    yield server
    server.stop()


@pytest.fixture
def pg_url(pg_server: postgres.Postgres) -> str:
    """A new empty database on the session's server."""
    return pg_server.database(f"t{next(_databases)}")


_databases = itertools.count(1)


@pytest.fixture(scope="session")
def prometheus_bin() -> str:
    return _binary(servers.PROMETHEUS_NAMES)


@pytest.fixture(scope="session")
def promtool_bin() -> str:
    return _binary(servers.PROMTOOL_NAMES)


@pytest.fixture(scope="session")
def alertmanager_bin() -> str:
    return _binary(servers.ALERTMANAGER_NAMES)


@pytest.fixture(scope="session")
def amtool_bin() -> str:
    return _binary(servers.AMTOOL_NAMES)


StartServer = Callable[..., servers.Server]


@contextmanager
def _starter(
    make: Callable[..., servers.Server], name: str, tmp_path: Path
) -> Iterator[StartServer]:
    """start(config_text, **kwargs): write the config, start the server, wait for /-/ready."""
    started: list[servers.Server] = []

    def start(config: str, **kwargs: Any) -> servers.Server:
        workdir = tmp_path / f"{name}-{len(started)}"
        workdir.mkdir()
        config_path = workdir / f"{name}.yml"
        config_path.write_text(config)
        server = make(config_path, workdir, **kwargs)
        started.append(server.start())
        return server.wait_ready()

    try:
        yield start
    finally:
        for server in started:
            server.stop()


@pytest.fixture
def start_prometheus(prometheus_bin: str, tmp_path: Path) -> Iterator[StartServer]:
    """A real Prometheus from a config text, on a free loopback port; stopped after the test."""
    with _starter(partial(servers.prometheus, prometheus_bin), "prometheus", tmp_path) as start:
        yield start


@pytest.fixture
def start_alertmanager(alertmanager_bin: str, tmp_path: Path) -> Iterator[StartServer]:
    """A real Alertmanager from a config text, on a free loopback port; stopped after the test."""
    make = partial(servers.alertmanager, alertmanager_bin)
    with _starter(make, "alertmanager", tmp_path) as start:
        yield start


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--update-golden",
        action="store_true",
        help="rewrite expected-output files from the current output (review the diff!)",
    )


@pytest.fixture
def update_golden(request: pytest.FixtureRequest) -> bool:
    return bool(request.config.getoption("--update-golden"))
