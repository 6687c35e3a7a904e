"""The plugin SDK: report metrics, logs, events and snapshots without ever blocking the plugin.

    from exporters.plugin.sdk import PluginClient

    client = PluginClient("http://127.0.0.1:9465", "payment-gateway", token=TOKEN)
    client.record_metric(cpu_usage_ratio=0.35, memory_bytes=2.1e8)
    client.record_log("error", "card declined", context={"order": 42})
    client.record_event("deploy", "low", "v1.4.2 rolled out")
    client.create_snapshot(status="healthy", version="1.4.2")

    @client.timed()                       # or: with client.timer(): ...
    def charge(card): ...                 # one request; an exception also counts an error

    client.close()                        # flushes what is buffered (bounded by a timeout)

The seed design's monitor, one object for every plugin of a process, with its calls:

    from exporters.plugin.sdk import PluginMonitor

    monitor = PluginMonitor("http://127.0.0.1:9465", token=TOKEN)
    monitor.record_metric("my_plugin", "cpu_usage", 42.0, {"source": "worker"})
    monitor.record_log("my_plugin", "error", "card declined", {"order": 42}, traceback_text)
    monitor.record_event("my_plugin", "startup", "v1.4.2 up", "info", {"version": "1.4.2"})
    monitor.create_snapshot("my_plugin", {"cpu_usage": 12.5, "response_time": 180.0})
    monitor.close()

Each client also measures its own process every ``self_interval`` seconds (30 by default; None
turns it off) when psutil is installed: CPU and memory as gauges, disk IO as increments, and a
snapshot (``healthy``, uptime, CPU, memory), as the seed's monitor does on its own.

Calls only append to a bounded in-memory buffer; a background thread sends batches to
``POST /api/advanced-monitoring/plugins/{id}/batch``. Requests, errors and timings are summed
into one metric report per flush. When the exporter is unreachable the thread retries with
exponential backoff; when the buffer is full new items are dropped and counted (``dropped``),
and a batch the exporter refuses as invalid (4xx other than 429) is dropped and counted
(``rejected``): the plugin keeps running either way. Standard library only.
"""

from __future__ import annotations

import contextlib
import functools
import json
import threading
import time
import urllib.error
import urllib.request
from collections import deque
from collections.abc import Callable, Iterator
from typing import Any, ParamSpec, TypeVar

P = ParamSpec("P")
R = TypeVar("R")


class PluginClient:
    def __init__(
        self,
        url: str,
        plugin_id: str,
        *,
        token: str | None = None,
        flush_interval: float = 1.0,
        max_buffer: int = 10_000,
        batch_size: int = 500,
        timeout: float = 5.0,
        max_backoff: float = 30.0,
        self_interval: float | None = 30.0,
    ) -> None:
        self.endpoint = f"{url.rstrip('/')}/api/advanced-monitoring/plugins/{plugin_id}/batch"
        self.token = token
        self.flush_interval, self.batch_size = flush_interval, batch_size
        self.timeout, self.max_backoff = timeout, max_backoff
        self._items: deque[tuple[str, dict[str, Any]]] = deque()
        self._max_buffer = max_buffer
        self._totals: dict[str, float] = {}  # requests, errors... summed until the next flush
        self._times: list[float] = []
        self._lock = threading.Lock()
        self._wake = threading.Event()
        self._stop = False
        self.sent = self.dropped = self.rejected = self.failures = 0
        self._self = _SelfMeasure(self) if self_interval else None
        self._self_interval = self_interval or 0.0
        self._next_self = time.monotonic() + self._self_interval
        self._thread = threading.Thread(target=self._run, name="globalmon-sdk", daemon=True)
        self._thread.start()

    # --- recording: never blocks on the network ------------------------------------------------
    def _append(self, kind: str, item: dict[str, Any]) -> None:
        with self._lock:
            if len(self._items) >= self._max_buffer:
                self.dropped += 1
                return
            self._items.append((kind, item))

    def record_metric(self, **fields: Any) -> None:
        """Gauges (cpu_usage_ratio, memory_bytes, memory_usage_ratio, custom=[...]) are sent as
        given; increments (requests, errors, *_bytes of IO) are summed until the next flush."""
        increments = {
            k: fields.pop(k)
            for k in list(fields)
            if k in ("requests", "errors") or k.endswith(("_read_bytes", "_write_bytes"))
        }
        times = fields.pop("response_times_seconds", [])
        with self._lock:
            for k, v in increments.items():
                self._totals[k] = self._totals.get(k, 0) + v
            self._times.extend(times)
        if fields:
            self._append("metrics", {**fields, "timestamp": time.time()})

    def record_log(
        self,
        level: str,
        message: str,
        *,
        context: dict[str, Any] | None = None,
        traceback: str | None = None,
    ) -> None:
        item: dict[str, Any] = {"level": level, "message": message, "timestamp": time.time()}
        if context:
            item["context"] = context
        if traceback:
            item["traceback"] = traceback
        self._append("logs", item)

    def record_event(
        self, type: str, severity: str, description: str = "", data: dict[str, Any] | None = None
    ) -> None:
        item = {"type": type, "severity": severity, "description": description}
        self._append("events", {**item, "data": data or {}, "timestamp": time.time()})

    def create_snapshot(self, **fields: Any) -> None:
        self._append("snapshots", {**fields, "timestamp": time.time()})

    def observe(self, seconds: float, *, error: bool = False) -> None:
        """One request that took ``seconds``."""
        with self._lock:
            self._times.append(seconds)
            self._totals["requests"] = self._totals.get("requests", 0) + 1
            if error:
                self._totals["errors"] = self._totals.get("errors", 0) + 1

    @contextlib.contextmanager
    def timer(self) -> Iterator[None]:
        start = time.perf_counter()
        failed = True
        try:
            yield
            failed = False
        finally:
            self.observe(time.perf_counter() - start, error=failed)

    def timed(self) -> Callable[[Callable[P, R]], Callable[P, R]]:
        def wrap(fn: Callable[P, R]) -> Callable[P, R]:
            @functools.wraps(fn)
            def inner(*args: P.args, **kwargs: P.kwargs) -> R:
                with self.timer():
                    return fn(*args, **kwargs)

            return inner

        return wrap

    # --- sending ---------------------------------------------------------------------------------
    def flush(self) -> None:
        """Ask the sender to send now (returns at once)."""
        self._wake.set()

    def close(self, timeout: float = 10.0) -> None:
        """Send what is buffered (waiting at most ``timeout``), then stop."""
        self._stop = True
        self._wake.set()
        self._thread.join(timeout)

    @property
    def pending(self) -> int:
        with self._lock:
            return len(self._items) + (1 if self._totals or self._times else 0)

    def _take(self) -> list[tuple[str, dict[str, Any]]]:
        with self._lock:
            batch = [self._items.popleft() for _ in range(min(self.batch_size, len(self._items)))]
            if self._totals or self._times:
                report: dict[str, Any] = dict(self._totals)
                if self._times:
                    report["response_times_seconds"] = self._times
                batch.append(("metrics", {**report, "timestamp": time.time()}))
                self._totals, self._times = {}, []
            return batch

    def _put_back(self, batch: list[tuple[str, dict[str, Any]]]) -> None:
        with self._lock:
            room = self._max_buffer - len(self._items)
            keep = batch[:room] if room > 0 else []
            self.dropped += len(batch) - len(keep)
            self._items.extendleft(reversed(keep))

    def _send(self, batch: list[tuple[str, dict[str, Any]]]) -> bool | None:
        """True sent, False refused for good, None worth retrying."""
        body: dict[str, list[dict[str, Any]]] = {}
        for kind, item in batch:
            body.setdefault(kind, []).append(item)
        request = urllib.request.Request(
            self.endpoint, data=json.dumps(body).encode(), method="POST"
        )
        request.add_header("Content-Type", "application/json")
        if self.token:
            request.add_header("Authorization", f"Bearer {self.token}")
        try:
            with urllib.request.urlopen(request, timeout=self.timeout):
                return True
        except urllib.error.HTTPError as exc:
            return False if 400 <= exc.code < 500 and exc.code != 429 else None
        except (OSError, TimeoutError):
            return None

    def _run(self) -> None:
        backoff = 0.0
        while True:
            self._wake.wait(backoff or self.flush_interval)
            self._wake.clear()
            stopping = self._stop
            if self._self is not None and time.monotonic() >= self._next_self:
                self._next_self = time.monotonic() + self._self_interval
                self._self.sample()
            while True:
                batch = self._take()
                if not batch:
                    backoff = 0.0
                    break
                outcome = self._send(batch)
                if outcome is None:
                    self.failures += 1
                    self._put_back(batch)
                    backoff = min(self.max_backoff, max(0.1, backoff * 2))
                    break
                if outcome:
                    self.sent += len(batch)
                else:
                    self.rejected += len(batch)
                backoff = 0.0
            if stopping:
                return


class _SelfMeasure:
    """The plugin's own process through psutil, when it is installed (the SDK needs only the
    standard library): gauges and IO increments into the next report, and a snapshot."""

    def __init__(self, client: PluginClient) -> None:
        self.client = client
        try:
            import psutil
        except ImportError:
            self.process = None
            return
        self.process = psutil.Process()
        self.process.cpu_percent(None)  # the first call only starts the measurement
        self.io = self._io()

    def _io(self) -> tuple[float, float] | None:
        assert self.process is not None
        try:
            io = self.process.io_counters()
        except (AttributeError, OSError):  # not on every platform, or not permitted
            return None
        return float(io.read_bytes), float(io.write_bytes)

    def sample(self) -> None:
        if self.process is None:
            return
        try:
            with self.process.oneshot():
                cpu = min(1.0, self.process.cpu_percent(None) / 100)
                memory = float(self.process.memory_info().rss)
                uptime = max(0.0, time.time() - self.process.create_time())
        except OSError:
            return
        fields: dict[str, Any] = {"cpu_usage_ratio": cpu, "memory_bytes": memory}
        io = self._io()
        if io is not None and self.io is not None:
            fields["disk_read_bytes"] = max(0.0, io[0] - self.io[0])
            fields["disk_write_bytes"] = max(0.0, io[1] - self.io[1])
        self.io = io
        self.client.record_metric(**fields)
        self.client.create_snapshot(
            status="healthy", uptime_seconds=uptime, cpu_usage_ratio=cpu, memory_bytes=memory
        )


def _value(x: Any) -> Any:
    """An enum's value (the seed passes MetricType.CPU_USAGE, LogLevel.ERROR), else x."""
    return getattr(x, "value", x)


class PluginMonitor:
    """The seed design's plugin monitor: one object for all of a process's plugins, with the
    seed's call signatures; one ``PluginClient`` per plugin underneath."""

    def __init__(self, url: str, *, token: str | None = None, **options: Any) -> None:
        self.url, self.token, self.options = url, token, options
        self.clients: dict[str, PluginClient] = {}
        self._lock = threading.Lock()

    def client(self, plugin_id: str) -> PluginClient:
        with self._lock:
            found = self.clients.get(plugin_id)
            if found is None:
                found = PluginClient(self.url, plugin_id, token=self.token, **self.options)
                self.clients[plugin_id] = found
            return found

    def record_metric(
        self, plugin_id: str, metric_type: Any, value: float, metadata: dict[str, Any] | None = None
    ) -> None:
        item = {"metric_type": _value(metric_type), "value": value, "metadata": metadata or {}}
        self.client(plugin_id)._append("metrics", {**item, "timestamp": time.time()})

    def record_log(
        self,
        plugin_id: str,
        level: Any,
        message: str,
        context: dict[str, Any] | None = None,
        traceback: str | None = None,
    ) -> None:
        self.client(plugin_id).record_log(
            _value(level), message, context=context, traceback=traceback
        )

    def record_event(
        self,
        plugin_id: str,
        event_type: str,
        description: str,
        severity: str,
        data: dict[str, Any] | None = None,
    ) -> None:
        self.client(plugin_id).record_event(event_type, _value(severity), description, data)

    def create_snapshot(self, plugin_id: str, metrics: dict[str, Any]) -> None:
        self.client(plugin_id).create_snapshot(**metrics)

    def flush(self) -> None:
        for c in list(self.clients.values()):
            c.flush()

    def close(self, timeout: float = 10.0) -> None:
        for c in list(self.clients.values()):
            c.close(timeout)
