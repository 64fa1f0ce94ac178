"""A redis-server of a test's own, for the end-to-end tests that stop and start Redis."""

from __future__ import annotations

import signal
import subprocess
from pathlib import Path

import redis

from .harness import wait_until


class RedisServer:
    """A redis-server of the test's own on ``port`` (loopback, no persistence), stopped by PID.

    Tests that break Redis use one of these, never the shared server.
    """

    def __init__(self, port: int, log_path: Path) -> None:
        self.port = port
        self.log_path = log_path
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        assert self.process is None or self.process.poll() is not None
        with self.log_path.open("ab") as log:
            self.process = subprocess.Popen(
                [
                    *("redis-server", "--port", str(self.port), "--bind", "127.0.0.1"),
                    *("--save", "", "--appendonly", "no", "--daemonize", "no"),
                ],
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        wait_until(self.answers, timeout=20, what=f"redis-server on port {self.port} answering PING")

    def answers(self) -> bool:
        assert self.process is not None
        assert self.process.poll() is None, self.log_path.read_text(errors="replace")
        client = self.client()
        try:
            return bool(client.ping())
        except redis.exceptions.RedisError:
            return False
        finally:
            client.close()

    def client(self) -> redis.Redis:
        return redis.Redis(host="127.0.0.1", port=self.port, socket_connect_timeout=1, socket_timeout=2)

    def keys(self, match: str = "*") -> list[bytes]:
        client = self.client()
        try:
            return list(client.scan_iter(match=match, count=500))
        finally:
            client.close()

    def stop(self) -> None:
        if self.process is None or self.process.poll() is not None:
            return
        self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(timeout=10)
