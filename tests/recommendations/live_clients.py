"""A WebSocket client model for the live-update tests: applies what ``/ws/home/`` sends, the way
docs/websocket.md tells a client to, and can drop and resume its connection."""

from __future__ import annotations

import asyncio
import json
from dataclasses import dataclass, field
from typing import Any

from channels.testing import WebsocketCommunicator

from homeservice.asgi import application

WS_PATH = "/ws/home/"
TIMEOUT = 20


@dataclass
class LiveClient:
    headers: list[tuple[bytes, bytes]]
    version: str = ""
    sections: list[dict[str, Any]] = field(default_factory=list)
    received: list[dict[str, Any]] = field(default_factory=list)  # every message, for inspection
    socket: WebsocketCommunicator | None = None

    def apply(self, message: dict[str, Any]) -> None:
        self.received.append(message)
        if message["type"] == "feed.snapshot":
            self.sections = list(message["feed"]["sections"])
            self.version = message["version"]
        elif message["type"] == "feed.updated":
            by_id = {s["id"]: s for s in self.sections}
            for section in message["sections"]:
                by_id[section["id"]] = section
            for gone in message["removed"]:
                by_id.pop(gone, None)
            self.sections = [by_id[sid] for sid in message["order"]]
            self.version = message["version"]

    async def connect(self) -> None:
        """Open a socket; a fresh client takes the snapshot, a returning one (``?resume=1``: no
        snapshot) sends ``resume`` with what it holds."""
        path = f"{WS_PATH}?resume=1" if self.version else WS_PATH
        socket = WebsocketCommunicator(application, path, headers=self.headers)
        connected, _ = await socket.connect(timeout=TIMEOUT)
        assert connected
        self.socket = socket
        if self.version:
            await self.resume()
            return
        snapshot = await socket.receive_json_from(timeout=TIMEOUT)
        assert snapshot["type"] == "feed.snapshot"
        self.apply(snapshot)

    async def resume(self) -> None:
        assert self.socket is not None
        refs = [{"id": s["id"], "version": s["version"]} for s in self.sections]
        await self.socket.send_json_to({"type": "resume", "version": self.version, "sections": refs})

    async def drain(self) -> None:
        """Apply everything that arrived so far."""
        assert self.socket is not None
        while not self.socket.output_queue.empty():
            output = await self.socket.receive_output(timeout=TIMEOUT)
            if output["type"] == "websocket.send":
                self.apply(json.loads(output["text"]))

    async def settle(self) -> None:
        """Resume, then apply everything until the server's pong: the client is then current."""
        assert self.socket is not None
        await self.resume()
        await self.socket.send_json_to({"type": "ping"})
        while True:
            message = await self.socket.receive_json_from(timeout=TIMEOUT)
            if message["type"] == "pong":
                return
            self.apply(message)

    async def drop(self) -> None:
        """Lose the connection (whatever was in flight is lost with it)."""
        assert self.socket is not None
        await self.socket.disconnect()
        self.socket = None


async def settle_all(clients: list[LiveClient]) -> None:
    await asyncio.gather(*(client.settle() for client in clients))
