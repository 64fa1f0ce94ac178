"""Users the plan filter view has authenticated, for its fast path (recommendations/plans/filter_fast.py).

The fast path checks the access token but does not look the account up. It answers a user only
while a mark says the view authenticated that user (the account exists and is active) under the
user's current feed-document generations (recommendations/fragments/documents.py): a user saved
or deleted (deactivated, removed) replaces their generation after commit
(``fragments/signals.py``; a change made without a signal, such as a queryset ``update()``,
within a second: ``fragments/account_changes.py``), which makes the mark stale, so the view
answers (and refuses them).

The view reads the generations *before* DRF looks the user up (``before_authentication``), and
stores them as the mark after it has (``authenticated``): a change committed after that read
replaces a generation the mark already holds, so a mark never looks current for an account the
lookup did not see. The mark lives ``FEED_DOC_TTL_SECONDS``, as the feed documents do.

Key: ``<REDIS_KEY_PREFIX>:plansuser:<user>`` = ``<user generation> <shared generation>``, a raw
key in the feed documents' Redis (``FEED_DOC_REDIS_URL``).
"""

from __future__ import annotations

import logging

import redis
from django.conf import settings

from homeservice import fast_path
from recommendations.fragments import documents

logger = logging.getLogger(__name__)

_clients: dict[str, redis.Redis] = {}

Seen = tuple[str, documents.Generations]


def enabled() -> bool:
    return bool(settings.PLANS_FAST_PATH and documents.enabled() and settings.FEED_DOC_TTL_SECONDS >= 1)


def mark_key(prefix: str, user_id: int | str) -> str:
    return f"{prefix}:plansuser:{user_id}"


def mark_value(generations: documents.Generations) -> bytes:
    return generations.user + b" " + generations.shared


def current(*, mark: bytes | None, user_generation: bytes | None, shared_generation: bytes | None) -> bool:
    """Does the mark hold the current generations (None: missing)?"""
    return (
        mark is not None
        and user_generation is not None
        and shared_generation is not None
        and mark == mark_value(documents.Generations(user_generation, shared_generation))
    )


def before_authentication(authorization: str | None) -> Seen | None:
    """The token's user and their generations, read before the account is looked up; None when
    there is nothing to mark (fast path off, no valid token, Redis unreachable)."""
    if not enabled() or not authorization:
        return None
    user_id = fast_path.user_id(authorization.encode("latin-1", errors="replace"))
    if user_id is None:
        return None
    generations = documents.generations(user_id=int(user_id))
    return None if generations is None else (user_id, generations)


def authenticated(seen: Seen | None, *, user_id: int) -> None:
    """The view authenticated ``user_id``: mark them under the generations read before."""
    if seen is None or seen[0] != str(user_id):
        return
    url = settings.FEED_DOC_REDIS_URL
    client = _clients.get(url)
    if client is None:
        client = _clients[url] = redis.Redis.from_url(url, socket_connect_timeout=1, socket_timeout=1)
    try:
        client.set(
            mark_key(settings.REDIS_KEY_PREFIX, user_id), mark_value(seen[1]), ex=int(settings.FEED_DOC_TTL_SECONDS)
        )
    except redis.RedisError:
        logger.warning("plan filter fast path: could not mark user %s as checked", user_id, exc_info=True)


def reset() -> None:
    """Forget clients (tests)."""
    _clients.clear()
