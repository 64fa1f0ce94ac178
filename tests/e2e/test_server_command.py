"""Every way the project starts its ASGI server hides tickets in the log and caps WebSocket messages.

Three command lines start uvicorn: ``make run``'s launcher (``server_command``), docker-compose's
``web`` service and the Dockerfile's ``CMD``. Each is run here as written (only the interpreter,
host and port are swapped for this machine's: 127.0.0.1 and a free port), on a SQLite database
seeded once for the module, and must:

- keep one-time tickets out of its log: a WebSocket opened with ``?ticket=`` (accepted, then
  refused when the ticket is used again) and an HTTP request with ``?ticket=`` are logged with
  ``ticket=[redacted]``;
- close a WebSocket whose client sends a message over 64 KiB with 1009 (message too big).
"""

from __future__ import annotations

import asyncio
import json
import re
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed, InvalidStatus

from homeservice.launcher import WS_MAX_SIZE, server_command

from .harness import ROOT, free_port, http, launcher_env, wait_until

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(240)]

WAIT = 30.0  # upper bound for a broken run; nothing is timed


def _placed(command: list[str], port: int) -> list[str]:
    """``command`` with this machine's interpreter, loopback and ``port``."""
    placed = [sys.executable if part == "python" else part for part in command]
    placed[placed.index("--host") + 1] = "127.0.0.1"
    placed[placed.index("--port") + 1] = str(port)
    return placed


def launcher_command(port: int) -> list[str]:
    return server_command(host="127.0.0.1", port=str(port), access_log=True)


def compose_command(port: int) -> list[str]:
    compose = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    return _placed(compose["services"]["web"]["command"], port)


def image_command(port: int) -> list[str]:
    match = re.search(r"^CMD (\[.*\])$", (ROOT / "Dockerfile").read_text(), flags=re.MULTILINE)
    assert match, "the Dockerfile has no CMD in JSON form"
    return _placed(json.loads(match.group(1)), port)


@pytest.fixture(scope="module")
def seeded_env(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    env = launcher_env(var_dir=tmp_path_factory.mktemp("server-command") / "var", port=0)
    for args in (["migrate", "--noinput", "-v", "0"], ["seed_demo"]):
        done = subprocess.run(
            [sys.executable, "manage.py", *args], cwd=ROOT, env=env, capture_output=True, text=True, timeout=180
        )
        assert done.returncode == 0, done.stdout + done.stderr
    return env


@pytest.fixture(params=[launcher_command, compose_command, image_command], ids=["make-run", "compose", "image"])
def server(request: pytest.FixtureRequest, seeded_env: dict[str, str], tmp_path: Path) -> Iterator[tuple[str, Path]]:
    """The server started by one of the project's command lines: its base URL and log file."""
    port = free_port()
    log_path = tmp_path / "server.log"
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            request.param(port),
            cwd=ROOT,
            env={**seeded_env, "PORT": str(port)},
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    base_url = f"http://127.0.0.1:{port}"

    def healthy() -> bool:
        assert process.poll() is None, log_path.read_text(errors="replace")
        try:
            return http("GET", f"{base_url}/healthz", timeout=2)[0] == 200
        except OSError:
            return False

    try:
        wait_until(healthy, timeout=60, what="the server answering /healthz")
        yield base_url, log_path
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(timeout=10)


def token(base_url: str) -> str:
    status, _, body = http("POST", f"{base_url}/api/v1/auth/token/", body={"username": "alice", "password": "demo1234"})
    assert status == 200, body
    access: str = body["access"]
    return access


def test_tickets_never_reach_the_log(server: tuple[str, Path]) -> None:
    base_url, log_path = server
    status, _, body = http("POST", f"{base_url}/api/v1/live/ticket/", token=token(base_url))
    assert status == 201, body
    ticket: str = body["ticket"]
    ws_url = base_url.replace("http://", "ws://") + f"/ws/home/?ticket={ticket}"

    async def scenario() -> None:
        async with connect(ws_url) as ws:
            snapshot = json.loads(await asyncio.wait_for(ws.recv(), timeout=WAIT))
            assert snapshot["type"] == "feed.snapshot"
        # Used once: the same ticket is refused (and that refusal is logged too).
        with pytest.raises((InvalidStatus, ConnectionClosed)):
            async with connect(ws_url) as ws:
                await asyncio.wait_for(ws.recv(), timeout=WAIT)

    asyncio.run(scenario())
    assert http("GET", f"{base_url}/healthz?ticket={ticket}")[0] == 200

    def logged() -> bool:
        return log_path.read_text(errors="replace").count("ticket=[redacted]") >= 3

    wait_until(logged, timeout=WAIT, what="three log lines with a redacted ticket")
    log = log_path.read_text(errors="replace")
    assert ticket not in log
    assert re.search(r'"WebSocket /ws/home/\?ticket=\[redacted\]" \[accepted\]', log), log
    assert re.search(r'"GET /healthz\?ticket=\[redacted\] HTTP/1\.1" 200', log), log


def test_a_websocket_message_over_64_kib_closes_the_connection_with_1009(server: tuple[str, Path]) -> None:
    base_url, _ = server
    ws_url = base_url.replace("http://", "ws://") + "/ws/home/"
    assert WS_MAX_SIZE == 65536

    async def scenario() -> int | None:
        async with connect(ws_url, additional_headers={"Authorization": f"Bearer {token(base_url)}"}) as ws:
            snapshot: dict[str, Any] = json.loads(await asyncio.wait_for(ws.recv(), timeout=WAIT))
            assert snapshot["type"] == "feed.snapshot"
            await ws.send(json.dumps({"type": "ping", "padding": "x" * WS_MAX_SIZE}))
            deadline = time.monotonic() + WAIT
            try:
                while time.monotonic() < deadline:
                    await asyncio.wait_for(ws.recv(), timeout=WAIT)
            except ConnectionClosed as closed:
                return closed.rcvd.code if closed.rcvd is not None else None
        return None

    assert asyncio.run(scenario()) == 1009
