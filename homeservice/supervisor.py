"""Keeps the launcher's processes running: a process that dies is started again, with backoff.

Each child runs in a process group of its own, so stopping it stops what it forked too (a
worker's pool, its embedded beat) and a terminal's Ctrl-C reaches only the launcher. When a
child exits while the service runs, the supervisor says why (its exit code, or the signal that
killed it), kills what is left of its process group (the pool of a worker killed with SIGKILL),
and starts it again after ``restart_delay`` seconds: 1, 2, 4 ... up to 30 for a child that keeps
dying, 1 again once it has run ``STABLE_RUN_SECONDS``. The other children keep running. Only
``stop`` (the launcher's Ctrl-C or SIGTERM) ends them all.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

RESTART_DELAY_FIRST_SECONDS = 1.0
RESTART_DELAY_MAX_SECONDS = 30.0
# A child that ran this long before it died counts as having run well: its backoff starts over.
STABLE_RUN_SECONDS = 60.0


def restart_delay(failures: int) -> float:
    """Seconds to wait before starting a child again after ``failures`` exits in a row (1-based)."""
    return min(RESTART_DELAY_MAX_SECONDS, RESTART_DELAY_FIRST_SECONDS * 2 ** max(0, failures - 1))


def exit_reason(returncode: int) -> str:
    """How a process ended, from ``Popen.returncode`` (negative: killed by that signal)."""
    if returncode >= 0:
        return f"exited with code {returncode}"
    try:
        name = signal.Signals(-returncode).name
    except ValueError:
        name = f"signal {-returncode}"
    return f"was killed by {name}"


def _group_alive(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    return True


@dataclass
class Child:
    name: str
    command: list[str]
    process: subprocess.Popen[bytes] | None = None
    started_at: float = 0.0
    failures: int = 0  # exits in a row, each after less than STABLE_RUN_SECONDS
    restart_at: float | None = None
    starts: int = 0


class Supervisor:
    """The launcher's children; ``check`` restarts those that died, ``stop`` ends them all."""

    def __init__(self, *, cwd: Path, say: Callable[[str], None], clock: Callable[[], float] = time.monotonic) -> None:
        self._cwd = cwd
        self._say = say
        self._clock = clock
        self.children: list[Child] = []
        self._stopped = False

    def start(self, name: str, command: list[str]) -> Child:
        child = Child(name=name, command=command)
        self.children.append(child)
        self._spawn(child)
        return child

    def _spawn(self, child: Child) -> None:
        child.process = subprocess.Popen(child.command, cwd=self._cwd, start_new_session=True)
        child.started_at = self._clock()
        child.restart_at = None
        child.starts += 1

    def exited(self) -> list[Child]:
        """Children that have exited and not been started again yet."""
        return [c for c in self.children if c.process is None or c.process.poll() is not None]

    def check(self) -> None:
        """Notice children that exited (say why, schedule their restart); start those due."""
        if self._stopped:
            return
        now = self._clock()
        for child in self.children:
            process = child.process
            if process is not None and process.poll() is not None:
                ran = now - child.started_at
                self._kill_leftovers(process.pid)
                child.process = None
                child.failures = 1 if ran >= STABLE_RUN_SECONDS else child.failures + 1
                delay = restart_delay(child.failures)
                child.restart_at = now + delay
                self._say(
                    f"{child.name} (pid {process.pid}) {exit_reason(process.returncode)} after {ran:.0f} s; "
                    f"starting it again in {delay:g} s"
                )
            if child.process is None and child.restart_at is not None and now >= child.restart_at:
                self._spawn(child)
                assert child.process is not None
                self._say(f"{child.name} started again (pid {child.process.pid}, start {child.starts})")

    def _kill_leftovers(self, pgid: int) -> None:
        """What a dead child forked and left behind (its group outlives it) has no parent to answer to."""
        with contextlib.suppress(ProcessLookupError):
            os.killpg(pgid, signal.SIGKILL)

    def stop(self, grace: float = 15.0) -> None:
        """SIGTERM every child's group; after ``grace`` seconds SIGKILL whatever is left of them."""
        self._stopped = True
        running = [c.process for c in self.children if c.process is not None]
        for process in running:
            if _group_alive(process.pid):
                os.killpg(process.pid, signal.SIGTERM)
        deadline = time.monotonic() + grace
        for process in running:
            try:
                process.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                self._say(f"process {process.pid} did not stop in {grace:.0f} s; killing it")
            while _group_alive(process.pid) and time.monotonic() < deadline:
                time.sleep(0.1)  # its own children (pool, beat) are still finishing
            if _group_alive(process.pid):
                os.killpg(process.pid, signal.SIGKILL)
            process.wait()
