"""The one way to push to clients: wraps the channel layer, sends after the transaction commits.

Only services (and the receiver of the products hook) call this. Consumers join the groups named
here and relay typed events; docs/websocket.md describes the messages clients then receive.

Every announcement first invalidates the fragment caches it concerns (recommendations/fragments/,
on this process and, through Redis pub/sub, on every other), then notifies the clients, so the
feed they then fetch is made from the change. Callers need not know about caches.

Groups:
- ``user.<id>``: every connection of one user;
- ``feeds``: every connection, for changes that may touch any screen (generic deals, templates).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Collection
from typing import Any

from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer
from django.db import transaction

from . import fragments

logger = logging.getLogger(__name__)

ALL_FEEDS_GROUP = "feeds"
FEED_CHANGED = "feed.changed"  # handled by HomeConsumer.feed_changed
PLANS_REFINED = "plans.refined"  # handled by HomeConsumer.plans_refined


def user_group(user_id: int) -> str:
    return f"user.{user_id}"


def _send(group: str, message: dict[str, Any]) -> None:
    _send_many([group], message)


def _send_many(groups: Collection[str], message: dict[str, Any]) -> None:
    """``message`` to each of ``groups``, in one trip to the event loop."""
    layer = get_channel_layer()
    if layer is None or not groups:
        return

    async def send_all() -> None:
        await asyncio.gather(*(layer.group_send(group, message) for group in groups))

    try:
        async_to_sync(send_all)()
    except Exception:
        # Live messages are hints: a client that misses one converges on its next resume or
        # fetch, so a channel-layer outage must not fail the write that caused it.
        logger.exception("live update to %s could not be sent", ", ".join(sorted(groups)))


def _invalidate(invalidate: Any) -> None:
    try:
        invalidate()
    except Exception:
        # Fragment keys carry their inputs' version, so a failed invalidation leaves unreachable
        # entries behind, never a stale feed: the notification must still go out.
        logger.exception("fragment invalidation failed")


def _warm(user_ids: Collection[int]) -> None:
    from .tasks import feed_warm_soon  # tasks import this module

    try:
        feed_warm_soon(user_ids=user_ids)
    except Exception:
        # Warming is an optimisation: the next read renders what is missing.
        logger.exception("feed warm-up of users %s could not be queued", sorted(user_ids))


def feed_changed_for_user(*, user_id: int, reason: str, product_slug: str = "") -> None:
    """Tell every connection of one user that their feed (``product_slug``'s section, or any
    section when empty) may have changed (after commit)."""
    feeds_changed_for_users(user_ids=[user_id], reason=reason, product_slug=product_slug)


def feeds_changed_for_users(*, user_ids: Collection[int], reason: str, product_slug: str = "") -> None:
    """``feed_changed_for_user`` for each of several users (a batch of product events), after
    commit: their caches invalidated together, one trip to the channel layer, one warm-up task."""
    users = sorted(set(user_ids))
    if not users:
        return

    def announce() -> None:
        _invalidate(lambda: fragments.invalidate_users(user_ids=users, product_slug=product_slug))
        _send_many([user_group(u) for u in users], {"type": FEED_CHANGED, "reason": reason, "product": product_slug})
        _warm(users)

    transaction.on_commit(announce)


def feed_changed_for_all(*, reason: str, product_slug: str = "") -> None:
    """Tell every connection that feeds showing ``product_slug`` may have changed (after commit).

    With a ``product_slug`` this means that product's generic deals changed; without one,
    anything may have (templates), and every fragment is invalidated.
    """

    def announce() -> None:
        if product_slug:
            _invalidate(lambda: fragments.invalidate_product_deals(product_slug=product_slug))
        else:
            _invalidate(fragments.invalidate_all)
        _send(ALL_FEEDS_GROUP, {"type": FEED_CHANGED, "reason": reason, "product": product_slug})

    transaction.on_commit(announce)


def plans_refined(*, user_id: int, message: dict[str, Any]) -> None:
    """Send a plan finder answer (``message``, a ``recommendations.updated`` frame) to every
    connection of one user, after commit; the connections relay it as it is."""
    transaction.on_commit(lambda: _send(user_group(user_id), {"type": PLANS_REFINED, "message": message}))
