"""The broadcast hub: one per process (per event loop), between the ``feeds`` group and the
connections this process serves.

A change that may touch every screen (a product's generic deals, a template publish) is sent once
to the ``feeds`` group (live.py). Only the hub is in that group, so the message reaches each
process once. The hub then reads the products' generic sections once for the whole process (for
each client version in use, through the fragment caches) and hands them to each connection. What
the change does to a screen depends only on the screen, so it is worked out once per distinct
screen and shared by the connections showing it (consumers.py, ``_generic_outcome``): the usual
cost per connection is a lookup and a queued frame. A screen showing the user's own offers for the
changed product keeps them.

The hub also runs one timer for all its connections (``LIVE_SWEEP_SECONDS``): a connection whose
credential expired is closed with 4401, one that was silent for ``LIVE_IDLE_TIMEOUT_SECONDS``
with 4408 (docs/websocket.md). On the same timer it asks, for all its connections at once,
whether their credentials still hold (live_auth.py: a session logged out, an account deactivated
or deleted; 4401), and renews their places in the per-user socket count (live_sockets.py).
"""

from __future__ import annotations

import asyncio
import logging
import time
import weakref
from dataclasses import dataclass, field
from typing import Protocol

from channels.db import database_sync_to_async
from channels.layers import get_channel_layer
from django.conf import settings

from . import live, live_sockets
from .live_auth import Credential, Revocation, revoked
from .live_screen import Screen
from .live_selectors import GenericSections, generic_sections

logger = logging.getLogger(__name__)

# How often the hub re-joins the feeds group (the in-memory layer expires memberships after a day).
_REJOIN_SECONDS = 600.0


NOTHING = "nothing"  # the change does not touch the screen
RELOAD = "reload"  # the screen must be read again (it shows sections the hub did not compute)
# A new screen and the frame that takes a client there, or one of the two above.
GenericOutcome = tuple[Screen, str] | str


@dataclass(frozen=True)
class GenericChange:
    """A broadcast as computed once for a process: what changed (``product_slug``'s generic deals,
    or templates when empty) and every product's generic section for each client version in use."""

    product_slug: str
    sections: GenericSections
    # (client version, screen version) -> what the change does to such a screen, filled by the
    # first connection showing it (consumers.py) and shared by the others.
    outcomes: dict[tuple[int | None, str], GenericOutcome] = field(default_factory=dict)


class LiveConnection(Protocol):
    client_version: int | None
    closing: bool
    credential: Credential  # what opened it (live_auth.py)
    channel_name: str

    def apply_generic(self, change: GenericChange) -> None: ...

    def check_deadlines(self, *, now: float, monotonic: float) -> None: ...

    def revoke(self, why: Revocation) -> None: ...


class LiveHub:
    def __init__(self) -> None:
        self.connections: set[LiveConnection] = set()
        self._channel: str | None = None
        self._start_lock = asyncio.Lock()
        self._tasks: list[asyncio.Task[None]] = []
        self._joined_at = 0.0

    async def join(self, connection: LiveConnection) -> None:
        await self._ensure_started()
        self.connections.add(connection)

    def leave(self, connection: LiveConnection) -> None:
        self.connections.discard(connection)

    async def _ensure_started(self) -> None:
        if self._channel is not None:
            return
        async with self._start_lock:
            if self._channel is not None:
                return
            layer = get_channel_layer()
            assert layer is not None, "CHANNEL_LAYERS is not configured"
            channel = await layer.new_channel("live-hub.")
            await layer.group_add(live.ALL_FEEDS_GROUP, channel)
            self._joined_at = time.monotonic()
            self._channel = channel
            loop = asyncio.get_running_loop()
            self._tasks = [loop.create_task(self._listen(channel)), loop.create_task(self._sweep())]

    async def _listen(self, channel: str) -> None:
        layer = get_channel_layer()
        assert layer is not None
        while True:
            try:
                message = await layer.receive(channel)
            except asyncio.CancelledError:
                raise
            except Exception:
                logger.exception("the live hub could not receive; retrying")
                await asyncio.sleep(1)
                continue
            if message.get("type") == live.FEED_CHANGED:
                try:
                    await self.broadcast(product_slug=str(message.get("product") or ""))
                except Exception:
                    logger.exception("live broadcast failed")

    async def broadcast(self, *, product_slug: str) -> None:
        """Compute ``product_slug``'s generic section once (every product's when empty) and hand
        it to every connection of this process."""
        if not self.connections:
            return
        client_versions = {connection.client_version for connection in self.connections}
        # Every product's, not only the changed one's: screens take all their generic sections as
        # they are now (their ``as_of`` moves with each confirming poll; consumers.py).
        sections = await database_sync_to_async(generic_sections)(product_slugs=None, client_versions=client_versions)
        change = GenericChange(product_slug=product_slug, sections=sections)
        for connection in list(self.connections):
            try:
                connection.apply_generic(change)
            except Exception:
                logger.exception("a connection could not apply a broadcast")

    async def _sweep(self) -> None:
        layer = get_channel_layer()
        while True:
            await asyncio.sleep(float(settings.LIVE_SWEEP_SECONDS))
            now, monotonic = time.time(), time.monotonic()
            for connection in list(self.connections):
                try:
                    connection.check_deadlines(now=now, monotonic=monotonic)
                except Exception:
                    logger.exception("a connection's deadlines could not be checked")
            await self._recheck()
            if layer is not None and self._channel is not None and monotonic - self._joined_at > _REJOIN_SECONDS:
                self._joined_at = monotonic
                try:
                    await layer.group_add(live.ALL_FEEDS_GROUP, self._channel)
                except Exception:
                    logger.exception("the live hub could not re-join the feeds group")

    async def _recheck(self) -> None:
        """Close the connections whose credentials no longer hold; renew the others' places."""
        connections = [connection for connection in self.connections if not connection.closing]
        if not connections:
            return
        try:
            found = await database_sync_to_async(revoked)([connection.credential for connection in connections])
        except Exception:
            logger.warning("the live connections' credentials could not be checked", exc_info=True)
            found = {}
        for connection in connections:
            why = found.get(connection.credential)
            if why is not None:
                connection.revoke(why)
        try:
            await live_sockets.renew(
                (connection.credential.user_id, connection.channel_name)
                for connection in connections
                if not connection.closing
            )
        except Exception:
            logger.warning("the live connections' places could not be renewed", exc_info=True)


_hubs: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, LiveHub] = weakref.WeakKeyDictionary()


def live_hub() -> LiveHub:
    """This event loop's hub (a server process has one loop, so one hub)."""
    loop = asyncio.get_running_loop()
    hub = _hubs.get(loop)
    if hub is None:
        hub = _hubs[loop] = LiveHub()
    return hub
