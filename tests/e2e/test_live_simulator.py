"""The issue's "done when": on the embedded ``make run``, an offer pushed by the product simulator
appears on a connected client (signed webhook → ingestion → live update → WebSocket).

The launcher runs as ``make run`` does, with the simulator on at a brisk rate; the client is
alice, whom the simulator pushes offers to. Full-stack mode runs the same when DATABASE_URL and
REDIS_URL are set.
"""

from __future__ import annotations

import asyncio
import json
import time
from typing import Any

import pytest
from websockets.asyncio.client import connect

from .harness import Launcher, http
from .test_stack import token_for

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(180)]

WAIT = 60.0  # upper bound only; nothing is timed


@pytest.fixture
def stack_env(stack_env: dict[str, str]) -> dict[str, str]:
    return {**stack_env, "SIMULATE_PRODUCTS": "true", "SIMULATE_PRODUCTS_RATE": "5"}


def test_a_simulated_offer_reaches_a_connected_client(launcher: Launcher) -> None:
    token = token_for(launcher, "alice")

    async def scenario() -> dict[str, Any]:
        async with connect(launcher.ws_url, additional_headers={"Authorization": f"Bearer {token}"}) as ws:
            snapshot = json.loads(await asyncio.wait_for(ws.recv(), timeout=10))
            assert snapshot["type"] == "feed.snapshot"
            deadline = time.monotonic() + WAIT
            while True:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    pytest.fail(f"no simulated offer reached the socket within {WAIT} s")
                message: dict[str, Any] = json.loads(await asyncio.wait_for(ws.recv(), timeout=remaining))
                if message["type"] == "feed.updated" and "Flash offer #" in json.dumps(message["sections"]):
                    return message

    update = asyncio.run(scenario())
    [section] = [s for s in update["sections"] if "Flash offer #" in json.dumps(s)]
    assert section["source"] == "personalised"
    status, _, feed = http("GET", f"{launcher.base_url}/api/v1/home/", token=token)
    assert status == 200
    assert section["id"] in [s["id"] for s in feed["sections"]]
