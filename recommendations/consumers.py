"""The WebSocket consumer for ``/ws/home/`` (protocol: docs/websocket.md, live_protocol.py).

A thin adapter. It authenticates (ws_auth.py put the user in the scope), joins the user's group
and this process's broadcast hub (live_hub.py), sends the feed from the selectors, and keeps the
client's *screen* (live_screen.py) so that a change costs only the changed product's section:

- ``feed.changed`` for this user (the user's group): the user's feed is built on the loop by the
  process's builder (feed_build.py; with SQLite, the product's section is read through the view's
  code, live_selectors.py) and, if the screen changes, a ``feed.updated`` frame is queued;
- a generic-deals refresh or template publish arrives through the hub, computed once per process
  (``apply_generic``);
- ``resume`` answers nothing, the changed sections, or a snapshot;
- ``plans.filter`` is answered by the plan finder (recommendations/plans/services.py), and its refined answer,
  computed by a Celery task, arrives through the user's group (``plans_refined``).

Every frame goes through the connection's bounded outbox (live_outbox.py), so a slow client is
dropped (4413) without delaying anyone. Incoming messages are rate limited per connection
(live_rate_limit.py; 4429), and a user holds at most ``LIVE_MAX_SOCKETS_PER_USER`` sockets
(live_sockets.py; 4429). The hub's timer closes connections whose credential expired or no longer
holds (4401: live_auth.py) or that were silent too long (4408). A handshake that needs Redis while
it is unreachable is answered with 1013. On server shutdown uvicorn closes every socket with 1012.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar
from urllib.parse import parse_qs

import redis
from channels.consumer import get_handler_name
from channels.db import database_sync_to_async
from channels.generic.websocket import AsyncWebsocketConsumer
from django.conf import settings

from homeservice.errors import ApplicationError
from recommendations.plans.services import plans_filter

from . import live, live_sockets
from .client_version import client_version_from_scope
from .feed import feed_version
from .feed_build import build_possible, shared_builder
from .live_auth import Credential, Revocation
from .live_hub import NOTHING, RELOAD, GenericChange, GenericOutcome, live_hub
from .live_outbox import Outbox
from .live_protocol import (
    CLOSE_FLOOD,
    CLOSE_IDLE,
    CLOSE_INVALID_CLIENT_VERSION,
    CLOSE_SLOW_CLIENT,
    CLOSE_TRY_AGAIN_LATER,
    CLOSE_UNAUTHENTICATED,
    IDLE_TIMEOUT,
    PONG_FRAME,
    RATE_LIMITED,
    TOKEN_EXPIRED,
    TOO_MANY_CONNECTIONS,
    UNAVAILABLE,
    ProtocolError,
    encode,
    error_frame,
    parse_client_message,
    snapshot_frame,
    updated_frame,
)
from .live_rate_limit import TokenBucket
from .live_screen import Change, Screen, change_between, change_from_refs, refreshed_screen
from .live_selectors import user_product_section
from .selectors import home_feed
from .ws_auth import UNAVAILABLE as SCOPE_UNAVAILABLE

logger = logging.getLogger(__name__)

# Kept importable under their old names (tests and docs refer to them).
__all__ = ["CLOSE_INVALID_CLIENT_VERSION", "CLOSE_UNAUTHENTICATED", "HomeConsumer"]

# At most this many connections of one process reload their whole feed at once (template publishes).
_RELOADS = 8
_reload_slots: dict[int, asyncio.Semaphore] = {}


def _reload_slot() -> asyncio.Semaphore:
    loop = asyncio.get_running_loop()
    slot = _reload_slots.get(id(loop))
    if slot is None:
        slot = _reload_slots[id(loop)] = asyncio.Semaphore(_RELOADS)
    return slot


# A read that raced with a change to the screen is done again, at most this many times.
_MAX_READS = 5
# ``/ws/home/?resume=1``: the client holds a feed and sends ``resume`` first; no snapshot on connect.
RESUME_PARAMETER = "resume"
# What the channel layer and the socket count raise while their Redis is unreachable.
_REDIS_DOWN = (redis.RedisError, OSError)
_UNAVAILABLE_MESSAGE = "Live updates are unavailable for a moment (Redis cannot be reached): reconnect shortly."

T = TypeVar("T")


class HomeConsumer(AsyncWebsocketConsumer):
    client_version: int | None = None  # the catalogue version the client renders; None: the newest
    screen: Screen | None = None  # what the client shows (None until the first snapshot or resume)
    closing = False
    # Counts changes to the screen and broadcasts seen: a read of the database that saw it move
    # may predate a change already applied, so it is done again (``_read``).
    generation = 0

    started = False  # connect() ran (a Redis error before it is answered here, not raised)

    # --- lifecycle -------------------------------------------------------------------------
    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        """Channels' consumer, except that a channel layer that cannot give the socket a channel
        (Redis unreachable: that happens before ``connect``) answers 1013 instead of failing the
        handshake with 500."""
        try:
            await super().__call__(scope, receive, send)
        except _REDIS_DOWN:
            if self.started:
                raise
            logger.warning("a live handshake got no channel: Redis is unreachable", exc_info=True)
            await _answer_unavailable(receive, send)

    async def dispatch(self, message: dict[str, Any]) -> None:
        """Channels' dispatch without its ``aclose_old_connections`` before every message: that is
        a trip to a worker thread per message (about a tenth of a live push's cost), and this
        consumer reads the database either on the loop through the builder's own pool or through
        ``database_sync_to_async``, which tidies Django's connections around each call itself."""
        handler = getattr(self, get_handler_name(message), None)
        if handler is None:
            raise ValueError(f"No handler for message type {message['type']}")
        await handler(message)

    async def connect(self) -> None:
        self.started = True
        if self.scope.get(SCOPE_UNAVAILABLE):
            await self._refuse(code=CLOSE_TRY_AGAIN_LATER, error=(UNAVAILABLE, _UNAVAILABLE_MESSAGE))
            return
        user = self.scope.get("user")
        if user is None or not user.is_authenticated:
            await self.close(code=CLOSE_UNAUTHENTICATED)
            return
        try:
            self.client_version = client_version_from_scope(self.scope)
        except ApplicationError as exc:
            await self._refuse(code=CLOSE_INVALID_CLIENT_VERSION, error=(exc.code, exc.message))
            return
        self.user = user
        session = self.scope.get("session") if self.scope.get("auth_method") == "session" else None
        self.credential = Credential(user_id=user.pk, session_key=getattr(session, "session_key", None))
        try:
            placed = await live_sockets.claim(user_id=user.pk, socket=self.channel_name)
        except _REDIS_DOWN:
            logger.warning("a live handshake could not be counted: Redis is unreachable", exc_info=True)
            await self._refuse(code=CLOSE_TRY_AGAIN_LATER, error=(UNAVAILABLE, _UNAVAILABLE_MESSAGE))
            return
        if not placed:
            limit = live_sockets.limit()
            message = f"At most {limit} live connections per user: close one before opening another."
            await self._refuse(code=CLOSE_FLOOD, error=(TOO_MANY_CONNECTIONS, message))
            return
        self.placed = True
        self.auth_expires_at: float | None = self.scope.get("auth_expires_at")
        self.last_heard = time.monotonic()
        self.bucket = TokenBucket(
            rate=float(settings.LIVE_CLIENT_MESSAGES_PER_SECOND), burst=float(settings.LIVE_CLIENT_BURST)
        )
        self.outbox = Outbox(self._send_text, max_bytes=int(settings.LIVE_OUTBOX_MAX_BYTES), on_overflow=self._too_slow)
        self.hub = live_hub()
        try:
            await self.channel_layer.group_add(live.user_group(user.pk), self.channel_name)
            self.user_group = live.user_group(user.pk)
            await self.hub.join(self)
        except _REDIS_DOWN:
            logger.warning("a live handshake could not join its groups: Redis is unreachable", exc_info=True)
            self.hub.leave(self)
            await self._refuse(code=CLOSE_TRY_AGAIN_LATER, error=(UNAVAILABLE, _UNAVAILABLE_MESSAGE))
            return
        await self.accept()
        if _query_flag(self.scope, RESUME_PARAMETER):
            return  # the client's ``resume`` decides what it needs
        feed = await self._read(self._load_feed)
        self._set_screen(Screen.of_feed(feed))
        self.outbox.put(snapshot_frame(feed))

    async def _refuse(self, *, code: int, error: tuple[str, str]) -> None:
        """Accept only to say why (a browser cannot read a refused handshake), then close."""
        await self.accept()
        await self.send(text_data=error_frame(*error))
        await self.close(code=code)

    async def disconnect(self, code: int) -> None:
        if hasattr(self, "user_group"):
            self.hub.leave(self)
            self.outbox.close()
            try:
                await self.channel_layer.group_discard(self.user_group, self.channel_name)
            except _REDIS_DOWN:
                logger.warning("a live connection could not leave its group", exc_info=True)
        if getattr(self, "placed", False):
            self.placed = False
            try:
                await live_sockets.release(user_id=self.user.pk, socket=self.channel_name)
            except _REDIS_DOWN:
                logger.warning("a live connection's place could not be freed (its lease will end)", exc_info=True)

    async def _send_text(self, frame: str) -> None:
        await self.send(text_data=frame)

    def _drop(self, *, code: int, error: tuple[str, str] | None = None) -> None:
        """Close the connection (after the error message, if any); nothing more is sent."""
        if self.closing:
            return
        self.closing = True
        self.hub.leave(self)

        async def close() -> None:
            if error is not None:
                self.outbox.put(error_frame(*error))
                await self.outbox.flush()
            self.outbox.close()
            await self.close(code=code)

        asyncio.get_running_loop().create_task(close())

    def _too_slow(self) -> None:
        logger.info("dropping a slow WebSocket client (user %s)", self.user.pk)
        self.closing = True
        self.hub.leave(self)
        self.outbox.close()
        # The socket may be blocked on the client; the close is queued behind it, and uvicorn's
        # protocol-level ping timeout ends a connection that never reads again.
        asyncio.get_running_loop().create_task(self.close(code=CLOSE_SLOW_CLIENT))

    def revoke(self, why: Revocation) -> None:
        """Called by the hub's timer: the credential that opened the socket no longer holds."""
        self._drop(code=CLOSE_UNAUTHENTICATED, error=why)

    def check_deadlines(self, *, now: float, monotonic: float) -> None:
        """Called by the hub's timer: close on an expired credential or a silent client."""
        if self.closing:
            return
        if self.auth_expires_at is not None and now >= self.auth_expires_at:
            self._drop(
                code=CLOSE_UNAUTHENTICATED,
                error=(TOKEN_EXPIRED, "The access token expired: refresh it and reconnect."),
            )
        elif monotonic - self.last_heard > float(settings.LIVE_IDLE_TIMEOUT_SECONDS):
            self._drop(
                code=CLOSE_IDLE,
                error=(IDLE_TIMEOUT, f"Nothing received for {settings.LIVE_IDLE_TIMEOUT_SECONDS} s: send 'ping'."),
            )

    # --- reads -----------------------------------------------------------------------------
    async def _read(self, read: Callable[[], Awaitable[T]]) -> T:
        """``read()`` done again while the screen moved during it (a broadcast was applied or
        skipped meanwhile), so an older read never overwrites a newer change."""
        for _ in range(_MAX_READS):
            seen = self.generation
            result = await read()
            if self.generation == seen:
                return result
        return result

    def _set_screen(self, screen: Screen) -> None:
        self.screen = screen
        self.generation += 1

    async def _load_feed(self) -> dict[str, Any]:
        """The user's feed as ``GET /api/v1/home/`` answers it now: built on this loop by the
        process's builder (one statement, the fragment caches; feed_build.py) where it can, else
        through the view's code in a thread. Not kept as a document: the worker's warm-up after a
        change does that for the newest catalogue, and a request builds its own."""
        built = await shared_builder().build_or_none(
            user_id=self.user.pk, client_version=self.client_version, keep=False
        )
        if built is not None:
            return built.feed
        return await self._load_feed_in_thread()

    @database_sync_to_async
    def _load_feed_in_thread(self) -> dict[str, Any]:
        return home_feed(user=self.user, client_version=self.client_version)

    @database_sync_to_async
    def _load_product_section(self, product_slug: str) -> Any:
        return user_product_section(user=self.user, product_slug=product_slug, client_version=self.client_version)

    # --- sending ---------------------------------------------------------------------------
    def _push(self, change: Change) -> None:
        """Queue ``feed.updated`` for ``change`` and take its screen as the client's."""
        if self.closing:
            return
        self._set_screen(change.screen)
        self.outbox.put(_frame(change))

    # --- client -> server ------------------------------------------------------------------
    async def receive(self, text_data: str | None = None, bytes_data: bytes | None = None) -> None:
        if self.closing:
            return
        self.last_heard = time.monotonic()
        if not self.bucket.take():
            self._drop(
                code=CLOSE_FLOOD,
                error=(RATE_LIMITED, f"More than {settings.LIVE_CLIENT_MESSAGES_PER_SECOND} messages per second."),
            )
            return
        try:
            message = parse_client_message(text_data, bytes_data)
        except ProtocolError as exc:
            self.outbox.put(error_frame(exc.code, exc.message))
            return
        kind = message["type"]
        if kind == "ping":
            self.outbox.put(PONG_FRAME)
        elif kind == "resume":
            await self._resume(message["version"], message.get("sections"))
        elif kind == "plans.filter":
            await self._plans_filter(message)

    async def _plans_filter(self, message: dict[str, Any]) -> None:
        """The plan finder's synchronous answer (recommendations/plans/services.py), or an ``error`` naming the
        bad answers; the refined answer follows through the user's group (``plans_refined``)."""
        try:
            answer = await database_sync_to_async(plans_filter)(
                user_id=self.user.pk, answers=message["answers"], request_id=message.get("request_id")
            )
        except ApplicationError as exc:
            frame: dict[str, Any] = {"type": "error", "code": exc.code, "message": exc.message, "details": exc.details}
            if "request_id" in message:
                frame["request_id"] = message["request_id"]
            self.outbox.put(encode(frame))
            return
        self.outbox.put(encode({"type": "recommendations.updated", **answer}))

    async def _resume(self, version: str, refs: list[dict[str, Any]] | None) -> None:
        feed = await self._read(self._load_feed)
        current = Screen.of_feed(feed)
        held = self.screen
        self._set_screen(current)
        if version == current.version:
            return
        change = None
        if held is not None and version == held.version:
            change = change_between(held, current)
        elif refs is not None and feed_version(refs) == version:
            change = change_from_refs(refs, current)
        if change is not None:
            self._push(change)
        else:
            self.outbox.put(snapshot_frame(feed))

    # --- channel layer -> client -----------------------------------------------------------
    async def feed_changed(self, event: dict[str, Any]) -> None:
        """This user's feed changed: ``product``'s section, or anything when empty."""
        if self.closing or self.screen is None:
            return
        product = str(event.get("product") or "")
        if product and build_possible():
            # No builder here (SQLite): only the product's section, through the view's code.
            result = await self._read(lambda: self._load_product_section(product))
            assert self.screen is not None
            new = refreshed_screen(
                self.screen,
                product_order=result.product_order,
                generic=result.generic,
                replace={product: result.section},
            )
        else:
            # Built on this loop, the whole feed costs less than one section through the view's
            # code: one statement, the sections that did not change from L1.
            new = Screen.of_feed(await self._read(self._load_feed))
        assert self.screen is not None
        change = change_between(self.screen, new)
        if change is not None:
            self._push(change)

    async def plans_refined(self, event: dict[str, Any]) -> None:
        """A refined plan finder answer for this user (live.plans_refined): relayed as it is."""
        if not self.closing:
            self.outbox.put(encode(event["message"]))

    def apply_generic(self, change: GenericChange) -> None:
        """A broadcast from the hub: apply it if this screen shows the generic sections it changed.

        What a screen becomes depends only on the screen (its version), the client version and
        the change, so it is worked out once per distinct screen and shared (``change.outcomes``):
        the many connections that show the same generic sections cost a lookup and a queued frame.
        """
        self.generation += 1
        screen = self.screen
        if self.closing or screen is None:
            return
        key = (self.client_version, screen.version)
        outcome = change.outcomes.get(key)
        if outcome is None:
            outcome = change.outcomes[key] = _generic_outcome(screen, change, self.client_version)
        if outcome == RELOAD:
            asyncio.get_running_loop().create_task(self._reload())
        elif isinstance(outcome, tuple):
            new_screen, frame = outcome
            self._set_screen(new_screen)
            self.outbox.put(frame)

    async def _reload(self) -> None:
        async with _reload_slot():
            if self.closing or self.screen is None:
                return
            new = Screen.of_feed(await self._read(self._load_feed))
            assert self.screen is not None
            change = change_between(self.screen, new)
            if change is not None:
                self._push(change)


async def _answer_unavailable(receive: Any, send: Any) -> None:
    """Accept the handshake only to say that it cannot be served now, and close it with 1013."""
    message = await receive()
    if message.get("type") != "websocket.connect":
        return
    await send({"type": "websocket.accept"})
    await send({"type": "websocket.send", "text": error_frame(UNAVAILABLE, _UNAVAILABLE_MESSAGE)})
    await send({"type": "websocket.close", "code": CLOSE_TRY_AGAIN_LATER})


def _query_flag(scope: dict[str, Any], name: str) -> bool:
    values = parse_qs((scope.get("query_string") or b"").decode("latin-1")).get(name) or [""]
    return values[-1].lower() in ("1", "true", "yes")


def _frame(change: Change) -> str:
    return updated_frame(
        version=change.screen.version,
        sections_json=encode(change.changed),
        removed=change.removed,
        order=change.order,
    )


def _generic_outcome(screen: Screen, change: GenericChange, client_version: int | None) -> GenericOutcome:
    """What a broadcast does to ``screen``: nothing, a reload, or a new screen and its frame.

    Every generic section the screen shows is refreshed, not only the changed product's: a
    generic section's ``as_of`` moves with each poll that confirms its deals (unannounced), and
    the screen must equal the feed the REST API serves now. Sections of the user's own offers
    stay, except after a template change, which may change them too: the screen is read again.
    """
    sections = change.sections
    if not change.product_slug and screen.shows_personalised():
        return RELOAD
    generic = {slug: sections.sections.get((client_version, slug)) for slug in sections.product_order}
    diff = change_between(screen, refreshed_screen(screen, product_order=sections.product_order, generic=generic))
    return NOTHING if diff is None else (diff.screen, _frame(diff))
