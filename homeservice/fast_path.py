"""What the ASGI fast paths in front of Django share (recommendations/api/home_fast.py for
``GET /api/v1/home/``, recommendations/plans/filter_fast.py for ``POST /api/v1/plans/filter/``).

A fast path answers a request before Django only when it can answer exactly as the view would,
and hands everything else to Django unchanged. The rules that decide that, and the parts of the
answer that do not depend on the endpoint, are here:

- ``settings_why_not``: settings under which no fast path can reproduce Django (middleware whose
  effect it does not know, other token classes, revocation checks, forwarded hosts);
- ``read_headers``, ``transport_secure``: the host must be one ``ALLOWED_HOSTS`` accepts, and
  the request must be over HTTPS where ``SECURE_SSL_REDIRECT`` asks for it (as Django reads it,
  including ``SECURE_PROXY_SSL_HEADER``); a repeated header of interest passes to Django;
- ``bearer_token``: the token of an ``Authorization`` header, read by simplejwt's own rule (the
  WebSocket handshake uses it too, so a header refused over HTTP opens no socket);
- ``user_id``: the user of a valid access token, checked by simplejwt's own ``AccessToken``
  (signature, expiry, token type), remembered in a bounded LRU by ``Authorization`` header; the
  account is not looked up (each fast path says how it knows the account is still valid: the
  user's feed-document generation, replaced when the account changes, with or without a signal,
  recommendations/fragments/account_changes.py). The LRU holds only what the token itself says,
  which no account change alters, so it needs no revocation of its own;
- ``response_headers``: the headers SecurityMiddleware and XFrameOptionsMiddleware add;
- ``respond`` and ``RedisClients`` (one asyncio pool per event loop and URL).
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncGenerator, Awaitable, Callable, Coroutine, Iterable, Mapping
from datetime import timedelta
from functools import cache
from typing import Any, cast

import redis.asyncio as aioredis
from cachetools import LRUCache
from django.conf import settings
from django.core.signals import setting_changed
from django.dispatch import receiver
from django.http.request import split_domain_port, validate_host
from rest_framework_simplejwt.authentication import JWTAuthentication
from rest_framework_simplejwt.exceptions import AuthenticationFailed, TokenError
from rest_framework_simplejwt.settings import api_settings as jwt_settings
from rest_framework_simplejwt.tokens import AccessToken

Scope = dict[str, Any]
Receive = Callable[[], Awaitable[Mapping[str, Any]]]
Send = Callable[[Mapping[str, Any]], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

# The middleware whose effect on these responses the fast paths know; with any other in
# MIDDLEWARE they stand aside (they could not answer as the view would).
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
        # Changes only the answer to a request that called authenticate() (a login): none of theirs.
        "axes.middleware.AxesMiddleware",
    }
)

_headers: dict[bool, list[tuple[bytes, bytes]]] = {}  # response_headers() by ``secure``


@receiver(setting_changed, dispatch_uid="fast_path.setting_changed")
def _forget(**kwargs: Any) -> None:
    _headers.clear()


def settings_why_not() -> str:
    """Why no fast path can reproduce Django with these settings ('' when one can)."""
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
    """Headers the middleware adds to a view's response (besides the view's own)."""
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


def read_headers(scope: Scope, needed: Iterable[bytes]) -> dict[bytes, bytes] | None:
    """The request's headers by (lower-case) name; None when one of ``needed`` is repeated
    (Django's reading of it decides, so the request goes there)."""
    wanted = frozenset(needed)
    headers: dict[bytes, bytes] = {}
    for name, value in scope["headers"]:
        if name in wanted and name in headers:
            return None
        headers[name] = value
    return headers


def transport_secure(scope: Scope, headers: Mapping[bytes, bytes]) -> bool | None:
    """Whether the request is secure as Django sees it; None when Django would not serve it as
    is (a host ``ALLOWED_HOSTS`` refuses, or plain HTTP under ``SECURE_SSL_REDIRECT``)."""
    secure = _is_secure(scope, headers)
    if (settings.SECURE_SSL_REDIRECT and not secure) or not _host_allowed(headers.get(b"host")):
        return None
    return secure


def _is_secure(scope: Scope, headers: Mapping[bytes, bytes]) -> bool:
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


# Authorization headers already checked: header -> (user id, expiry as a POSIX time). A token's
# signature and claims never change, so only its expiry needs checking again; bounded, least
# recently used first out. The signing key cannot change without a restart.
_checked: LRUCache[bytes, tuple[str, float]] = LRUCache(maxsize=10_000)


def _leeway_seconds() -> float:
    leeway = jwt_settings.LEEWAY
    return leeway.total_seconds() if isinstance(leeway, timedelta) else float(leeway)


def bearer_token(authorization: bytes) -> bytes | None:
    """The token of an ``Authorization`` header as simplejwt's ``JWTAuthentication`` reads it
    over HTTP (its header types, case and all; exactly two whitespace-separated parts); None when
    that authentication would not accept the header. The HTTP fast paths and the WebSocket
    handshake (recommendations/ws_auth.py) use this one rule."""
    try:
        return _header_reader().get_raw_token(authorization)
    except AuthenticationFailed:
        return None


@cache
def _header_reader() -> JWTAuthentication:
    return JWTAuthentication()


def user_id(authorization: bytes | None) -> str | None:
    """The user id of a valid access token in an ``Authorization`` header, as simplejwt's
    ``JWTAuthentication`` reads it (the account is not looked up)."""
    if not authorization:
        return None
    checked = _checked.get(authorization)
    if checked is not None:
        found, expires = checked
        if time.time() < expires + _leeway_seconds():
            return found
        del _checked[authorization]
        return None
    raw = bearer_token(authorization)
    if raw is None:
        return None
    try:
        token = AccessToken(raw.decode("latin-1"))  # type: ignore[arg-type]
    except (TokenError, UnicodeDecodeError):
        return None
    claimed, expires = token.get(jwt_settings.USER_ID_CLAIM), token.get("exp")
    if isinstance(claimed, bool) or not isinstance(claimed, int | str) or not str(claimed).isdigit():
        return None
    if isinstance(expires, bool) or not isinstance(expires, int | float):
        return None
    _checked[authorization] = (str(int(claimed)), float(expires))
    return str(int(claimed))


async def respond(send: Send, status: int, headers: list[tuple[bytes, bytes]], body: bytes) -> None:
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


class LoopLifetime:
    """Closes resources bound to an event loop when that loop shuts down.

    ``asyncio.run``, asgiref's ``async_to_sync`` and uvicorn finalise the loop's async generators
    before closing it; a generator suspended here runs ``aclose`` then. So a process-wide object
    (the feed's builder, used by the fast path and by every consumer) can keep a pool per loop
    without one that outlives its loop (tests run a loop per test).
    """

    def __init__(self) -> None:
        self._guards: dict[int, tuple[asyncio.AbstractEventLoop, AsyncGenerator[None, None]]] = {}

    def bind(self, aclose: Callable[[], Awaitable[None]]) -> None:
        """Call ``aclose`` when the running loop shuts down (call from code the loop runs)."""
        loop = asyncio.get_running_loop()
        for key, (other, _) in list(self._guards.items()):
            if other.is_closed():
                del self._guards[key]

        async def guard() -> AsyncGenerator[None, None]:
            try:
                yield
            finally:
                await aclose()

        running = guard()
        step = cast(Coroutine[Any, Any, None], running.__anext__())  # the loop's hook registers it
        with contextlib.suppress(StopIteration):
            step.send(None)  # runs it to its yield, where it waits for the loop's shutdown
        self._guards[id(running)] = (loop, running)  # held: the loop only keeps a weak reference

    async def aclose(self) -> None:
        """Close now what was bound to the running loop (each ``aclose`` runs once)."""
        loop = asyncio.get_running_loop()
        for key, (other, running) in list(self._guards.items()):
            if other is loop:
                del self._guards[key]
                await running.aclose()


class RedisClients:
    """asyncio Redis clients by URL, for the running event loop (a new loop gets new ones, and
    they close when their loop shuts down)."""

    def __init__(self) -> None:
        self._loop: asyncio.AbstractEventLoop | None = None
        self._clients: dict[str, aioredis.Redis] = {}
        self._lifetime = LoopLifetime()

    def get(self, url: str) -> aioredis.Redis:
        loop = asyncio.get_running_loop()
        if self._loop is not loop:
            self._loop, self._clients = loop, {}
        client = self._clients.get(url)
        if client is None:
            pool = aioredis.BlockingConnectionPool.from_url(
                url, max_connections=256, timeout=1, socket_connect_timeout=1, socket_timeout=1
            )
            client = self._clients[url] = aioredis.Redis(connection_pool=pool)
            self._lifetime.bind(client.aclose)
        return client

    async def aclose(self) -> None:
        """Close this loop's clients now (they would close with the loop anyway)."""
        self._clients, self._loop = {}, None
        await self._lifetime.aclose()
