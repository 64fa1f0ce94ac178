"""The WebSocket consumer for ``/ws/home/`` (protocol: docs/websocket.md).

A thin adapter: it authenticates, joins the user's groups, sends the feed from the selectors and
relays ``feed.changed`` events as ``feed.updated`` messages holding only what changed. Every
feed it sends (snapshot, resume, updates) is rendered for the catalogue version the client
declared on the handshake (recommendations/client_version.py).
"""

from __future__ import annotations

import json
import logging
from typing import Any

from channels.db import database_sync_to_async
from channels.generic.websocket import AsyncJsonWebsocketConsumer

from homeservice.errors import ApplicationError

from . import live
from .client_version import client_version_from_scope
from .feed import feed_diff
from .selectors import home_feed

logger = logging.getLogger(__name__)

# Close codes (docs/websocket.md). 4401 is only seen by clients whose server accepts first;
# a refused handshake is an HTTP 403.
CLOSE_UNAUTHENTICATED = 4401
# An invalid client version: the handshake is accepted so that the client (a browser cannot read
# a refused handshake's status) gets an ``error`` message saying why, then closed with this code.
CLOSE_INVALID_CLIENT_VERSION = 4400


class HomeConsumer(AsyncJsonWebsocketConsumer):
    groups: list[str] = []
    client_version: int | None = None  # the catalogue version the client renders; None: the newest

    async def connect(self) -> None:
        user = self.scope.get("user")
        if user is None or not user.is_authenticated:
            await self.close(code=CLOSE_UNAUTHENTICATED)
            return
        try:
            self.client_version = client_version_from_scope(self.scope)
        except ApplicationError as exc:
            await self.accept()
            await self._error(exc.code, exc.message)
            await self.close(code=CLOSE_INVALID_CLIENT_VERSION)
            return
        self.user = user
        self.user_group = live.user_group(user.pk)
        await self.channel_layer.group_add(self.user_group, self.channel_name)
        await self.channel_layer.group_add(live.ALL_FEEDS_GROUP, self.channel_name)
        await self.accept()
        self.feed = await self._load_feed()
        await self.send_json({"type": "feed.snapshot", "version": self.feed["version"], "feed": self.feed})

    async def disconnect(self, code: int) -> None:
        if hasattr(self, "user_group"):
            await self.channel_layer.group_discard(self.user_group, self.channel_name)
            await self.channel_layer.group_discard(live.ALL_FEEDS_GROUP, self.channel_name)

    @database_sync_to_async
    def _load_feed(self) -> dict[str, Any]:
        return home_feed(user=self.user, client_version=self.client_version)

    async def _error(self, code: str, message: str) -> None:
        await self.send_json({"type": "error", "code": code, "message": message})

    # --- client -> server ------------------------------------------------------------------
    async def receive(self, text_data: str | None = None, bytes_data: bytes | None = None) -> None:
        if text_data is None:
            await self._error("unsupported_frame", "Messages are JSON text frames.")
            return
        try:
            content = json.loads(text_data)
        except ValueError:
            await self._error("malformed_message", "The message is not valid JSON.")
            return
        await self.receive_json(content)

    async def receive_json(self, content: Any, **kwargs: Any) -> None:
        if not isinstance(content, dict) or not isinstance(content.get("type"), str):
            await self._error("malformed_message", "A message is a JSON object with a string 'type'.")
            return
        kind = content["type"]
        if kind == "ping":
            await self.send_json({"type": "pong"})
        elif kind == "resume":
            await self._resume(content.get("version"))
        else:
            await self._error("unknown_type", f"Unknown message type {kind!r}.")

    async def _resume(self, version: Any) -> None:
        if not isinstance(version, str):
            await self._error("invalid_message", "'resume' needs the last 'version' seen, a string.")
            return
        self.feed = await self._load_feed()
        if version != self.feed["version"]:
            await self.send_json({"type": "feed.snapshot", "version": self.feed["version"], "feed": self.feed})

    # --- channel layer -> client -----------------------------------------------------------
    async def feed_changed(self, event: dict[str, Any]) -> None:
        product = event.get("product")
        if (
            event.get("reason") == "deals.changed"
            and product
            and any(s["product"] == product and s["source"] == "personalised" for s in self.feed["sections"])
        ):
            return  # a product's generic deals changed, but this screen shows the user's own offers there
        new = await self._load_feed()
        if new["version"] == self.feed["version"]:
            return
        diff = feed_diff(self.feed, new)
        self.feed = new
        await self.send_json(
            {
                "type": "feed.updated",
                "version": new["version"],
                "sections": diff.changed,
                "removed": diff.removed,
                "order": diff.order,
            }
        )
