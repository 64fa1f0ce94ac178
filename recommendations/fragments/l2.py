"""L2: fragments in the Django cache (Redis through django-redis; LocMem without REDIS_URL).

Every call here survives Redis being down: an error is logged, counted, and answered as a miss
(or a no-op), and L2 is skipped for ``FRAGMENT_L2_RETRY_SECONDS`` so that a Redis that times
out does not add its timeout to every request. django-redis reconnects by itself afterwards.
We handle errors here rather than with django-redis' ``IGNORE_EXCEPTIONS``, which would apply to
every user of the cache (the product simulator keeps its state there and should see errors).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterable
from typing import Any

from django.conf import settings
from django.core.cache import cache

from . import keys, metrics

logger = logging.getLogger(__name__)

_down_until = 0.0


def available() -> bool:
    return time.monotonic() >= _down_until


def failed(operation: str) -> None:
    global _down_until
    metrics.L2_ERRORS.inc()
    _down_until = time.monotonic() + settings.FRAGMENT_L2_RETRY_SECONDS
    logger.warning("fragment cache (L2) %s failed; serving without it", operation, exc_info=True)


def reset() -> None:
    """Forget an earlier failure (tests)."""
    global _down_until
    _down_until = 0.0


def get_many(keys: list[str]) -> dict[str, Any]:
    """One round trip (MGET with django-redis)."""
    if not keys or not available():
        return {}
    try:
        found: dict[str, Any] = cache.get_many(keys)
        return found
    except Exception:
        failed("get_many")
        return {}


def get(key: str) -> Any:
    if not available():
        return None
    try:
        return cache.get(key)
    except Exception:
        failed("get")
        return None


def set_many(values: dict[str, Any]) -> None:
    """Store fragments, and add each key to its user's or product's key set (one pipeline)."""
    if not values or not available():
        return
    try:
        cache.set_many(values, timeout=settings.FRAGMENT_L2_TTL_SECONDS)
        client = _redis()
        if client is None:
            return
        pipe = client.pipeline(transaction=False)
        for key in values:
            group = keys.group(key)
            if group is not None:
                pipe.sadd(cache.make_key(group), key)
                pipe.expire(cache.make_key(group), settings.FRAGMENT_L2_TTL_SECONDS)
        pipe.execute()
    except Exception:
        failed("set_many")


def _redis() -> Any:
    """django-redis' client (None with the LocMem stand-in)."""
    client = getattr(cache, "client", None)
    get_client = getattr(client, "get_client", None)
    return get_client(write=True) if get_client is not None else None


def delete_invalidated(*, user_id: int | None, product_slug: str) -> None:
    """Delete the fragments an invalidation names: the members of their user's or product's key
    set that match (no scan of the key space); every fragment (a glob) when it names neither."""
    delete_invalidated_many([(user_id, product_slug)])


def delete_invalidated_many(named: list[tuple[int | None, str]]) -> None:
    """``delete_invalidated`` for several (user id, product slug) at once: two round trips
    (the key sets' members, then the deletes), whatever their number."""
    if any(keys.group_of_invalidation(user_id=u, product_slug=p) is None for u, p in named):
        delete_matching([keys.l2_pattern(user_id=None, product_slug="")])
        return
    client = _redis()
    if client is None or not available() or not named:
        return
    try:
        group_keys = [cache.make_key(keys.group_of_invalidation(user_id=u, product_slug=p)) for u, p in named]
        pipe = client.pipeline(transaction=False)
        for group_key in group_keys:
            pipe.smembers(group_key)
        member_sets = pipe.execute()
        doomed: list[str] = []
        pipe = client.pipeline(transaction=False)
        for (user_id, product_slug), group_key, members in zip(named, group_keys, member_sets, strict=True):
            names = [m.decode() if isinstance(m, bytes) else str(m) for m in members]
            matching = [m for m in names if keys.matches(m, user_id=user_id, product_slug=product_slug)]
            if matching:
                doomed.extend(matching)
                pipe.srem(group_key, *matching)
        if doomed:
            pipe.delete(*(cache.make_key(key) for key in doomed))
            pipe.execute()
    except Exception:
        failed("delete")


def lease(key: str) -> bool:
    """Take the short render lease of ``key`` (``cache.add``: SET NX EX); True when taken, or
    when Redis cannot say (then rendering twice is the lesser evil)."""
    if not available():
        return True
    try:
        return bool(cache.add(f"lease:{key}", 1, timeout=settings.FRAGMENT_LEASE_SECONDS))
    except Exception:
        failed("lease")
        return True


def release(key: str) -> None:
    if not available():
        return
    try:
        cache.delete(f"lease:{key}")
    except Exception:
        failed("release")


def delete_matching(patterns: Iterable[str]) -> None:
    """Delete fragments by glob (django-redis' ``delete_pattern``, a SCAN). The LocMem stand-in
    cannot match patterns; its entries are unreachable anyway (keys carry their inputs' version)
    and expire with ``FRAGMENT_L2_TTL_SECONDS``."""
    delete_pattern = getattr(cache, "delete_pattern", None)
    if delete_pattern is None or not available():
        return
    try:
        for pattern in patterns:
            delete_pattern(pattern)
    except Exception:
        failed("delete_pattern")
