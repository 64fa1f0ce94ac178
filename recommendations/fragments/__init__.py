"""The fragment caches: rendered sections by (user, product) and by product, in L1 and L2.

- ``keys``: what a fragment key is made of (its inputs' version included);
- ``l1``: the in-process layer; ``l2``: the Django cache (Redis), outage-tolerant;
- ``store``: lookups (L1, one L2 round trip, render on miss with stampede protection);
- ``invalidation``: deleting/dropping fragments here and, through Redis pub/sub, elsewhere;
- ``documents``: whole feed documents per user, served by the warm-hit fast path;
- ``metrics``: hit/miss counters per layer.

docs/architecture.md ("Caches") describes the design; ``live.py`` calls ``invalidate_*`` when a
change is announced, ``selectors.home_feed`` reads through ``store()``.
"""

from __future__ import annotations

from collections.abc import Collection

from . import documents
from .invalidation import Invalidation
from .store import store


def invalidate_user(*, user_id: int, product_slug: str = "") -> None:
    """A user's offers changed (for ``product_slug``, or any product when empty)."""
    invalidate_users(user_ids=[user_id], product_slug=product_slug)


def invalidate_users(*, user_ids: Collection[int], product_slug: str = "") -> None:
    """Several users' offers changed (a batch of product events), in a few round trips."""
    documents.bump_users(user_ids=user_ids)
    store().invalidator.invalidate_many([Invalidation(user_id=u, product_slug=product_slug) for u in user_ids])


def invalidate_product_deals(*, product_slug: str) -> None:
    """A product's generic deals changed."""
    documents.bump_all()
    store().invalidator.invalidate(Invalidation(product_slug=product_slug))


def invalidate_all() -> None:
    """Anything may have changed (templates published or unpublished)."""
    documents.bump_all()
    store().invalidator.invalidate(Invalidation())


__all__ = ["Invalidation", "invalidate_all", "invalidate_product_deals", "invalidate_user", "invalidate_users", "store"]
