"""Whole feed documents per (user, client version) in Redis, for the warm-hit fast path.

The home-feed view (the reference) stores every document it answers, as sent, and the fast path
(``recommendations/api/home_fast.py``) answers the same request from it with one Redis round
trip (MGET of the document and two generations) and no Django, DRF or database work.

A document may be served only while it is still the answer. Three things decide that:

- **Generations.** ``feedgen:u:<user>`` (that user's offers, their account) and ``feedgen:all``
  (anything shared: generic deals, templates, products) are random tokens, replaced on every
  announced change (``bump_user``, ``bump_all``: called where fragments are invalidated, so every
  change that reaches ``recommendations/live.py`` bumps them). A document records the tokens it
  was built under; a replaced token makes it unservable. The view reads the tokens *before* it
  builds the feed, so a change committed while it builds leaves a document that is already out of
  date, never one that looks current. Tokens are random, not counters: a token key that is evicted
  or lost is missing, a missing token serves nothing, and it can never come back equal.
- **Valid until.** Unannounced changes that time alone brings: an offer expiring, generic deals
  turning stale (``selectors.HomeFeedDocument.valid_until``).
- **A time to live** (``FEED_DOC_TTL_SECONDS``, default 60 s) bounds everything else: a change made
  without an announcement (a bulk SQL update) or a bump that failed while Redis was unreachable.
  A failed bump is also retried, as a bump of everything, on this process's next successful call.

Value layout: one ASCII header line ``d1 <user gen> <all gen> <valid until, epoch ms> <etag>``,
then the body bytes exactly as the view sent them. Keys are raw Redis keys under
``REDIS_KEY_PREFIX`` (not the Django cache's key format), so the fast path needs no Django.
"""

from __future__ import annotations

import logging
import secrets
import time
from collections.abc import Iterable
from datetime import datetime
from typing import NamedTuple

import redis
from django.conf import settings

from . import metrics

logger = logging.getLogger(__name__)

FORMAT = b"d1"
_clients: dict[str, redis.Redis] = {}
_down_until = 0.0
_bump_pending = False


class Generations(NamedTuple):
    user: bytes
    shared: bytes


class Document(NamedTuple):
    generations: Generations
    valid_until_ms: int  # 0: no time limit other than the key's TTL
    etag: str
    body: bytes


# --- keys and encoding (pure; the fast path uses these too) --------------------------------------


def _cv(client_version: int | None) -> str:
    return "n" if client_version is None else str(client_version)


def document_key(prefix: str, user_id: int | str, client_version: int | None) -> str:
    return f"{prefix}:feeddoc:{user_id}:{_cv(client_version)}"


def user_generation_key(prefix: str, user_id: int | str) -> str:
    return f"{prefix}:feedgen:u:{user_id}"


def shared_generation_key(prefix: str) -> str:
    return f"{prefix}:feedgen:all"


def encode(document: Document) -> bytes:
    header = b" ".join(
        (
            FORMAT,
            document.generations.user,
            document.generations.shared,
            str(document.valid_until_ms).encode(),
            document.etag.encode("ascii"),
        )
    )
    return header + b"\n" + document.body


def decode(value: bytes) -> Document | None:
    """The document in ``value``, or None if it is not one (another format, damaged)."""
    header, sep, body = value.partition(b"\n")
    parts = header.split(b" ")
    if not sep or len(parts) != 5 or parts[0] != FORMAT:
        return None
    try:
        valid_until_ms = int(parts[3])
        etag = parts[4].decode("ascii")
    except (ValueError, UnicodeDecodeError):
        return None
    return Document(Generations(parts[1], parts[2]), valid_until_ms, etag, body)


def servable(
    document: Document, *, user_generation: bytes | None, shared_generation: bytes | None, now_ms: int
) -> bool:
    """May ``document`` be served now, given the current generations (None: missing)?"""
    return (
        user_generation is not None
        and shared_generation is not None
        and document.generations.user == user_generation
        and document.generations.shared == shared_generation
        and (document.valid_until_ms == 0 or now_ms < document.valid_until_ms)
    )


def new_token() -> bytes:
    return secrets.token_hex(8).encode("ascii")


def stored_value(
    *, built_under: Generations, valid_until: datetime | None, etag: str, body: bytes, now: float
) -> tuple[bytes, int] | None:
    """What to keep for a document the view answered at ``now`` (a POSIX time), and for how many
    seconds; None when it would live less than a second (``FEED_DOC_TTL_SECONDS`` or the document's
    valid-until is that close)."""
    ttl = float(settings.FEED_DOC_TTL_SECONDS)
    valid_until_ms = 0
    if valid_until is not None:
        valid_until_ms = int(valid_until.timestamp() * 1000)
        ttl = min(ttl, valid_until.timestamp() - now)
    if ttl < 1:
        return None
    return encode(Document(built_under, valid_until_ms, etag, body)), int(ttl)


# --- Redis (synchronous side: the view and the announcers) ---------------------------------------


def enabled() -> bool:
    return bool(settings.FEED_DOC_CACHE and settings.FEED_DOC_REDIS_URL)


def _client() -> redis.Redis | None:
    if not enabled() or time.monotonic() < _down_until:
        return None
    url = settings.FEED_DOC_REDIS_URL
    client = _clients.get(url)
    if client is None:
        client = _clients[url] = redis.Redis.from_url(url, socket_connect_timeout=1, socket_timeout=1)
    return client


def _failed(operation: str) -> None:
    global _down_until
    metrics.DOCUMENT_ERRORS.inc()
    _down_until = time.monotonic() + settings.FRAGMENT_L2_RETRY_SECONDS
    logger.warning("feed document cache %s failed", operation, exc_info=True)


def reset() -> None:
    """Forget earlier failures and clients (tests)."""
    global _down_until, _bump_pending
    _down_until, _bump_pending = 0.0, False
    _clients.clear()


def bump_pending() -> bool:
    """Whether this process owes a bump of everything (one failed while Redis was unreachable)."""
    return _bump_pending


def _flush_pending(client: redis.Redis) -> None:
    global _bump_pending
    if _bump_pending:
        client.set(shared_generation_key(settings.REDIS_KEY_PREFIX), new_token())
        _bump_pending = False


def generations(*, user_id: int) -> Generations | None:
    """The current generations (created if missing), read before a feed is built; None when the
    document cache is off or unreachable (then nothing is stored)."""
    client = _client()
    if client is None:
        return None
    prefix = settings.REDIS_KEY_PREFIX
    user_key, shared_key = user_generation_key(prefix, user_id), shared_generation_key(prefix)
    try:
        _flush_pending(client)
        pipe = client.pipeline(transaction=False)
        pipe.set(user_key, new_token(), nx=True)
        pipe.set(shared_key, new_token(), nx=True)
        pipe.mget(user_key, shared_key)
        user, shared = pipe.execute()[2]
    except redis.RedisError:
        _failed("read")
        return None
    if user is None or shared is None:  # replaced or evicted between the SET and the MGET
        return None
    return Generations(user, shared)


def store(
    *,
    user_id: int,
    client_version: int | None,
    built_under: Generations,
    valid_until: datetime | None,
    etag: str,
    body: bytes,
) -> None:
    """Keep a document the view answered, for the fast path."""
    client = _client()
    if client is None:
        return
    stored = stored_value(built_under=built_under, valid_until=valid_until, etag=etag, body=body, now=time.time())
    if stored is None:
        return
    value, ttl = stored
    try:
        client.set(document_key(settings.REDIS_KEY_PREFIX, user_id, client_version), value, ex=ttl)
    except redis.RedisError:
        _failed("store")


def _bump(*keys: str) -> None:
    global _bump_pending
    client = _client()
    if client is None:
        # Unreachable (or within the retry pause after an error): documents stored before may
        # be stale once Redis answers again; bump everything then.
        _bump_pending = enabled()
        return
    try:
        _flush_pending(client)
        pipe = client.pipeline(transaction=False)
        for key in keys:
            pipe.set(key, new_token())
        pipe.execute()
    except redis.RedisError:
        _bump_pending = True
        _failed("bump")


def bump_user(*, user_id: int) -> None:
    """Something in one user's feed or account changed: their documents are out of date."""
    bump_users(user_ids=[user_id])


def bump_users(*, user_ids: Iterable[int]) -> None:
    """``bump_user`` for several users, in one round trip."""
    keys = [user_generation_key(settings.REDIS_KEY_PREFIX, user_id) for user_id in user_ids]
    if keys:
        _bump(*keys)


def bump_all() -> None:
    """Something any feed may show changed: every document is out of date."""
    _bump(shared_generation_key(settings.REDIS_KEY_PREFIX))
