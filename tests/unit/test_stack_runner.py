"""The stack runner's report of a process that died during start-up."""

from __future__ import annotations

import signal
import subprocess
import sys

from local_stack import runner


def _started(code: str) -> int:
    proc = subprocess.Popen([sys.executable, "-c", code])
    runner._CHILDREN[proc.pid] = proc
    return proc.pid


def test_an_exit_status_and_a_signal_are_told_apart() -> None:
    exited = _started("import sys; sys.exit(3)")
    killed = _started("import time; time.sleep(60)")
    runner._CHILDREN[killed].send_signal(signal.SIGKILL)
    for pid in (exited, killed):
        runner._CHILDREN[pid].wait(timeout=30)
    assert runner._how_it_ended(exited) == "exit status 3"
    assert runner._how_it_ended(killed) == "killed by SIGKILL"
    assert runner._how_it_ended(-1) == "status unknown"  # not a child of ours
    for pid in (exited, killed):
        del runner._CHILDREN[pid]
