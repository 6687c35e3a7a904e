"""Shared fixtures: the real Prometheus and Alertmanager binaries, started on loopback."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from globalmon import servers

REPO = Path(__file__).resolve().parent.parent


def _binary(names: tuple[str, ...]) -> str:
    found = servers.find_binary(names)
    if found:
        return found
    message = f"none of {', '.join(names)} on PATH (make test installs them)"
    if servers.in_ci():
        pytest.fail(message)
    pytest.skip(message)


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


@pytest.fixture
def start_prometheus(prometheus_bin: str, tmp_path: Path) -> Iterator[StartServer]:
    """Start a real Prometheus from a config text; waits for /-/ready; stopped after the test."""
    started: list[servers.Server] = []

    def start(config: str, **kwargs: object) -> servers.Server:
        workdir = tmp_path / f"prometheus-{len(started)}"
        workdir.mkdir()
        config_path = workdir / "prometheus.yml"
        config_path.write_text(config)
        server = servers.prometheus(prometheus_bin, config_path, workdir, **kwargs)  # type: ignore[arg-type]
        started.append(server.start())
        return server.wait_ready()

    yield start
    for server in started:
        server.stop()


@pytest.fixture
def start_alertmanager(alertmanager_bin: str, tmp_path: Path) -> Iterator[StartServer]:
    """Start a real Alertmanager from a config text; waits for /-/ready; stopped after."""
    started: list[servers.Server] = []

    def start(config: str, **kwargs: object) -> servers.Server:
        workdir = tmp_path / f"alertmanager-{len(started)}"
        workdir.mkdir()
        config_path = workdir / "alertmanager.yml"
        config_path.write_text(config)
        server = servers.alertmanager(alertmanager_bin, config_path, workdir, **kwargs)  # type: ignore[arg-type]
        started.append(server.start())
        return server.wait_ready()

    yield start
    for server in started:
        server.stop()


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--update-golden",
        action="store_true",
        help="rewrite expected-output files from the current output (review the diff!)",
    )


@pytest.fixture
def update_golden(request: pytest.FixtureRequest) -> bool:
    return bool(request.config.getoption("--update-golden"))
