"""The warm-hit fast path for ``GET /api/v1/home/``: an ASGI app in front of Django.

The home-feed view (``api/home.py``) is the reference: it authenticates, builds the feed from
the fragment caches and stores the document it sends (``fragments/documents.py``). This app
answers the same request from that document when it can do so exactly as the view would, with
one Redis round trip and no Django request, middleware, DRF or database work:

- a plain ``GET`` of the feed path, over HTTPS where ``SECURE_SSL_REDIRECT`` asks for it, for a
  host ``ALLOWED_HOSTS`` accepts;
- a valid access token (``Authorization: Bearer``, checked by simplejwt's own ``AccessToken``:
  signature, expiry, token type); the account itself is not looked up: a user saved or deleted
  replaces their document generation (``fragments/signals.py``; changed without a signal, within
  a second: ``fragments/account_changes.py``), so a deactivated or deleted user's document is
  never served and the view refuses them;
- a valid or absent ``X-SDUI-Version``;
- a stored document for that user and client version whose generations are current and whose
  valid-until has not passed.

Anything else (a miss, a bad or missing token, a bad header, HEAD, Redis unreachable) goes to
Django unchanged, where the view answers (and stores the document for next time) or the usual
error is returned. Responses carry the view's headers, including those the middleware adds
(``response_headers`` mirrors SecurityMiddleware and XFrameOptionsMiddleware, the only ones that
touch this response); a contract test runs every home-feed test against both and compares them.
The rules and parts it shares with the plan filter's fast path are in homeservice/fast_path.py.
"""

from __future__ import annotations

import logging
import time
from typing import Any

import redis.asyncio as aioredis
from django.conf import settings
from django.core.signals import setting_changed
from django.dispatch import receiver
from django.urls import reverse

from homeservice import fast_path
from homeservice.errors import ApplicationError
from homeservice.fast_path import ASGIApp, Receive, Scope, Send

from ..client_version import HEADER, check_client_version
from ..feed_build import BuiltFeed, FeedBuilder, shared_builder
from ..fragments import account_changes, documents
from ..fragments.metrics import FAST_PATH, FAST_PATH_OUTCOMES
from .home import CACHE_CONTROL, CONTENT_TYPE, VARY, HomeFeedApi, etag_matches

logger = logging.getLogger(__name__)

_COUNTERS = {outcome: FAST_PATH.labels(outcome=outcome) for outcome in FAST_PATH_OUTCOMES}
_NEEDED = (b"host", b"authorization", HEADER.lower().encode(), b"if-none-match")


# Derived from settings once, again when a setting changes (tests).
_why_not: str | None = None  # fast_path_possible()


@receiver(setting_changed, dispatch_uid="home_fast.setting_changed")
def _forget(**kwargs: Any) -> None:
    global _why_not
    _why_not = None


def fast_path_possible() -> str:
    """Why the fast path cannot run with these settings ('' when it can)."""
    global _why_not
    if _why_not is None:
        _why_not = _why_not_possible()
    return _why_not


def _why_not_possible() -> str:
    if not settings.FEED_FAST_PATH:
        return "FEED_FAST_PATH is off"
    if not documents.enabled():
        return "the feed document cache is off (no Redis)"
    return fast_path.settings_why_not()


class HomeFeedFastPath:
    """ASGI middleware: answers warm home-feed requests, passes everything else to ``app``."""

    def __init__(self, app: ASGIApp, *, builder: FeedBuilder | None = None) -> None:
        self.app = app
        self._path: str | None = None
        self._allow: bytes | None = None
        self._redis = fast_path.RedisClients()
        self._down_until = 0.0
        self._builder = builder  # None: this process's (feed_build.shared_builder)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"] != self.path() or scope["method"] != "GET":
            await self.app(scope, receive, send)
            return
        outcome = await self._answer(scope, send)
        _COUNTERS[outcome].inc()
        if outcome not in ("hit", "not_modified", "built"):
            await self.app(scope, receive, send)

    def path(self) -> str:
        if self._path is None:
            self._path = reverse("home-feed")
        return self._path

    async def _answer(self, scope: Scope, send: Send) -> str:
        """Send the answer and say so ('hit', 'not_modified'), or say why not and send nothing."""
        if fast_path_possible() or time.monotonic() < self._down_until:
            return "pass"
        account_changes.ensure_watching()
        headers = fast_path.read_headers(scope, _NEEDED)
        if headers is None:
            return "pass"
        secure = fast_path.transport_secure(scope, headers)
        if secure is None:
            return "pass"
        user_id = fast_path.user_id(headers.get(b"authorization"))
        if user_id is None:
            return "pass"
        raw_version = headers.get(HEADER.lower().encode())
        try:
            client_version = check_client_version(None if raw_version is None else raw_version.decode("latin-1"))
        except ApplicationError:
            return "pass"
        prefix = settings.REDIS_KEY_PREFIX
        try:
            value, user_generation, shared_generation = await self._redis.get(settings.FEED_DOC_REDIS_URL).mget(
                documents.document_key(prefix, user_id, client_version),
                documents.user_generation_key(prefix, user_id),
                documents.shared_generation_key(prefix),
            )
        except (aioredis.RedisError, OSError):
            self._down_until = time.monotonic() + settings.FRAGMENT_L2_RETRY_SECONDS
            logger.warning("feed fast path: Redis failed; the view answers", exc_info=True)
            return "error"
        user_generation = user_generation if isinstance(user_generation, bytes) else None
        shared_generation = shared_generation if isinstance(shared_generation, bytes) else None
        document = documents.decode(value) if isinstance(value, bytes) else None
        if document is not None and documents.servable(
            document,
            user_generation=user_generation,
            shared_generation=shared_generation,
            now_ms=int(time.time() * 1000),
        ):
            etag, body, outcome = document.etag, document.body, "hit"
        else:
            built = await self._build(int(user_id), client_version, user_generation, shared_generation)
            if built is None:
                return "miss"
            etag, body, outcome = built.version, built.body, "built"
        reply = [
            (b"etag", f'"{etag}"'.encode()),
            (b"cache-control", CACHE_CONTROL.encode()),
            (b"vary", VARY.encode()),
            (b"allow", self.allow()),
            *fast_path.response_headers(secure=secure),
        ]
        if_none_match = headers.get(b"if-none-match")
        if if_none_match is not None and etag_matches(if_none_match.decode("latin-1"), etag):
            await fast_path.respond(send, 304, [*reply, (b"content-length", b"0")], b"")
            return "not_modified" if outcome == "hit" else outcome
        content = [(b"content-type", CONTENT_TYPE.encode()), (b"content-length", str(len(body)).encode())]
        await fast_path.respond(send, 200, [*content, *reply], body)
        return outcome

    async def _build(
        self, user_id: int, client_version: int | None, user_generation: bytes | None, shared_generation: bytes | None
    ) -> BuiltFeed | None:
        """Build the missing document here, as the view would (feed_build.py); None: the view
        answers (building is not possible with these settings, or something it needs failed)."""
        return await self.builder().build_or_none(
            user_id=user_id,
            client_version=client_version,
            user_generation=user_generation,
            shared_generation=shared_generation,
        )

    def builder(self) -> FeedBuilder:
        return self._builder or shared_builder()

    def allow(self) -> bytes:
        if self._allow is None:
            view = HomeFeedApi()
            view.head = view.get  # type: ignore[attr-defined]  # as Django's View.setup() does
            self._allow = ", ".join(view.allowed_methods).encode()
        return self._allow

    async def aclose(self) -> None:
        await self.builder().aclose()
        await self._redis.aclose()
