"""A service as real ones are instrumented: prometheus_client metrics under a framework's names.

``python -m tests.integration.real_service PRESET PORT`` serves on 127.0.0.1:PORT the request
counter and duration histogram that the preset names (prometheus-http: ``http_requests_total``
with ``code`` and ``http_request_duration_seconds``; opentelemetry:
``http_server_request_duration_seconds`` with ``http_response_status_code``), and handles 50
requests a second, one in five failing with a 500 and taking 400 ms: bad enough that every
service alert of a default spec holds. It knows nothing of globalmon; no `service` or `region`
label: the scrape job adds them.
"""

from __future__ import annotations

import random
import sys
import time

from prometheus_client import (
    CollectorRegistry,
    Counter,
    Histogram,
    disable_created_metrics,
    start_http_server,
)


def main(preset: str, port: int) -> None:
    disable_created_metrics()  # type: ignore[no-untyped-call]
    registry = CollectorRegistry()
    if preset == "prometheus-http":
        requests = Counter("http_requests", "Requests.", ["method", "code"], registry=registry)
        duration = Histogram(
            "http_request_duration_seconds", "Request duration.", ["method"], registry=registry
        )

        def handled(code: int, seconds: float) -> None:
            requests.labels("GET", str(code)).inc()
            duration.labels("GET").observe(seconds)

    elif preset == "opentelemetry":
        otel = Histogram(
            "http_server_request_duration_seconds",
            "Duration of HTTP server requests.",
            ["http_request_method", "http_response_status_code"],
            registry=registry,
        )

        def handled(code: int, seconds: float) -> None:
            otel.labels("GET", str(code)).observe(seconds)

    else:
        raise SystemExit(f"unknown preset {preset}")
    start_http_server(port, addr="127.0.0.1", registry=registry)
    rng = random.Random(7)
    while True:
        for _ in range(5):
            failed = rng.random() < 0.2
            handled(500 if failed else 200, 0.4 if failed else rng.uniform(0.01, 0.08))
        time.sleep(0.1)


if __name__ == "__main__":
    main(sys.argv[1], int(sys.argv[2]))
