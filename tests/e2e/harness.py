"""Helpers for the end-to-end tests: the launcher as a process tree, and a small HTTP client.

The fixtures that use them (modes, databases, Redis prefixes) are in tests/e2e/conftest.py.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]

# Project settings a developer's or CI's environment may hold; the launcher gets only ours.
_PROJECT_ENV = (
    "DJANGO_SETTINGS_MODULE",
    "HOMESERVICE_TESTING",
    "CELERY_TASK_ALWAYS_EAGER",
    "REDIS_URL",
    "REDIS_KEY_PREFIX",
    "DATABASE_URL",
    "EMBEDDED_REDIS_PORT",
    "SIMULATOR_BASE_URL",
    "STATIC_ROOT",
    "ALLOWED_HOSTS",
    "SECURE_SSL_REDIRECT",
    "PRODUCT_SIMULATOR_ENABLED",
    "SEED_DEMO",
    "HOST",
    "PORT",
    "VAR_DIR",
    "DEBUG",
    "LOG_LEVEL",
)


def wait_until(condition: Callable[[], bool], *, timeout: float, what: str, interval: float = 0.2) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"{what}: not within {timeout} s"
        time.sleep(interval)


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def launcher_env(*, var_dir: Path, port: int, **extra: str) -> dict[str, str]:
    env = {key: value for key, value in os.environ.items() if key not in _PROJECT_ENV}
    env.update(
        {
            "DEBUG": "true",
            "HOST": "127.0.0.1",
            "PORT": str(port),
            "VAR_DIR": str(var_dir),
            "SEED_DEMO": "true",
            # Every second: beat's tick and the demo products' poll interval (seed_demo stores it
            # as given), so a changed deal is picked up within a few seconds.
            "DEMO_POLL_INTERVAL_SECONDS": "1",
            "DEALS_POLL_TICK_SECONDS": "1",
            # The simulator's "deal of the moment" changes at most hourly: deals change when the
            # test changes them.
            "SIMULATOR_ROTATE_SECONDS": "3600",
            "LOG_LEVEL": "INFO",  # the harness waits for some INFO lines (worker ready, beat started)
            "PYTHONUNBUFFERED": "1",
            **extra,
        }
    )
    return env


@dataclass(frozen=True)
class Proc:
    """A process identified by PID and start time (so a reused PID is not mistaken for it)."""

    pid: int
    start_time: str
    cmdline: str

    @classmethod
    def read(cls, pid: int) -> Proc | None:
        try:
            stat = Path(f"/proc/{pid}/stat").read_text()
            cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            return None
        fields = stat[stat.rindex(")") + 2 :].split()
        return cls(pid=pid, start_time=fields[19], cmdline=cmdline.strip())

    def running(self) -> bool:
        try:
            stat = Path(f"/proc/{self.pid}/stat").read_text()
        except OSError:
            return False
        fields = stat[stat.rindex(")") + 2 :].split()
        # A zombie has exited; only its parent (or init) has not collected it yet.
        return fields[19] == self.start_time and fields[0] not in ("Z", "X")


def children_of(pid: int) -> list[int]:
    pids: list[int] = []
    for children in Path(f"/proc/{pid}/task").glob("*/children"):
        try:
            pids.extend(int(child) for child in children.read_text().split())
        except OSError:
            continue
    return pids


def descendants_of(pid: int) -> list[Proc]:
    found: list[Proc] = []
    pending = children_of(pid)
    while pending:
        child = pending.pop(0)
        proc = Proc.read(child)
        if proc is not None:
            found.append(proc)
            pending.extend(children_of(child))
    return found


def http(
    method: str, url: str, *, body: Any = None, token: str = "", timeout: float = 10
) -> tuple[int, dict[str, str], Any]:
    """A small JSON HTTP client (urllib; the test talks to 127.0.0.1 only); header names in lower case."""
    headers = {"Accept": "application/json"}
    data = None
    if body is not None:
        data = json.dumps(body).encode()
        headers["Content-Type"] = "application/json"
    if token:
        headers["Authorization"] = f"Bearer {token}"
    request = urllib.request.Request(url, data=data, method=method, headers=headers)  # noqa: S310 - loopback
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:  # noqa: S310 - loopback
            raw = response.read()
            status, response_headers = response.status, {k.lower(): v for k, v in response.headers.items()}
    except urllib.error.HTTPError as exc:
        raw = exc.read()
        status, response_headers = exc.code, {k.lower(): v for k, v in exc.headers.items()}
    return status, response_headers, json.loads(raw) if raw else None


class Launcher:
    """``python -m homeservice.launcher`` in a session of its own, logging to a file."""

    def __init__(self, *, env: dict[str, str], log_path: Path) -> None:
        self.env = env
        self.log_path = log_path
        self.port = int(env["PORT"])
        self.base_url = f"http://127.0.0.1:{self.port}"
        self.ws_url = f"ws://127.0.0.1:{self.port}/ws/home/"
        self.process: subprocess.Popen[bytes] | None = None
        self.seen: list[Proc] = []  # every descendant observed, for the cleanup

    def start(self) -> Launcher:
        with self.log_path.open("wb") as log:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "homeservice.launcher"],
                cwd=ROOT,
                env=self.env,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        return self

    @property
    def pid(self) -> int:
        assert self.process is not None
        return self.process.pid

    def log(self) -> str:
        try:
            return self.log_path.read_text(errors="replace")
        except OSError:
            return ""

    def tail(self, lines: int = 80) -> str:
        return "\n".join(self.log().splitlines()[-lines:])

    def wait_ready(self, timeout: float = 60) -> dict[str, Any]:
        """Wait for ``/readyz`` and for the launcher's own "ready" (every process started)."""
        assert self.process is not None
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise AssertionError(f"the launcher exited with {self.process.returncode} before it was ready")
            if "[homeservice] ready" in self.log():
                try:
                    status, _, body = http("GET", f"{self.base_url}/readyz", timeout=2)
                except OSError:
                    status, body = 0, None
                if status == 200:
                    self.descendants()
                    ready: dict[str, Any] = body
                    return ready
            time.sleep(0.2)
        raise AssertionError(f"not ready within {timeout} s")

    def wait_for_log(self, pattern: str, timeout: float = 30) -> None:
        """Wait until the log has a line matching ``pattern`` (a regular expression)."""
        assert self.process is not None
        deadline = time.monotonic() + timeout
        while not re.search(pattern, self.log(), re.MULTILINE):
            if self.process.poll() is not None:
                raise AssertionError(f"the launcher exited with {self.process.returncode}")
            if time.monotonic() > deadline:
                raise AssertionError(f"no log line matching {pattern!r} within {timeout} s")
            time.sleep(0.2)

    def children(self) -> list[Proc]:
        return [proc for pid in children_of(self.pid) if (proc := Proc.read(pid)) is not None]

    def descendants(self) -> list[Proc]:
        found = descendants_of(self.pid)
        self.seen.extend(proc for proc in found if proc not in self.seen)
        return found

    def stop(self, timeout: float = 30) -> int | None:
        """SIGTERM the launcher and wait; its exit code, or None if it had to be killed."""
        if self.process is None:
            return None
        if self.process.poll() is None:
            self.descendants()
            self.process.send_signal(signal.SIGTERM)
        try:
            return self.process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.kill()
            return None

    def kill(self) -> None:
        """Last resort: SIGKILL the launcher and everything it started (by PID)."""
        if self.process is not None and self.process.poll() is None:
            self.descendants()
            self.process.kill()
            self.process.wait(timeout=10)
        for proc in self.seen:
            if proc.running():
                with contextlib.suppress(ProcessLookupError):
                    os.kill(proc.pid, signal.SIGKILL)


def wait_gone(procs: list[Proc], timeout: float = 15) -> list[Proc]:
    """The processes still running after up to ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        alive = [proc for proc in procs if proc.running()]
        if not alive or time.monotonic() > deadline:
            return alive
        time.sleep(0.1)
