"""Dropping fragments when their inputs change, on this process and on every other one.

An invalidation names a user (their personal fragments, for one product or all), or a product
(its generic deals fragments), or neither (everything: a template changed). ``invalidate``
deletes the matching L2 fragments, drops the matching L1 entries here, and publishes the
invalidation on the Redis channel ``<REDIS_KEY_PREFIX>:fragments:invalidate``.

Every process runs one ``Subscriber`` (a daemon thread, started on first use of the caches) that
drops matching L1 entries when another process publishes. Pub/sub is at-most-once: when the
subscription drops, the process clears its whole L1, and resubscribes with backoff (clearing
again once subscribed, for what was cached in between). Without ``REDIS_URL`` (unit tests, plain
``manage.py``) there is no pub/sub and a single process: L1 is invalidated locally only.

Because fragment keys carry their inputs' version (keys.py), this is about freeing memory and
Redis promptly: a missed invalidation costs memory until the TTL, never a stale section.
"""

from __future__ import annotations

import logging
import random
import threading
from dataclasses import dataclass
from typing import Any

import orjson
import redis
from django.conf import settings

from . import keys, l2, metrics
from .l1 import L1Cache

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Invalidation:
    user_id: int | None = None
    product_slug: str = ""

    def matches(self, key: str) -> bool:
        return keys.matches(key, user_id=self.user_id, product_slug=self.product_slug)

    def drop_from(self, l1: L1Cache) -> int:
        """Drop what this names from ``l1`` (only the named user's or product's entries are looked at)."""
        return l1.drop(
            self.matches, group=keys.group_of_invalidation(user_id=self.user_id, product_slug=self.product_slug)
        )

    def encode(self) -> bytes:
        return orjson.dumps({"user": self.user_id, "product": self.product_slug})

    @classmethod
    def decode(cls, data: bytes | str) -> Invalidation:
        body = orjson.loads(data)
        user = body.get("user")
        return cls(user_id=int(user) if user is not None else None, product_slug=str(body.get("product") or ""))


def channel_name() -> str:
    return f"{settings.REDIS_KEY_PREFIX}:fragments:invalidate"


class Subscriber:
    """Listens on the invalidation channel and drops matching entries of ``l1``."""

    def __init__(self, *, url: str, channel: str, l1: L1Cache, max_backoff: float = 10.0) -> None:
        self.url = url
        self.channel = channel
        self.l1 = l1
        self.max_backoff = max_backoff
        self.subscribed = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> Subscriber:
        self._thread = threading.Thread(target=self._run, name="fragment-invalidations", daemon=True)
        self._thread.start()
        return self

    def stop(self, timeout: float = 5.0) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)

    def apply(self, data: bytes | str) -> None:
        try:
            invalidation = Invalidation.decode(data)
        except (ValueError, TypeError, AttributeError):
            logger.warning("ignoring a malformed fragment invalidation: %r", data)
            return
        invalidation.drop_from(self.l1)

    def _run(self) -> None:
        backoff, first = 0.2, True
        while not self._stop.is_set():
            client = redis.Redis.from_url(self.url, socket_connect_timeout=2, health_check_interval=5)
            pubsub = client.pubsub()
            try:
                pubsub.subscribe(self.channel)
                while not self._stop.is_set():
                    message = pubsub.get_message(timeout=1.0)
                    if message is None:
                        continue
                    if message["type"] == "subscribe":
                        if not first:
                            self.l1.clear()  # what was cached while unsubscribed may have missed news
                        first, backoff = False, 0.2
                        self.subscribed.set()
                    elif message["type"] == "message":
                        self.apply(message["data"])
            except Exception:
                if self._stop.is_set():
                    break
                self.subscribed.clear()
                self.l1.clear()
                first = False
                metrics.SUBSCRIBER_RECONNECTS.inc()
                logger.warning("fragment invalidation subscription lost; L1 cleared, retrying in %.1f s", backoff)
                self._stop.wait(backoff * (1 + random.random() / 2))  # noqa: S311 - jitter
                backoff = min(backoff * 2, self.max_backoff)
            finally:
                try:
                    pubsub.close()
                    client.close()
                except Exception:  # noqa: S110 - closing a broken connection
                    pass


class Invalidator:
    """L1, the subscriber keeping it in step with other processes, and the publisher."""

    def __init__(self, l1: L1Cache) -> None:
        self.l1 = l1
        self._lock = threading.Lock()
        self.subscriber: Subscriber | None = None
        self._publisher: Any = None

    def ensure_subscriber(self) -> None:
        """Start the subscriber thread once (only with REDIS_URL)."""
        if self.subscriber is not None or not settings.REDIS_URL:
            return
        with self._lock:
            if self.subscriber is None:
                self.subscriber = Subscriber(url=settings.REDIS_URL, channel=channel_name(), l1=self.l1).start()

    def invalidate(self, invalidation: Invalidation) -> None:
        self.invalidate_many([invalidation])

    def invalidate_many(self, invalidations: list[Invalidation]) -> None:
        """Several invalidations at once: the L2 deletes and the publishes in a round trip or two."""
        l2.delete_invalidated_many([(i.user_id, i.product_slug) for i in invalidations])
        for invalidation in invalidations:
            invalidation.drop_from(self.l1)
        self._publish(invalidations)

    def _publish(self, invalidations: list[Invalidation]) -> None:
        if not settings.REDIS_URL or not invalidations:
            return
        try:
            if self._publisher is None:
                self._publisher = redis.Redis.from_url(settings.REDIS_URL, socket_connect_timeout=2, socket_timeout=2)
            pipe = self._publisher.pipeline(transaction=False)
            for invalidation in invalidations:
                pipe.publish(channel_name(), invalidation.encode())
            pipe.execute()
        except Exception:
            # The keys carry their inputs' version, so other processes cannot serve what changed;
            # their L1 copies just live out their TTL.
            metrics.L2_ERRORS.inc()
            logger.warning("fragment invalidation could not be published", exc_info=True)
