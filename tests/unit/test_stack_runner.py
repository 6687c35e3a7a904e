"""The stack runner's report of a process that died during start-up."""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from pathlib import Path

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


def test_a_child_of_ours_is_alive_until_it_ends_whatever_its_proc_cmdline_reads() -> None:
    # Just after Popen returns, /proc/PID/cmdline can read empty (the kernel closes Popen's
    # close-on-exec pipe before it sets up the new program's arguments): a console that had
    # just started was once reported dead with an empty log. An argv that /proc would never
    # show stands in for that read here.
    pid = _started("import time; time.sleep(60)")
    p = {"pid": pid, "argv": ["not", "what", "/proc", "shows"]}
    try:
        assert runner._alive(p)
        runner._CHILDREN[pid].send_signal(signal.SIGTERM)
        runner._CHILDREN[pid].wait(timeout=30)
        assert not runner._alive(p)
    finally:
        runner._CHILDREN[pid].kill()
        del runner._CHILDREN[pid]


def test_a_process_started_elsewhere_is_judged_by_its_cmdline() -> None:
    proc = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        argv = [sys.executable, "-c", "import time; time.sleep(60)"]
        deadline = time.monotonic() + 30  # until the kernel has set up its arguments
        while not Path(f"/proc/{proc.pid}/cmdline").read_bytes() and time.monotonic() < deadline:
            time.sleep(0.01)
        assert runner._alive({"pid": proc.pid, "argv": argv})  # `stack status` from a shell
        assert not runner._alive({"pid": proc.pid, "argv": [*argv[:2], "something else"]})
    finally:
        proc.kill()
        proc.wait(timeout=30)
