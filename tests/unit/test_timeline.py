"""A scenario's timeline mixes polled milestones (seen up to a poll late) with recorded ones
(the webhook's own times): a record earlier than a polled milestone before it bounds it."""

from __future__ import annotations

import time

import pytest

import local_stack.timeline as tl


def test_a_record_bounds_the_polls_before_it(monkeypatch: pytest.MonkeyPatch) -> None:
    now = [0.0]
    monkeypatch.setattr(time, "time", lambda: now[0])  # the clock the timeline reads
    t = tl.Timeline("x", 0.0)
    t.mark("breach")
    now[0] = 0.4
    t.mark("detected")
    now[0] = 3.87
    t.mark("alert firing", "AgentDown")  # the poll saw it here
    t.mark("webhook received", at=3.82)  # the webhook had it already
    t.mark("resolved", at=9.0)
    times = [at for _, at, _ in t.steps]
    assert times == sorted(times)
    assert [round(x, 2) for x in times] == [0.0, 0.4, 3.82, 3.82, 9.0]
    assert t.steps[2][2] == "AgentDown (a poll saw it at +3.87 s)"
    assert t.steps[1][2] == ""  # a poll already earlier than the record is left alone
