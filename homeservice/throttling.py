"""Request-rate throttles: one rule per scope, applied by the DRF views and the ASGI fast paths.

A scope of ``THROTTLE_RATES`` (``login``, ``token``, ``live_ticket``, ``events``, ``plans_filter``,
``plans_select``) allows so many requests per period to each identity: the user on authenticated
endpoints, the client's address (``REMOTE_ADDR`` as the server sees it: behind a proxy, uvicorn's
``--proxy-headers``) on the login endpoints. The `limits` library counts them in fixed windows that
start at an identity's first request, in the default cache's Redis when that cache is django-redis
(all processes share the counts), else in this process's memory. ``wait_seconds`` (views) and
``pending_count`` (fast paths, in their own Redis round trip) are the same rule on the same keys;
a fast path that counted a request and then leaves it to the view records its verdict in the
ASGI scope (``record_counted``), and the view's throttle takes it instead of counting again. A
refused request gets 429, ``Retry-After`` and the error body ``throttled`` with
``details.retry_after``. When Redis fails, the request is let through and the failure logged:
the throttle must not take the service down.
"""

from __future__ import annotations

import logging
import math
import time
import weakref
from collections.abc import Callable
from dataclasses import dataclass
from functools import wraps
from typing import Any, ClassVar, cast

import redis
import redis.asyncio as aioredis
from django.conf import settings
from django.core.signals import setting_changed
from django.dispatch import receiver
from django.http import HttpRequest, HttpResponse
from limits import RateLimitItem, parse
from limits.aio.storage import RedisStorage as AsyncRedisStorage
from limits.aio.strategies import FixedWindowRateLimiter as AsyncFixedWindowRateLimiter
from limits.storage import MemoryStorage, RedisStorage
from limits.strategies import FixedWindowRateLimiter
from rest_framework.exceptions import Throttled
from rest_framework.renderers import JSONRenderer
from rest_framework.request import Request
from rest_framework.throttling import BaseThrottle

from .errors import api_error_body
from .fast_path import RedisClients

logger = logging.getLogger(__name__)

_items: dict[str, RateLimitItem | None] = {}
# Limiters by (Redis URL or None for memory, key prefix): kept when settings change, so reset()
# clears the counts wherever they were made.
_limiters: dict[tuple[str | None, str], FixedWindowRateLimiter] = {}
_async_limiters: weakref.WeakKeyDictionary[aioredis.Redis, AsyncFixedWindowRateLimiter] = weakref.WeakKeyDictionary()
_clients = RedisClients()
_used: set[tuple[str | None, str]] = set()  # since the last reset()


@receiver(setting_changed, dispatch_uid="throttling.setting_changed")
def _forget(*, setting: str, **kwargs: Any) -> None:
    if setting in ("THROTTLE_RATES", "CACHES", "REDIS_KEY_PREFIX"):
        _items.clear()
        _async_limiters.clear()


def _item(scope: str) -> RateLimitItem | None:
    if scope not in _items:
        rate = settings.THROTTLE_RATES[scope]
        _items[scope] = parse(rate) if rate else None
    return _items[scope]


def _redis_location() -> str | None:
    """The default cache's Redis URL when that cache is django-redis on one server, else None."""
    config = settings.CACHES.get("default", {})
    location = config.get("LOCATION")
    if config.get("BACKEND") != "django_redis.cache.RedisCache" or not isinstance(location, str) or "," in location:
        return None
    return location


def _where() -> tuple[str | None, str]:
    return _redis_location(), f"{settings.REDIS_KEY_PREFIX}:throttle"


def _sync_limiter(where: tuple[str | None, str]) -> FixedWindowRateLimiter:
    """The limiter counting at ``where``. Its Lua scripts are loaded when it is made: redis-py runs
    a script with EVALSHA and loads it after a NOSCRIPT error, but the embedded Redis-protocol
    server (homeservice/embedded_redis.py) closes the connection after an error reply."""
    limiter = _limiters.get(where)
    if limiter is None:
        location, prefix = where
        if location is None:
            limiter = FixedWindowRateLimiter(MemoryStorage())
        else:
            pool = redis.ConnectionPool.from_url(location, socket_timeout=2, socket_connect_timeout=2)
            storage = RedisStorage("redis://", connection_pool=pool, key_prefix=prefix)
            for script in (storage.SCRIPT_INCR_EXPIRE, storage.SCRIPT_CLEAR_KEYS):
                redis.Redis(connection_pool=pool).script_load(script)
            limiter = FixedWindowRateLimiter(storage)
        limiter = _limiters.setdefault(where, limiter)
    return limiter


def _retry_after(reset_time: float) -> int:
    return max(1, math.ceil(reset_time - time.time()))


def wait_seconds(scope: str, identity: str) -> int | None:
    """Count a request of ``identity`` in ``scope``: None when allowed, else the seconds to wait."""
    item = _item(scope)
    if item is None:
        return None
    where = _where()
    _used.add(where)
    try:
        limiter = _sync_limiter(where)
        if limiter.hit(item, scope, identity):
            return None
        return _retry_after(limiter.get_window_stats(item, scope, identity).reset_time)
    except (redis.RedisError, OSError):
        logger.warning("throttle %s: Redis failed; the request is let through", scope, exc_info=True)
        return None


@dataclass(frozen=True)
class PendingCount:
    """One request of ``identity`` to count in ``scope``, for a fast path that sends the count in
    a Redis pipeline of its own, beside its reads (one round trip): ``queue`` adds limits' own
    script on limits' own key, ``wait_seconds`` judges what it answered."""

    scope: str
    identity: str
    item: RateLimitItem
    limiter: AsyncFixedWindowRateLimiter
    key: str
    script_sha: str

    def queue(self, pipe: Any) -> None:
        """Add the count to ``pipe`` (EVALSHA: the script was loaded when the limiter was made)."""
        pipe.evalsha(self.script_sha, 1, self.key, self.item.get_expiry(), 1)

    async def wait_seconds(self, counted: int) -> int | None:
        """None when the count ``queue`` answered is within the rate, else the seconds to wait."""
        if counted <= self.item.amount:
            return None
        stats = await self.limiter.get_window_stats(self.item, self.scope, self.identity)
        return _retry_after(stats.reset_time)


async def pending_count(scope: str, identity: str) -> PendingCount | None:
    """The count of a request to send (the fast paths), or None when nothing is counted in Redis:
    the scope is off, or the counts are in this process's memory (``wait_seconds`` then)."""
    item = _item(scope)
    where = _where()
    location, prefix = where
    if item is None or location is None:
        return None
    client = _clients.get(location)
    limiter = _async_limiters.get(client)
    if limiter is None:
        pool: Any = client.connection_pool
        storage = AsyncRedisStorage("async+redis://", implementation="redispy", connection_pool=pool, key_prefix=prefix)
        await client.script_load(storage.bridge.SCRIPT_INCR_EXPIRE)  # see _sync_limiter
        limiter = _async_limiters[client] = AsyncFixedWindowRateLimiter(storage)
    _used.add(where)
    bridge: Any = cast(AsyncRedisStorage, limiter.storage).bridge
    return PendingCount(
        scope, identity, item, limiter, bridge.prefixed_key(item.key_for(scope, identity)), bridge.lua_incr_expire.sha
    )


COUNTED = "homeservice.throttle_counted"  # in an ASGI scope: {throttle scope: its verdict}


def record_counted(asgi_scope: dict[str, Any], scope: str, wait: int | None) -> None:
    """Say in the request's ASGI scope that a fast path counted it in ``scope`` (and its verdict)."""
    asgi_scope.setdefault(COUNTED, {})[scope] = wait


def forget_scripts() -> None:
    """After a Redis error: make the limiters again (a Redis that restarted lost the scripts)."""
    _async_limiters.clear()


async def aclose() -> None:
    """Close the running loop's Redis clients now (they would close with the loop anyway)."""
    await _clients.aclose()


def user_identity(user_id: int | str) -> str:
    return f"user:{user_id}"


def client_address(request: HttpRequest | Request) -> str:
    """The client's address as the server sees it (also django-axes' ``AXES_CLIENT_IP_CALLABLE``)."""
    return str(request.META.get("REMOTE_ADDR") or "unknown")


def address_identity(request: HttpRequest | Request) -> str:
    return f"address:{client_address(request)}"


def throttled_error(wait: int, message: str | None = None) -> Throttled:
    return Throttled(wait=wait, detail=message)


def throttled_body(wait: int, message: str | None = None) -> bytes:
    """The 429 body, rendered as the DRF views render it."""
    return JSONRenderer().render(api_error_body(throttled_error(wait, message)))


def throttled_response(wait: int, message: str | None = None) -> HttpResponse:
    """The 429 of a view outside DRF (the admin login): the API's error body and ``Retry-After``."""
    response = HttpResponse(throttled_body(wait, message), status=429, content_type="application/json")
    response["Retry-After"] = str(wait)
    return response


class ScopedThrottle(BaseThrottle):
    """A DRF throttle for one scope of ``THROTTLE_RATES``; subclasses say whom it counts."""

    scope: ClassVar[str]

    def identity(self, request: Request) -> str:
        raise NotImplementedError

    def allow_request(self, request: Request, view: Any) -> bool:
        counted = getattr(request._request, "scope", {}).get(COUNTED, {})
        if self.scope in counted:  # a fast path counted this request already (``record_counted``)
            self._wait = counted[self.scope]
        else:
            self._wait = wait_seconds(self.scope, self.identity(request))
        return self._wait is None

    def wait(self) -> float | None:
        return self._wait


class UserThrottle(ScopedThrottle):
    def identity(self, request: Request) -> str:
        return user_identity(str(request.user.pk))  # authenticated: a saved user


class AddressThrottle(ScopedThrottle):
    def identity(self, request: Request) -> str:
        return address_identity(request)


class LoginThrottle(AddressThrottle):
    scope = "login"


class TokenThrottle(AddressThrottle):
    scope = "token"


class LiveTicketThrottle(UserThrottle):
    scope = "live_ticket"


class EventsThrottle(UserThrottle):
    scope = "events"


class PlansFilterThrottle(UserThrottle):
    scope = "plans_filter"


class PlansSelectThrottle(UserThrottle):
    scope = "plans_select"


def posts_throttled_by_address(scope: str) -> Callable[[Callable[..., HttpResponse]], Callable[..., HttpResponse]]:
    """Throttle a plain Django view's POSTs per client address (the admin login)."""

    def decorate(view: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
        @wraps(view)
        def throttled(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
            if request.method == "POST":
                wait = wait_seconds(scope, address_identity(request))
                if wait is not None:
                    return throttled_response(wait)
            return view(request, *args, **kwargs)

        return throttled

    return decorate


def reset() -> None:
    """Forget every count made since the last reset (tests: each starts with none)."""
    while _used:
        try:
            _sync_limiter(_used.pop()).storage.reset()
        except (redis.RedisError, OSError):
            logger.warning("throttle counts could not be reset: Redis failed", exc_info=True)
