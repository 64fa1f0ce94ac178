"""Many instances: an offer accepted by one ASGI server process reaches a WebSocket client
connected to another, through the shared Redis (docs/architecture.md, "Live updates"); and a
server that shuts down tells its clients to reconnect elsewhere (close 1012), where ``resume``
brings them up to date.

Two real uvicorn processes on two ports share one database and one Redis: PostgreSQL and the
REDIS_URL server (a key prefix of the test's own) in full-stack mode; in embedded mode a SQLite
file and an embedded Redis-protocol server started here. Each process runs in a session of its
own and is stopped by PID (process group).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed

from products.simulation import encode_events, event_source, signature_headers

from .conftest import _full_stack_services
from .harness import ROOT, free_port, http, launcher_env

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(180)]

TITLE = "Cross-instance upgrade"
WAIT = 30.0  # upper bound for waiting on a message; nothing is timed


class Server:
    """``uvicorn homeservice.asgi:application`` on a port, in a session of its own."""

    def __init__(self, env: dict[str, str], log_path: Path) -> None:
        self.port = free_port()
        self.env = {**env, "PORT": str(self.port)}
        self.log_path = log_path
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def ws_url(self) -> str:
        return f"ws://127.0.0.1:{self.port}/ws/home/"

    def start(self) -> Server:
        with self.log_path.open("wb") as log:
            self.process = subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "uvicorn",
                    "homeservice.asgi:application",
                    "--host",
                    "127.0.0.1",
                    "--port",
                    str(self.port),
                    "--no-access-log",
                ],
                cwd=ROOT,
                env=self.env,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            assert self.process.poll() is None, self.log()
            with contextlib.suppress(OSError):
                if http("GET", f"{self.base_url}/healthz", timeout=2)[0] == 200:
                    return self
            time.sleep(0.2)
        raise AssertionError(f"uvicorn on {self.port} not up: {self.log()}")

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")[-4000:]

    def terminate(self) -> None:
        """SIGTERM the process group (uvicorn's graceful shutdown); kill it if it lingers."""
        if self.process is None or self.process.poll() is not None:
            return
        os.killpg(self.process.pid, signal.SIGTERM)
        try:
            self.process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(timeout=10)


def manage(env: dict[str, str], *args: str) -> str:
    result = subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    return result.stdout


@pytest.fixture
def shared_env(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[dict[str, str]]:
    """The environment both servers share: database, Redis, key prefix; migrated and seeded."""
    services = _full_stack_services()
    if services is None:
        from homeservice.embedded_redis import EmbeddedRedis

        redis_server = EmbeddedRedis().start()
        extra = {"REDIS_URL": redis_server.url, "REDIS_KEY_PREFIX": f"hs-e2e-{uuid.uuid4().hex[:12]}"}
    else:
        redis_server = None
        extra = {
            "DATABASE_URL": request.getfixturevalue("postgres_database"),
            "REDIS_URL": services[1],
            "REDIS_KEY_PREFIX": request.getfixturevalue("redis_prefix"),
        }
    env = launcher_env(var_dir=tmp_path / "var", port=0, **extra)
    env["LIVE_SWEEP_SECONDS"] = "0.5"
    try:
        manage(env, "migrate", "--no-input")
        manage(env, "seed_demo")
        yield env
    finally:
        if redis_server is not None:
            redis_server.stop()


@pytest.fixture
def two_servers(shared_env: dict[str, str], tmp_path: Path) -> Iterator[tuple[Server, Server]]:
    servers = [Server(shared_env, tmp_path / f"uvicorn-{name}.log") for name in ("a", "b")]
    try:
        for server in servers:
            server.start()
        yield servers[0], servers[1]
    finally:
        for server in servers:
            server.terminate()


def offer_request(secret: str, *, user: str, title: str) -> tuple[bytes, dict[str, str]]:
    now = datetime.now(tz=UTC)
    event: dict[str, Any] = {
        "specversion": "1.0",
        "id": f"e2e-{uuid.uuid4().hex}",
        "source": event_source("mobile"),
        "type": "offer.upserted",
        "time": now.isoformat(timespec="seconds").replace("+00:00", "Z"),
        "subject": user,
        "sequence": int(now.timestamp() * 1000),
        "data": {
            "id": "e2e-cross-instance",
            "title": title,
            "body": "Only for you",
            "price": {"amount": "19.99", "currency": "EUR", "period": "month"},
            "cta_label": "See offer",
            "cta_url": "https://example.com/mobile/e2e",
            "priority": 50,
            "expires_at": (now + timedelta(hours=1)).isoformat(timespec="seconds").replace("+00:00", "Z"),
        },
    }
    body = encode_events([event])
    headers = {"Content-Type": "application/json", **signature_headers(secret=secret, body=body, msg_id=event["id"])}
    return body, headers


def post_signed(url: str, body: bytes, headers: dict[str, str]) -> int:
    import urllib.error
    import urllib.request

    request = urllib.request.Request(url, data=body, method="POST", headers=headers)  # noqa: S310 - loopback
    try:
        with urllib.request.urlopen(request, timeout=10) as response:  # noqa: S310 - loopback
            status: int = response.status
    except urllib.error.HTTPError as exc:
        status = exc.code
    return status


def token(server: Server, username: str) -> str:
    status, _, body = http(
        "POST", f"{server.base_url}/api/v1/auth/token/", body={"username": username, "password": "demo1234"}
    )
    assert status == 200, body
    access: str = body["access"]
    return access


async def until(ws: Any, predicate: Any) -> dict[str, Any]:
    deadline = time.monotonic() + WAIT
    while True:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            pytest.fail("the expected message never came")
        message: dict[str, Any] = json.loads(await asyncio.wait_for(ws.recv(), timeout=remaining))
        if predicate(message):
            return message


async def close_code(ws: Any) -> int | None:
    """Read until the server closes the socket; the code it sent."""
    try:
        while True:
            await asyncio.wait_for(ws.recv(), timeout=WAIT)
    except ConnectionClosed as closed:
        return closed.rcvd.code if closed.rcvd is not None else None


def test_an_offer_accepted_by_one_instance_reaches_a_client_on_another(
    two_servers: tuple[Server, Server], shared_env: dict[str, str]
) -> None:
    a, b = two_servers
    secret = manage(shared_env, "webhook_secret", "mobile", "--rotate").strip().splitlines()[-1]
    alice, carol = token(a, "alice"), token(a, "carol")

    async def scenario() -> dict[str, Any]:
        async with (
            connect(b.ws_url, additional_headers={"Authorization": f"Bearer {alice}"}) as on_b,
            connect(b.ws_url, additional_headers={"Authorization": f"Bearer {carol}"}) as carol_on_b,
        ):
            snapshot = await until(on_b, lambda m: m["type"] == "feed.snapshot")
            await until(carol_on_b, lambda m: m["type"] == "feed.snapshot")
            assert TITLE not in json.dumps(snapshot)
            body, headers = offer_request(secret, user="alice", title=TITLE)
            status = await asyncio.to_thread(post_signed, f"{a.base_url}/api/v1/products/mobile/events/", body, headers)
            assert status in (200, 202)
            update = await until(on_b, lambda m: m["type"] == "feed.updated" and TITLE in json.dumps(m))
            # Carol's socket on the same instance never carries Alice's offer.
            await carol_on_b.send(json.dumps({"type": "ping"}))
            pong = await until(carol_on_b, lambda m: m["type"] == "pong" or TITLE in json.dumps(m))
            assert pong == {"type": "pong"}
            return update

    update = asyncio.run(scenario())
    mobile = next(s for s in update["sections"] if s["id"] == "product-mobile")
    assert mobile["source"] == "personalised"
    status, _, feed = http("GET", f"{b.base_url}/api/v1/home/", token=alice)
    assert status == 200
    assert feed["version"] == update["version"]


def test_a_server_shutting_down_closes_with_1012_and_the_client_resumes_on_the_other(
    two_servers: tuple[Server, Server], shared_env: dict[str, str]
) -> None:
    a, b = two_servers
    secret = manage(shared_env, "webhook_secret", "mobile", "--rotate").strip().splitlines()[-1]
    alice = token(a, "alice")
    auth = {"Authorization": f"Bearer {alice}"}

    async def scenario() -> tuple[int | None, list[dict[str, Any]], dict[str, Any]]:
        async with connect(b.ws_url, additional_headers=auth) as on_b:
            snapshot = await until(on_b, lambda m: m["type"] == "feed.snapshot")
            await asyncio.to_thread(b.terminate)
            code = await close_code(on_b)
        # While the client is away, an offer arrives (through instance A).
        body, headers = offer_request(secret, user="alice", title=TITLE)
        status = await asyncio.to_thread(post_signed, f"{a.base_url}/api/v1/products/mobile/events/", body, headers)
        assert status in (200, 202)
        held = [{"id": s["id"], "version": s["version"]} for s in snapshot["feed"]["sections"]]
        async with connect(f"{a.ws_url}?resume=1", additional_headers=auth) as on_a:
            await on_a.send(json.dumps({"type": "resume", "version": snapshot["version"], "sections": held}))
            await on_a.send(json.dumps({"type": "ping"}))
            answers: list[dict[str, Any]] = []
            while not answers or answers[-1]["type"] != "pong":
                answers.append(json.loads(await asyncio.wait_for(on_a.recv(), timeout=WAIT)))
        return code, answers, snapshot

    code, answers, snapshot = asyncio.run(scenario())
    assert code == 1012
    [update, pong] = answers
    assert pong == {"type": "pong"}
    assert update["type"] == "feed.updated"
    assert [s["id"] for s in update["sections"]] == ["product-mobile"]
    assert TITLE in json.dumps(update["sections"])
    status, _, feed = http("GET", f"{a.base_url}/api/v1/home/", token=alice)
    assert status == 200
    assert feed["version"] == update["version"] != snapshot["version"]
