"""The warm-hit fast path for ``GET /api/v1/home/``: an ASGI app in front of Django.

The home-feed view (``api/home.py``) is the reference: it authenticates, builds the feed from
the fragment caches and stores the document it sends (``fragments/documents.py``). This app
answers the same request from that document when it can do so exactly as the view would, with
one Redis round trip and no Django request, middleware, DRF or database work:

- a plain ``GET`` of the feed path, over HTTPS where ``SECURE_SSL_REDIRECT`` asks for it, for a
  host ``ALLOWED_HOSTS`` accepts;
- a valid access token (``Authorization: Bearer``, checked by simplejwt's own ``AccessToken``:
  signature, expiry, token type); the account itself is not looked up: a user saved or deleted
  replaces their document generation (``fragments/signals.py``), so a deactivated or deleted
  user's document is never served and the view refuses them;
- a valid or absent ``X-SDUI-Version``;
- a stored document for that user and client version whose generations are current and whose
  valid-until has not passed.

Anything else (a miss, a bad or missing token, a bad header, HEAD, Redis unreachable) goes to
Django unchanged, where the view answers (and stores the document for next time) or the usual
error is returned. Responses carry the view's headers, including those the middleware adds
(``response_headers`` mirrors SecurityMiddleware and XFrameOptionsMiddleware, the only ones that
touch this response); a contract test runs every home-feed test against both and compares them.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Mapping
from datetime import timedelta
from typing import Any

import redis.asyncio as aioredis
from cachetools import LRUCache
from django.conf import settings
from django.core.signals import setting_changed
from django.dispatch import receiver
from django.http.request import split_domain_port, validate_host
from django.urls import reverse
from rest_framework_simplejwt.exceptions import TokenError
from rest_framework_simplejwt.settings import api_settings as jwt_settings
from rest_framework_simplejwt.tokens import AccessToken

from homeservice.errors import ApplicationError

from ..client_version import HEADER, check_client_version
from ..fragments import documents
from ..fragments.metrics import FAST_PATH, FAST_PATH_OUTCOMES
from .home import CACHE_CONTROL, CONTENT_TYPE, VARY, HomeFeedApi, etag_matches

logger = logging.getLogger(__name__)

Scope = dict[str, Any]
Receive = Callable[[], Awaitable[Mapping[str, Any]]]
Send = Callable[[Mapping[str, Any]], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

# The middleware this path knows the effect of on the feed's response; with any other in
# MIDDLEWARE the fast path stands aside (it could not answer as the view would).
KNOWN_MIDDLEWARE = frozenset(
    {
        "django.middleware.security.SecurityMiddleware",
        "whitenoise.middleware.WhiteNoiseMiddleware",
        "django.contrib.sessions.middleware.SessionMiddleware",
        "django.middleware.common.CommonMiddleware",
        "django.middleware.csrf.CsrfViewMiddleware",
        "django.contrib.auth.middleware.AuthenticationMiddleware",
        "django.contrib.messages.middleware.MessageMiddleware",
        "django.middleware.clickjacking.XFrameOptionsMiddleware",
    }
)
_COUNTERS = {outcome: FAST_PATH.labels(outcome=outcome) for outcome in FAST_PATH_OUTCOMES}
_NEEDED = (b"host", b"authorization", HEADER.lower().encode(), b"if-none-match")


# Derived from settings once, again when a setting changes (tests).
_why_not: str | None = None  # fast_path_possible()
_headers: dict[bool, list[tuple[bytes, bytes]]] = {}  # response_headers() by ``secure``


@receiver(setting_changed, dispatch_uid="home_fast.setting_changed")
def _forget(**kwargs: Any) -> None:
    global _why_not
    _why_not = None
    _headers.clear()


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
    unknown = set(settings.MIDDLEWARE) - KNOWN_MIDDLEWARE
    if unknown:
        return f"middleware it does not know: {', '.join(sorted(unknown))}"
    if (
        [c if isinstance(c, str) else f"{c.__module__}.{c.__name__}" for c in jwt_settings.AUTH_TOKEN_CLASSES]
        != ["rest_framework_simplejwt.tokens.AccessToken"]
        or jwt_settings.CHECK_REVOKE_TOKEN
        or jwt_settings.USER_ID_FIELD != "id"
        or settings.USE_X_FORWARDED_HOST
    ):
        return "authentication or host settings it does not reproduce"
    return ""


def response_headers(*, secure: bool) -> list[tuple[bytes, bytes]]:
    """Headers the middleware adds to the view's response (besides the view's own)."""
    if secure not in _headers:
        _headers[secure] = _middleware_headers(secure=secure)
    return _headers[secure]


def _middleware_headers(*, secure: bool) -> list[tuple[bytes, bytes]]:
    headers: list[tuple[bytes, bytes]] = []
    if "django.middleware.clickjacking.XFrameOptionsMiddleware" in settings.MIDDLEWARE:
        headers.append((b"x-frame-options", settings.X_FRAME_OPTIONS.upper().encode()))
    if "django.middleware.security.SecurityMiddleware" in settings.MIDDLEWARE:
        if settings.SECURE_HSTS_SECONDS and secure:
            hsts = f"max-age={settings.SECURE_HSTS_SECONDS}"
            if settings.SECURE_HSTS_INCLUDE_SUBDOMAINS:
                hsts += "; includeSubDomains"
            if settings.SECURE_HSTS_PRELOAD:
                hsts += "; preload"
            headers.append((b"strict-transport-security", hsts.encode()))
        if settings.SECURE_CONTENT_TYPE_NOSNIFF:
            headers.append((b"x-content-type-options", b"nosniff"))
        policy = settings.SECURE_REFERRER_POLICY
        if policy:
            value = policy if isinstance(policy, str) else ",".join(policy)
            headers.append((b"referrer-policy", value.encode()))
        if settings.SECURE_CROSS_ORIGIN_OPENER_POLICY:
            headers.append((b"cross-origin-opener-policy", settings.SECURE_CROSS_ORIGIN_OPENER_POLICY.encode()))
    return headers


def _is_secure(scope: Scope, headers: dict[bytes, bytes]) -> bool:
    """As Django's ``request.is_secure()``."""
    if settings.SECURE_PROXY_SSL_HEADER:
        meta_name, secure_value = settings.SECURE_PROXY_SSL_HEADER
        name = meta_name.removeprefix("HTTP_").lower().replace("_", "-").encode()
        value = headers.get(name)
        if value is not None:
            return bool(value.decode("latin-1").split(",", 1)[0].strip() == secure_value)
    return bool(scope.get("scheme") == "https")


def _host_allowed(host: bytes | None) -> bool:
    if not host:
        return False
    domain, _port = split_domain_port(host.decode("latin-1"))
    allowed = settings.ALLOWED_HOSTS
    if settings.DEBUG and not allowed:
        allowed = [".localhost", "127.0.0.1", "[::1]"]
    return bool(domain) and validate_host(domain, allowed)


class HomeFeedFastPath:
    """ASGI middleware: answers warm home-feed requests, passes everything else to ``app``."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app
        self._path: str | None = None
        self._allow: bytes | None = None
        self._redis: tuple[asyncio.AbstractEventLoop, aioredis.Redis] | None = None
        self._down_until = 0.0

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"] != self.path() or scope["method"] != "GET":
            await self.app(scope, receive, send)
            return
        outcome = await self._answer(scope, send)
        _COUNTERS[outcome].inc()
        if outcome not in ("hit", "not_modified"):
            await self.app(scope, receive, send)

    def path(self) -> str:
        if self._path is None:
            self._path = reverse("home-feed")
        return self._path

    async def _answer(self, scope: Scope, send: Send) -> str:
        """Send the answer and say so ('hit', 'not_modified'), or say why not and send nothing."""
        if fast_path_possible() or time.monotonic() < self._down_until:
            return "pass"
        headers: dict[bytes, bytes] = {}
        for name, value in scope["headers"]:
            if name in _NEEDED and name in headers:
                return "pass"  # a repeated header: Django's reading of it decides
            headers[name] = value
        secure = _is_secure(scope, headers)
        if (settings.SECURE_SSL_REDIRECT and not secure) or not _host_allowed(headers.get(b"host")):
            return "pass"
        user_id = _user_id(headers.get(b"authorization"))
        if user_id is None:
            return "pass"
        raw_version = headers.get(HEADER.lower().encode())
        try:
            client_version = check_client_version(None if raw_version is None else raw_version.decode("latin-1"))
        except ApplicationError:
            return "pass"
        prefix = settings.REDIS_KEY_PREFIX
        try:
            value, user_generation, shared_generation = await self._client().mget(
                documents.document_key(prefix, user_id, client_version),
                documents.user_generation_key(prefix, user_id),
                documents.shared_generation_key(prefix),
            )
        except (aioredis.RedisError, OSError):
            self._down_until = time.monotonic() + settings.FRAGMENT_L2_RETRY_SECONDS
            logger.warning("feed fast path: Redis failed; the view answers", exc_info=True)
            return "error"
        document = documents.decode(value) if isinstance(value, bytes) else None
        if document is None or not documents.servable(
            document,
            user_generation=user_generation if isinstance(user_generation, bytes) else None,
            shared_generation=shared_generation if isinstance(shared_generation, bytes) else None,
            now_ms=int(time.time() * 1000),
        ):
            return "miss"
        reply = [
            (b"etag", f'"{document.etag}"'.encode()),
            (b"cache-control", CACHE_CONTROL.encode()),
            (b"vary", VARY.encode()),
            (b"allow", self.allow()),
            *response_headers(secure=secure),
        ]
        if_none_match = headers.get(b"if-none-match")
        if if_none_match is not None and etag_matches(if_none_match.decode("latin-1"), document.etag):
            await _respond(send, 304, [*reply, (b"content-length", b"0")], b"")
            return "not_modified"
        content = [(b"content-type", CONTENT_TYPE.encode()), (b"content-length", str(len(document.body)).encode())]
        await _respond(send, 200, [*content, *reply], document.body)
        return "hit"

    def allow(self) -> bytes:
        if self._allow is None:
            view = HomeFeedApi()
            view.head = view.get  # type: ignore[attr-defined]  # as Django's View.setup() does
            self._allow = ", ".join(view.allowed_methods).encode()
        return self._allow

    def _client(self) -> aioredis.Redis:
        loop = asyncio.get_running_loop()
        if self._redis is None or self._redis[0] is not loop:
            pool = aioredis.BlockingConnectionPool.from_url(
                settings.FEED_DOC_REDIS_URL,
                max_connections=256,
                timeout=1,
                socket_connect_timeout=1,
                socket_timeout=1,
            )
            self._redis = (loop, aioredis.Redis(connection_pool=pool))
        return self._redis[1]

    async def aclose(self) -> None:
        if self._redis is not None:
            await self._redis[1].aclose()
            self._redis = None


# Authorization headers already checked: header -> (user id, expiry as a POSIX time). A token's
# signature and claims never change, so only its expiry needs checking again; bounded, least
# recently used first out. The signing key cannot change without a restart.
_checked: LRUCache[bytes, tuple[str, float]] = LRUCache(maxsize=10_000)


def _leeway_seconds() -> float:
    leeway = jwt_settings.LEEWAY
    return leeway.total_seconds() if isinstance(leeway, timedelta) else float(leeway)


def _user_id(authorization: bytes | None) -> str | None:
    """The user id of a valid access token in an ``Authorization`` header, as simplejwt's
    ``JWTAuthentication`` reads it (the account is not looked up)."""
    if not authorization:
        return None
    checked = _checked.get(authorization)
    if checked is not None:
        user_id, expires = checked
        if time.time() < expires + _leeway_seconds():
            return user_id
        del _checked[authorization]
        return None
    parts = authorization.split()
    if len(parts) != 2 or parts[0].decode("latin-1") not in jwt_settings.AUTH_HEADER_TYPES:
        return None
    try:
        token = AccessToken(parts[1].decode("latin-1"))  # type: ignore[arg-type]
    except (TokenError, UnicodeDecodeError):
        return None
    user_id, expires = token.get(jwt_settings.USER_ID_CLAIM), token.get("exp")
    if isinstance(user_id, bool) or not isinstance(user_id, int | str) or not str(user_id).isdigit():
        return None
    if isinstance(expires, bool) or not isinstance(expires, int | float):
        return None
    _checked[authorization] = (str(int(user_id)), float(expires))
    return str(int(user_id))


async def _respond(send: Send, status: int, headers: list[tuple[bytes, bytes]], body: bytes) -> None:
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})
