"""The real service for the browser tests, with a server that can be killed and started again.

Like ``make run`` (homeservice/launcher.py) but with the ASGI server as a process of its own, so
a test can kill it and start it again on the same port against the same database and Redis:
an embedded Redis-protocol server started here and a SQLite file (embedded mode), or PostgreSQL
and the REDIS_URL server with a key prefix of the test's own (full-stack mode, as in CI; the
fixtures are tests/e2e/conftest.py's). The Celery worker (with beat) polls the simulator's deals
and renders what changes. Every process runs in a session of its own and is stopped by its
process group; nothing here waits without a bound.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from tests.e2e.harness import ROOT, http

UP_WITHIN = 60.0


class Process:
    """A child in a session (process group) of its own, logging to a file."""

    def __init__(self, name: str, command: list[str], env: dict[str, str], log_path: Path) -> None:
        self.name, self.command, self.env, self.log_path = name, command, env, log_path
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> Process:
        with self.log_path.open("ab") as log:
            self.process = subprocess.Popen(
                self.command,
                cwd=ROOT,
                env=self.env,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        return self

    def running(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def log(self, chars: int = 4000) -> str:
        try:
            return self.log_path.read_text(errors="replace")[-chars:]
        except OSError:
            return ""

    def kill(self) -> None:
        """SIGKILL the whole group at once: no graceful shutdown, as when a machine dies."""
        if self.process is None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait(timeout=10)

    def stop(self, grace: float = 20) -> None:
        """SIGTERM the group, SIGKILL it if it lingers."""
        if self.process is None:
            return
        if self.process.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(timeout=grace)
            except subprocess.TimeoutExpired:
                self.kill()
                return
        # The leader has gone; its own children (the worker's pool, beat) go with the group.
        deadline = time.monotonic() + grace
        while _group_alive(self.process.pid) and time.monotonic() < deadline:
            time.sleep(0.1)
        if _group_alive(self.process.pid):
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.process.pid, signal.SIGKILL)


def _group_alive(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    return True


def manage(env: dict[str, str], *args: str) -> str:
    result = subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
    )
    assert result.returncode == 0, f"manage.py {' '.join(args)}: {result.stderr[-3000:]}"
    return result.stdout


class BrowserStack:
    """Server, worker (with beat) over a shared database and Redis, on a fixed port."""

    def __init__(self, *, env: dict[str, str], port: int, log_dir: Path) -> None:
        self.env = {**env, "PORT": str(port)}
        self.port = port
        self.log_dir = log_dir
        self.base_url = f"http://127.0.0.1:{port}"
        self.server = self._server()
        self.worker = Process(
            "worker",
            [
                sys.executable,
                "-m",
                "celery",
                "-A",
                "homeservice",
                "worker",
                "-B",
                "-s",
                str(log_dir / "celerybeat-schedule"),
                "-l",
                "INFO",
                "--concurrency",
                "1",
            ],
            self.env,
            log_dir / "worker.log",
        )

    def _server(self) -> Process:
        command = [
            sys.executable,
            "-m",
            "uvicorn",
            "homeservice.asgi:application",
            "--host",
            "127.0.0.1",
            "--port",
            str(self.port),
            "--lifespan",
            "off",
            "--no-access-log",
        ]
        return Process("server", command, self.env, self.log_dir / "server.log")

    def setup(self) -> BrowserStack:
        manage(self.env, "migrate", "--no-input", "-v", "0")
        manage(self.env, "seed_demo", "--poll-interval", "2")
        return self

    def start(self) -> BrowserStack:
        self.worker.start()
        self.start_server()
        return self

    def start_server(self) -> None:
        self.server = self._server().start()
        deadline = time.monotonic() + UP_WITHIN
        while time.monotonic() < deadline:
            assert self.server.running(), f"the server exited:\n{self.server.log()}"
            with contextlib.suppress(OSError):
                if http("GET", f"{self.base_url}/readyz", timeout=2)[0] == 200:
                    return
            time.sleep(0.2)
        raise AssertionError(f"the server was not ready within {UP_WITHIN} s:\n{self.server.log()}")

    def kill_server(self) -> None:
        self.server.kill()

    def stop(self) -> None:
        self.server.stop()
        self.worker.stop()

    def logs(self) -> str:
        return "\n".join(f"--- {p.name} ({p.log_path}) ---\n{p.log()}" for p in (self.server, self.worker))
