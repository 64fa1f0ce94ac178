"""Which sections a user has been shown: the check behind "events for sections never shown".

Every feed document built for a user (``recommendations/feed_answer.py``: the view and the warm-up
task; the fast path only serves documents built there) records its section ids, each with its
source (``personalised`` or ``generic``), in a Redis hash ``<REDIS_KEY_PREFIX>:feedshown:<user>``
(the feed documents' Redis, ``FEED_DOC_REDIS_URL``), kept ``INTERACTIONS_SHOWN_TTL_SECONDS`` after
the last build (7 days). Sections only ever added: a section shown once stays "shown" for the TTL,
so events that arrive late (a client offline for a while) are still accepted.

An event's section counts as shown when it is in this record or in the user's current feed
(``home_feed_document``: what they would be shown now), which is read only when the record does
not cover the batch: Redis not configured or unreachable, no record (expired, never built while
Redis was up), or a section a live update brought to the screen after the last build (a
product's first deals, a first offer). The record is what keeps late events for a section that
has since left the feed (its offers withdrawn or expired) acceptable.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from typing import Any

import redis
from django.conf import settings
from redis.typing import EncodableT, FieldT

logger = logging.getLogger(__name__)

_clients: dict[str, redis.Redis] = {}


def shown_key(user_id: int) -> str:
    return f"{settings.REDIS_KEY_PREFIX}:feedshown:{user_id}"


def _client() -> redis.Redis | None:
    url = settings.FEED_DOC_REDIS_URL
    if not url:
        return None
    client = _clients.get(url)
    if client is None:
        client = _clients[url] = redis.Redis.from_url(url, socket_connect_timeout=1, socket_timeout=1)
    return client


def shown_fields(sections: Sequence[Mapping[str, Any]]) -> dict[FieldT, EncodableT]:
    """The record's fields for ``sections``: section id -> source."""
    return {str(s["id"]): str(s.get("source", "")) for s in sections}


def shown_record(*, user_id: int, sections: Sequence[Mapping[str, Any]]) -> None:
    """Remember that ``sections`` (a feed document's) were built for ``user_id``; never raises."""
    client = _client()
    if client is None or not sections:
        return
    try:
        pipe = client.pipeline(transaction=False)
        pipe.hset(shown_key(user_id), mapping=shown_fields(sections))
        pipe.expire(shown_key(user_id), settings.INTERACTIONS_SHOWN_TTL_SECONDS)
        pipe.execute()
    except redis.RedisError:
        logger.warning("sections shown to user %s not recorded", user_id, exc_info=True)


def shown_sections(*, user_id: int) -> dict[str, str] | None:
    """Section id → source of what was built for the user; None when unknown (no Redis, an
    error, or no record), in which case the caller falls back to the current feed."""
    client = _client()
    if client is None:
        return None
    try:
        found = client.hgetall(shown_key(user_id))
    except redis.RedisError:
        logger.warning("sections shown to user %s unreadable", user_id, exc_info=True)
        return None
    if not found:
        return None
    return {k.decode(): v.decode() for k, v in found.items()}  # type: ignore[union-attr]
