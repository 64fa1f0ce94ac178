"""Celery tasks for recommendations: thin adapters over services."""

from __future__ import annotations

import logging
from urllib.parse import quote

from celery import shared_task
from django.contrib.auth.models import User

from products.backend_client import BackendError, TransientBackendError, offers_fetch
from products.models import Product

from . import live

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
