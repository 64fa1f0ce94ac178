"""Celery tasks for recommendations: thin adapters over services."""

from __future__ import annotations

import logging
from collections.abc import Collection
from urllib.parse import quote

from celery import shared_task
from django.conf import settings
from django.contrib.auth.models import User
from django.core.cache import cache

from products.backend_client import BackendError, TransientBackendError, offers_fetch
from products.models import Product

from . import live
from .feed_answer import feed_answer
from .fragments import documents

logger = logging.getLogger(__name__)


@shared_task(ignore_result=True)
def offer_expired(*, user_ids: list[int], product_slug: str) -> None:
    """Scheduled at an ``expires_at`` of offers of ``product_slug`` (one task for the users whose
    offers expire then): the feed stops serving them by itself (selectors filter them); this tells
    the users' open connections so they see them go."""
    live.feeds_changed_for_users(user_ids=user_ids, reason="offer.expired", product_slug=product_slug)


@shared_task(
    ignore_result=True,
    acks_late=True,
    autoretry_for=(TransientBackendError,),  # unreachable, timeouts, 5xx, 429, breaker open
    retry_backoff=2,
    retry_backoff_max=120,
    max_retries=5,
)
def offers_refresh(*, product_id: int, user_id: int, sequence: int) -> str:
    """After ``offers.invalidated``: fetch the user's offers from the product's offers endpoint
    and apply them as ``offers.replaced`` (unless a newer event has arrived since)."""
    from .ingestion import check_offers, offers_fetched_apply

    product = Product.objects.filter(pk=product_id, active=True).first()
    user = User.objects.filter(pk=user_id).first()
    if product is None or user is None or not product.offers_endpoint:
        return "skipped"
    url = product.offers_endpoint.replace("{user}", quote(user.username, safe=""))
    try:
        fetched = offers_fetch(url=url, product_slug=product.slug)
    except TransientBackendError:
        raise
    except BackendError as exc:  # asking again would get the same answer
        logger.warning("offers of %s for user %s not fetched: %s", product.slug, user_id, exc)
        return "failed"
    try:
        offers = check_offers(offers=fetched.offers)
    except Exception as exc:
        logger.warning("offers of %s for user %s unusable: %s", product.slug, user_id, exc)
        return "invalid"
    applied = offers_fetched_apply(product=product, user=user, offers=offers, sequence=sequence)
    return "applied" if applied else "superseded"


def _warm_queued_key(user_id: int) -> str:
    return f"feedwarm:queued:{user_id}"


def feed_warm_soon(*, user_ids: Collection[int]) -> list[int]:
    """After a change to users' offers (called once it is committed): render their feeds again
    in a worker, so that the new fragments are in L2 and their next requests find a current
    document (the push re-renders the fragment, not the next read: docs/architecture.md). One
    task for all of them; the users it was queued for are returned.

    A burst of changes shares one queued warm-up per user: the "queued" mark (a cache ``add``,
    for all the users in one round trip) is cleared when the task starts, so a change committed
    after that queues another and none is missed. Nothing is queued without the document cache
    (no Redis), whose absence makes it pointless.
    """
    if not documents.enabled() or not user_ids:
        return []
    try:
        marked = _marks_add([_warm_queued_key(u) for u in user_ids], timeout=settings.FEED_WARM_DEDUPE_SECONDS)
    except Exception:
        logger.warning("feed warm-up of users %s not queued (cache unavailable)", sorted(user_ids), exc_info=True)
        return []
    first = [u for u, added in zip(user_ids, marked, strict=True) if added]
    if first:
        feed_warm.apply_async(kwargs={"user_ids": first}, expires=settings.FEED_WARM_DEDUPE_SECONDS)
    return first


def _marks_add(keys: list[str], *, timeout: int) -> list[bool]:
    """``cache.add(key, 1)`` for each key: one pipeline with django-redis, else one call each."""
    get_client = getattr(getattr(cache, "client", None), "get_client", None)
    if get_client is None:  # the in-process stand-in
        return [bool(cache.add(key, 1, timeout=timeout)) for key in keys]
    pipe = get_client(write=True).pipeline(transaction=False)
    for key in keys:
        pipe.set(cache.make_key(key), 1, nx=True, ex=timeout)
    return [bool(added) for added in pipe.execute()]


@shared_task(ignore_result=True)
def feed_warm(*, user_ids: list[int]) -> str:
    """Render these users' feeds (newest catalogue) into the caches and keep their documents."""
    try:
        cache.delete_many([_warm_queued_key(u) for u in user_ids])
    except Exception:
        logger.warning("feed warm-up marks of users %s not cleared", user_ids, exc_info=True)
    users = list(User.objects.filter(pk__in=user_ids, is_active=True))
    for user in users:
        feed_answer(user=user, client_version=None)
    return f"warmed {len(users)} of {len(user_ids)}"
