"""The launcher's supervisor (homeservice/supervisor.py) with real child processes.

A clock of the test's own decides when a restart is due, so nothing here waits for a backoff;
the test only waits for processes to exit.
"""

from __future__ import annotations

import os
import signal
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from homeservice.supervisor import STABLE_RUN_SECONDS, Supervisor, exit_reason, restart_delay

SLEEPER = [sys.executable, "-c", "import time; time.sleep(120)"]


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def said() -> list[str]:
    return []


@pytest.fixture
def supervisor(tmp_path: Path, clock: Clock, said: list[str]) -> Iterator[Supervisor]:
    supervisor = Supervisor(cwd=tmp_path, say=said.append, clock=clock)
    try:
        yield supervisor
    finally:
        supervisor.stop(grace=10)


def running(pid: int) -> bool:
    """Alive and not a zombie."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat[stat.rindex(")") + 2] not in "ZX"


def test_restart_delays_double_up_to_thirty_seconds():
    assert [restart_delay(n) for n in range(1, 8)] == [1, 2, 4, 8, 16, 30, 30]


def test_exit_reasons_name_the_code_or_the_signal():
    assert exit_reason(3) == "exited with code 3"
    assert exit_reason(0) == "exited with code 0"
    assert exit_reason(-signal.SIGKILL) == "was killed by SIGKILL"
    assert exit_reason(-signal.SIGSEGV) == "was killed by SIGSEGV"


def test_a_child_that_dies_is_started_again_after_its_backoff_and_the_others_keep_running(
    supervisor: Supervisor, clock: Clock, said: list[str]
):
    crasher = supervisor.start("worker", [sys.executable, "-c", "import sys; sys.exit(3)"])
    steady = supervisor.start("server", SLEEPER)
    assert crasher.process is not None
    assert steady.process is not None
    steady_pid = steady.process.pid
    first_pid = crasher.process.pid
    crasher.process.wait(timeout=30)

    supervisor.check()

    assert said == [f"worker (pid {first_pid}) exited with code 3 after 0 s; starting it again in 1 s"]
    assert crasher.process is None  # not yet: its backoff has not passed
    assert [c.name for c in supervisor.exited()] == ["worker"]
    assert steady.process.pid == steady_pid
    assert running(steady_pid)

    clock.now += 1
    supervisor.check()

    assert crasher.process is not None
    assert crasher.process.pid != first_pid
    assert said[-1] == f"worker started again (pid {crasher.process.pid}, start 2)"

    # It dies again at once: the next wait doubles.
    crasher.process.wait(timeout=30)
    supervisor.check()
    assert said[-1].endswith("starting it again in 2 s")
    clock.now += 1
    supervisor.check()
    assert crasher.process is None
    clock.now += 1
    supervisor.check()
    assert crasher.process is not None
    assert crasher.starts == 3
    assert running(steady_pid)


def test_the_backoff_starts_over_after_a_stable_run(supervisor: Supervisor, clock: Clock, said: list[str]):
    child = supervisor.start("beat", [sys.executable, "-c", "import sys; sys.exit(1)"])
    for _ in range(4):  # four quick exits: the next wait would be 16 s
        assert child.process is not None
        child.process.wait(timeout=30)
        supervisor.check()
        assert child.restart_at is not None
        clock.now = child.restart_at
        supervisor.check()
    assert child.failures == 4

    assert child.process is not None
    child.process.wait(timeout=30)
    clock.now += STABLE_RUN_SECONDS  # this time it ran a minute before dying
    supervisor.check()

    assert said[-1].endswith(f"after {STABLE_RUN_SECONDS:.0f} s; starting it again in 1 s")
    assert child.failures == 1


def test_a_killed_child_is_reported_with_its_signal_and_its_leftovers_are_killed(
    supervisor: Supervisor, clock: Clock, said: list[str], tmp_path: Path
):
    # A parent that forks a child of its own in its process group, as the worker forks its pool.
    pid_file = tmp_path / "grandchild.pid"
    forker = (
        "import subprocess, sys, time\n"
        f"child = subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(120)'])\n"
        f"open({str(pid_file)!r}, 'w').write(str(child.pid))\n"
        "time.sleep(120)\n"
    )
    child = supervisor.start("worker", [sys.executable, "-c", forker])
    assert child.process is not None
    assert wait_for(lambda: pid_file.exists() and pid_file.read_text() != "")
    grandchild = int(pid_file.read_text())
    assert running(grandchild)

    pid = child.process.pid
    os.kill(pid, signal.SIGKILL)
    child.process.wait(timeout=30)
    supervisor.check()

    assert said[-1] == f"worker (pid {pid}) was killed by SIGKILL after 0 s; starting it again in 1 s"
    assert wait_for(lambda: not running(grandchild))


def wait_for(condition: Callable[[], bool], timeout: float = 30) -> bool:
    """Poll ``condition`` up to ``timeout`` seconds (a bound for a broken run, not a timing)."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.05)
    return True


def test_stop_ends_every_child_and_no_restart_follows(supervisor: Supervisor, clock: Clock, said: list[str]):
    children = [supervisor.start(name, SLEEPER) for name in ("server", "worker", "beat")]
    pids = [c.process.pid for c in children if c.process is not None]

    supervisor.stop(grace=10)
    for _ in range(2):
        clock.now += 3600
        supervisor.check()

    assert not any(running(pid) for pid in pids)
    assert all(c.starts == 1 for c in children)
    assert said == []
