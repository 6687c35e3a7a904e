"""Two kinds of work on every item, in a few threads, one of the kinds never twice at once.

The sidecar forecasts and scores each chunk of series. A forecast is thousands of small numpy
calls (the recursive models, a step at a time), and two threads of them fight over the GIL at
every call: two chunks' forecasts took 0.93 s at once against 0.97 s one after the other. A
chunk's scores are long calls that release the GIL and run beside anything. So at most one
``single`` runs at a time, and a thread takes the other kind after each unit where it can: with
two threads and two chunks, one forecasts the first chunk and scores the second while the
other scores the first and forecasts the second (a thread kept for the forecasts waited for
the scores: docs/sidecar.md, "Speed").
"""

from __future__ import annotations

import threading
from collections import deque
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Generic, TypeVar

T = TypeVar("T")
A = TypeVar("A")
B = TypeVar("B")


class _Slot:
    """One unit's result, set once by the thread that computed it."""

    def __init__(self) -> None:
        self.done = threading.Event()
        self.value: Any = None
        self.error: BaseException | None = None

    def result(self) -> Any:
        self.done.wait()
        if self.error is not None:
            raise self.error
        return self.value


class _Units(Generic[T]):
    """The units admitted and not yet begun, one queue per kind, taken in order."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.waiting: tuple[deque[tuple[T, _Slot]], deque[tuple[T, _Slot]]] = (
            deque(),
            deque(),
        )
        self.singles = 0  # begun and not finished
        self.last = threading.local()  # the kind this thread did last

    def next(self) -> tuple[int, T, _Slot]:
        """The kind (0: single, 1: shared) and unit this thread does next."""
        with self.lock:
            singles, shared = self.waiting
            after_single = getattr(self.last, "kind", 1) == 0
            if singles and not self.singles and not (after_single and shared):
                kind = 0
            elif shared:
                kind = 1
            else:  # only singles left, one of them running: this one waits its turn below
                kind = 0
            item, slot = self.waiting[kind].popleft()
            self.singles += kind == 0
            self.last.kind = kind
            return kind, item, slot


def interleaved(
    items: Sequence[T],
    single: Callable[[T], A],
    shared: Callable[[T], B],
    workers: int,
) -> Iterator[tuple[T, A, B]]:
    """``(item, single(item), shared(item))`` for every item, in order, computed in ``workers``
    threads, never two ``single`` at once, at most ``workers`` items ahead of the one yielded
    (bounded memory). An exception of either is raised where its item is yielded."""
    if workers <= 1:
        for item in items:
            yield item, single(item), shared(item)
        return
    units: _Units[T] = _Units()
    single_done = threading.Lock()  # held by the single running: the next one waits for it

    def work() -> None:
        kind, item, slot = units.next()
        if kind == 0:
            single_done.acquire()
        try:
            slot.value = single(item) if kind == 0 else shared(item)
        except BaseException as exc:  # raised in the consumer, at its item
            slot.error = exc
        finally:
            if kind == 0:
                with units.lock:
                    units.singles -= 1
                single_done.release()
            slot.done.set()

    pending: deque[tuple[T, _Slot, _Slot]] = deque()

    def admit(pool: ThreadPoolExecutor, item: T) -> None:
        first, second = _Slot(), _Slot()
        with units.lock:
            units.waiting[0].append((item, first))
            units.waiting[1].append((item, second))
        pending.append((item, first, second))
        pool.submit(work)
        pool.submit(work)

    with ThreadPoolExecutor(workers) as pool:
        for item in items[:workers]:
            admit(pool, item)
        for i in range(len(items)):
            item, first, second = pending.popleft()
            if i + workers < len(items):
                admit(pool, items[i + workers])
            yield item, first.result(), second.result()
