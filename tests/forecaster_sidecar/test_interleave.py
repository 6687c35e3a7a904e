"""interleaved: two kinds of work per item in threads, in order, one kind never twice at once."""

from __future__ import annotations

import threading

import pytest

from forecaster_sidecar.interleave import interleaved


@pytest.mark.parametrize("workers", [1, 2, 3, 5])
@pytest.mark.parametrize("count", [0, 1, 2, 7])
def test_every_item_in_order_with_both_results(workers: int, count: int) -> None:
    out = list(interleaved(list(range(count)), lambda i: i * 10, lambda i: -i, workers))
    assert out == [(i, i * 10, -i) for i in range(count)]


@pytest.mark.parametrize("workers", [2, 3, 4])
def test_never_two_singles_at_once_and_never_far_ahead(workers: int) -> None:
    """Each single waits (with a deadline) for another single to begin: if one could, the
    event is set and the overlap recorded. No item begins more than ``workers`` items ahead
    of the one being yielded."""
    lock = threading.Lock()
    running, overlaps, yielded = [0], [0], [0]
    began = threading.Event()
    ahead: list[int] = []

    def single(i: int) -> int:
        with lock:
            ahead.append(i - yielded[0])
            running[0] += 1
            if running[0] > 1:
                overlaps[0] += 1
                began.set()
        began.wait(0.05)  # the time another single would need to begin
        with lock:
            running[0] -= 1
        return i

    def shared(i: int) -> int:
        with lock:
            ahead.append(i - yielded[0])
        return i

    for item, a, b in interleaved(list(range(6)), single, shared, workers):
        assert item == a == b
        with lock:
            yielded[0] += 1
    assert overlaps[0] == 0
    assert max(ahead) <= workers


def test_an_error_is_raised_at_its_item_after_the_ones_before() -> None:
    def shared(i: int) -> int:
        if i == 2:
            raise ValueError("item 2")
        return i

    results = interleaved(list(range(5)), lambda i: i, shared, 2)
    assert [next(results)[0] for _ in range(2)] == [0, 1]
    with pytest.raises(ValueError, match="item 2"):
        next(results)
