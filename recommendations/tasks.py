"""Celery tasks for recommendations: thin adapters over services."""

from __future__ import annotations

import logging
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
def offer_expired(*, user_id: int, product_slug: str) -> None:
    """Scheduled at an offer's ``expires_at``: the feed stops serving it by itself (selectors
    filter it); this tells the user's open connections so they see it go."""
    live.feed_changed_for_user(user_id=user_id, reason="offer.expired", product_slug=product_slug)


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


def feed_warm_soon(*, user_id: int) -> bool:
    """After a change to one user's offers (called once it is committed): render their feed again
    in a worker, so that the new fragment is in L2 and their next request finds a current
    document (PRODUCT.md §3, flow 1: the push re-renders the fragment, not the next read).

    A burst of changes shares one queued task: the "queued" mark (a cache ``add``) is cleared
    when the task starts, so a change committed after that queues another and none is missed.
    Nothing is queued without the document cache (no Redis), whose absence makes it pointless.
    """
    if not documents.enabled():
        return False
    try:
        first = cache.add(_warm_queued_key(user_id), 1, timeout=settings.FEED_WARM_DEDUPE_SECONDS)
    except Exception:
        logger.warning("feed warm-up of user %s not queued (cache unavailable)", user_id, exc_info=True)
        return False
    if first:
        feed_warm.apply_async(kwargs={"user_id": user_id}, expires=settings.FEED_WARM_DEDUPE_SECONDS)
    return bool(first)


@shared_task(ignore_result=True)
def feed_warm(*, user_id: int) -> str:
    """Render one user's feed (newest catalogue) into the caches and keep its document."""
    try:
        cache.delete(_warm_queued_key(user_id))
    except Exception:
        logger.warning("feed warm-up mark of user %s not cleared", user_id, exc_info=True)
    user = User.objects.filter(pk=user_id, is_active=True).first()
    if user is None:
        return "skipped"
    feed_answer(user=user, client_version=None)
    return "warmed"
