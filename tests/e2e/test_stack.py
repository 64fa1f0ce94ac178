"""The whole service as ``make run`` starts it: server, Celery worker and beat, and Redis.

Embedded mode always runs (the launcher's embedded Redis-protocol server, SQLite). Full-stack
mode (PostgreSQL, Redis, worker and beat as separate processes) runs when DATABASE_URL and
REDIS_URL are both set, as in CI. Harness: tests/e2e/harness.py and conftest.py.
"""

from __future__ import annotations

import asyncio
import json
import time
from typing import Any

import pytest
from websockets.asyncio.client import ClientConnection, connect

from .harness import Launcher, http, wait_gone

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(120)]

E2E_TITLE = "E2E flash deal"
E2E_DEAL: dict[str, Any] = {
    "id": "e2e-1",
    "title": E2E_TITLE,
    "description": "x",
    "price": {"amount": "1.00", "currency": "EUR", "period": "month"},
    "url": "https://example.com/e2e",
}
# Upper bounds that only keep a broken run from hanging; nothing is timed.
UPDATE_WITHIN = 30.0
CONVERGE_WITHIN = 15.0


def token_for(stack: Launcher, username: str) -> str:
    status, _, body = http(
        "POST", f"{stack.base_url}/api/v1/auth/token/", body={"username": username, "password": "demo1234"}
    )
    assert status == 200, body
    access: str = body["access"]
    return access


def section(sections: list[dict[str, Any]], section_id: str) -> dict[str, Any] | None:
    return next((s for s in sections if s["id"] == section_id), None)


def shows(section: dict[str, Any] | None, text: str) -> bool:
    return section is not None and text in json.dumps(section["component"])


async def receive(ws: ClientConnection, deadline: float) -> dict[str, Any]:
    remaining = deadline - time.monotonic()
    if remaining <= 0:
        raise TimeoutError
    message: dict[str, Any] = json.loads(await asyncio.wait_for(ws.recv(), timeout=remaining))
    return message


async def live_deal_scenario(stack: Launcher, token: str) -> tuple[dict[str, Any], dict[str, Any], dict[str, Any]]:
    """Connect, change the simulator's mobile deals, wait for the update, converge with REST.

    Returns the snapshot, the update showing the new deal, and the REST feed at the end.
    """
    async with connect(stack.ws_url, additional_headers={"Authorization": f"Bearer {token}"}) as ws:
        snapshot = json.loads(await asyncio.wait_for(ws.recv(), timeout=10))
        assert snapshot["type"] == "feed.snapshot"
        version = snapshot["version"]

        status, _, body = await asyncio.to_thread(
            http, "PUT", f"{stack.base_url}/simulator/products/mobile/deals/", body={"deals": [E2E_DEAL]}
        )
        assert status == 204, body

        # Beat ticks, the worker polls the simulator, records the deals and publishes; the server
        # relays. Earlier updates (the first polls of the demo's deals) may come first.
        deadline = time.monotonic() + UPDATE_WITHIN
        update: dict[str, Any] | None = None
        while update is None:
            try:
                message = await receive(ws, deadline)
            except TimeoutError:
                pytest.fail(f"no feed.updated showing {E2E_TITLE!r} within {UPDATE_WITHIN} s")
            assert message["type"] in ("feed.updated", "feed.snapshot"), message
            version = message["version"]
            if message["type"] == "feed.updated":
                assert set(message) >= {"version", "sections", "removed", "order"}
                assert "product-mobile" in message["order"]
                if shows(section(message["sections"], "product-mobile"), E2E_TITLE):
                    update = message

        # The client converges: REST serves the version the socket last announced (should another
        # poll land meanwhile, its update comes over the socket too).
        deadline = time.monotonic() + CONVERGE_WITHIN
        while True:
            status, headers, feed = await asyncio.to_thread(http, "GET", f"{stack.base_url}/api/v1/home/", token=token)
            assert status == 200, feed
            if feed["version"] == version:
                break
            try:
                message = await receive(ws, deadline)
            except TimeoutError:
                pytest.fail(f"REST version {feed['version']} never matched the socket's {version}")
            version = message.get("version", version)
        assert headers["etag"].strip('"') == version
    return snapshot, update, feed


def test_a_changed_deal_reaches_a_real_websocket(launcher: Launcher, mode: str) -> None:
    status, _, ready = http("GET", f"{launcher.base_url}/readyz")
    assert status == 200
    assert ready["checks"] == {"database": "ok", "redis": "ok"}
    assert ("embedded mode" in launcher.log()) is (mode == "embedded")

    # carol has no offers: every section is a product's generic deals.
    token = token_for(launcher, "carol")
    snapshot, update, feed = asyncio.run(live_deal_scenario(launcher, token))

    sections = snapshot["feed"]["sections"]
    assert {s["source"] for s in sections} == {"generic"}
    assert not shows(section(sections, "product-mobile"), E2E_TITLE)

    mobile = section(update["sections"], "product-mobile")
    assert mobile is not None
    assert mobile["source"] == "generic"
    assert update["order"] == [s["id"] for s in feed["sections"]]
    assert shows(section(feed["sections"], "product-mobile"), E2E_TITLE)


def test_the_launcher_stops_everything_on_sigterm(launcher: Launcher, mode: str) -> None:
    # Everything up, the worker's pool included.
    launcher.wait_for_log(r"celery@\S+ ready\.")
    launcher.wait_for_log(r"beat: Starting")
    children = {proc.pid: proc.cmdline for proc in launcher.children()}
    commands = sorted(children.values())
    assert any("uvicorn homeservice.asgi:application" in c for c in commands), commands
    if mode == "embedded":
        # One worker with beat inside it.
        assert len(children) == 2, commands
        assert any(" worker " in c and " -B " in c for c in commands), commands
    else:
        # Worker and beat as separate processes.
        assert len(children) == 3, commands
        assert any(" worker " in c and " -B " not in c for c in commands), commands
        assert any(" beat " in c for c in commands), commands
    everything = launcher.descendants()
    assert len(everything) > len(children)  # the worker's pool processes too

    exit_code = launcher.stop()

    assert exit_code == 0
    assert "[homeservice] stopping" in launcher.log()
    left = wait_gone(everything)
    assert not left, [f"{proc.pid}: {proc.cmdline}" for proc in left]
