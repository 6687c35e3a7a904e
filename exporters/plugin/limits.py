"""Per-plugin sliding-window rate limit and the cardinality budget."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Limits:
    requests_per_window: int = 600  # per plugin
    window_seconds: float = 60.0
    max_plugins: int = 10_000  # live at once
    max_custom_names: int = 20  # per plugin
    max_custom_series: int = 200  # per plugin
    max_event_types: int = 50  # per plugin; type is a label of plugin_events_total
    max_body_bytes: int = 4 * 1024 * 1024
    max_future_seconds: float = 300.0  # client clocks may run this far ahead of ours


class SlidingWindow:
    """A sliding-window counter per key: the previous window's count weighted by its overlap.

    O(1) memory per key and no burst of twice the limit at a window boundary (a fixed window
    would allow one).
    """

    def __init__(self, limit: int, window: float) -> None:
        self.limit, self.window = limit, window
        self._state: dict[str, tuple[int, int, int]] = {}  # key -> (window index, prev, current)

    def allow(self, key: str, now: float, cost: int = 1) -> float | None:
        """None when allowed (and counted); otherwise seconds to wait before retrying."""
        index = int(now // self.window)
        w, prev, cur = self._state.get(key, (index, 0, 0))
        if w != index:
            prev, cur = (cur if w == index - 1 else 0), 0
        elapsed = (now % self.window) / self.window
        estimate = prev * (1 - elapsed) + cur + cost
        if estimate > self.limit:
            self._state[key] = (index, prev, cur)
            return max(
                0.001,
                (1 - elapsed) * self.window
                if cur + cost > self.limit
                else (estimate - self.limit) / max(prev, 1) * self.window,
            )
        self._state[key] = (index, prev, cur + cost)
        return None
