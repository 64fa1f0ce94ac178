"""The per-user socket limit holds across server processes (recommendations/live_sockets.py).

Two real uvicorn processes share one database and one Redis (test_live_instances.py's fixtures),
with ``LIVE_MAX_SOCKETS_PER_USER=3``: alice's sockets on both count together; the one beyond the
limit gets an ``error`` frame naming it and close 4429; a socket closed frees its place at once,
and the places of a process that is killed free themselves when their leases end.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from websockets.asyncio.client import ClientConnection, connect

from .test_live_instances import WAIT, Server, close_code, shared_env, token, until  # noqa: F401  # fixture

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(180)]

LIMIT = 3


@pytest.fixture
def capped_servers(shared_env: dict[str, str], tmp_path: Path) -> Iterator[tuple[Server, Server]]:  # noqa: F811
    env = {**shared_env, "LIVE_MAX_SOCKETS_PER_USER": str(LIMIT)}
    servers = [Server(env, tmp_path / f"uvicorn-{name}.log") for name in ("a", "b")]
    try:
        for server in servers:
            server.start()
        yield servers[0], servers[1]
    finally:
        for server in servers:
            server.terminate()


async def opened(url: str, access: str) -> ClientConnection:
    """A socket that got its snapshot."""
    ws = await connect(url, additional_headers={"Authorization": f"Bearer {access}"})
    await until(ws, lambda m: m["type"] == "feed.snapshot")
    return ws


async def refused(url: str, access: str) -> tuple[list[dict[str, Any]], int | None] | None:
    """What a socket beyond the limit receives before it is closed (None: it got a snapshot)."""
    async with connect(url, additional_headers={"Authorization": f"Bearer {access}"}) as ws:
        first = json.loads(await asyncio.wait_for(ws.recv(), timeout=WAIT))
        if first["type"] == "feed.snapshot":
            return None
        return [first], await close_code(ws)


def kill(server: Server) -> None:
    """A crash: SIGKILL, so nothing is cleaned up."""
    assert server.process is not None
    with contextlib.suppress(ProcessLookupError):
        os.killpg(server.process.pid, signal.SIGKILL)
    server.process.wait(timeout=20)


def test_the_limit_counts_every_process_and_a_killed_ones_places_come_back(
    capped_servers: tuple[Server, Server],
) -> None:
    a, b = capped_servers
    alice, bob = token(a, "alice"), token(a, "bob")

    async def scenario() -> None:
        held = [await opened(a.ws_url, alice), await opened(a.ws_url, alice), await opened(b.ws_url, alice)]
        for server in (a, b):
            answer = await refused(server.ws_url, alice)
            assert answer is not None, f"a fourth socket was accepted on {server.port}"
            messages, code = answer
            assert code == 4429
            assert [(m["type"], m["code"]) for m in messages] == [("error", "too_many_connections")]
            assert str(LIMIT) in messages[0]["message"]
        other = await opened(b.ws_url, bob)  # another user is not counted with alice
        await other.close()

        await held.pop(0).close()  # a place freed is free again (as soon as the server saw the close)
        for _ in range(20):
            if await refused(b.ws_url, alice) is None:
                break
            await asyncio.sleep(0.1)
        else:
            pytest.fail("the place of a closed socket did not come back")
        held.append(await opened(b.ws_url, alice))
        assert await refused(a.ws_url, alice) is not None

        # B dies with two of alice's sockets: their leases end, and the places come back.
        await asyncio.to_thread(kill, b)
        deadline = time.monotonic() + 60
        while await refused(a.ws_url, alice) is not None:
            assert time.monotonic() < deadline, "the killed process's places never came back"
            await asyncio.sleep(1)
        for ws in held:
            with contextlib.suppress(Exception):
                await ws.close()

    asyncio.run(scenario())
