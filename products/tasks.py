"""Celery tasks for products: thin adapters over services.

- ``deals_poll_due``: beat's tick; enqueues one ``deals_poll`` per product whose interval passed,
  read from the database each tick (intervals edited in the admin apply without a restart).
- ``deals_poll``: one product's poll (deals_poller.py), one task per product so that a slow
  backend holds one worker slot at most; transient failures are retried with exponential backoff
  and full jitter (Celery's ``retry`` with a countdown: no worker slot is held while waiting).
- ``deals_poll_soon``: enqueue a poll now (``deals.changed``, the admin), at most one queued.
"""

from __future__ import annotations

import logging

from celery import Task, shared_task
from celery.utils.time import get_exponential_backoff_interval
from django.conf import settings
from django.core.cache import cache
from django.db import transaction
from django.utils import timezone

from . import services
from .deals_poller import deals_poll_attempt
from .models import Product
from .selectors import products_due_for_deals_poll

logger = logging.getLogger(__name__)

# Expiry of a poll enqueued by deals_poll_soon: one that has not started by then is dropped.
POLL_SOON_EXPIRES_SECONDS = 60


def deals_poll_queued_key(product_id: int) -> str:
    return f"products:deals-poll-queued:{product_id}"


@shared_task(ignore_result=True)
def deals_poll_due() -> int:
    """Beat's tick: enqueue a poll for every product whose interval has passed; each expires if
    not started within its interval."""
    now = timezone.now()
    due = products_due_for_deals_poll(now=now)
    services.deals_polls_scheduled(products=due, at=now)
    for product in due:
        deals_poll.apply_async(args=(product.pk,), expires=product.poll_interval_seconds)
    return len(due)


@shared_task(bind=True, ignore_result=True, acks_late=True, reject_on_worker_lost=True)
def deals_poll(self: Task, product_id: int) -> str:
    """Poll one product's deals endpoint and record what it found; idempotent (an unchanged body
    stores nothing), so a redelivered or retried task is harmless."""
    if not self.request.retries:
        _release_queued(product_id)
    product = Product.objects.filter(pk=product_id, active=True).select_related("poll_state").first()
    if product is None or not product.deals_endpoint:
        return "skipped"
    attempt = deals_poll_attempt(product=product, now=timezone.now())
    if attempt.retry and self.request.retries < settings.DEALS_POLL_MAX_RETRIES:
        countdown = get_exponential_backoff_interval(
            factor=settings.DEALS_POLL_RETRY_BACKOFF_SECONDS,
            retries=self.request.retries,
            maximum=settings.DEALS_POLL_RETRY_BACKOFF_MAX_SECONDS,
            full_jitter=True,
        )
        raise self.retry(countdown=countdown, max_retries=settings.DEALS_POLL_MAX_RETRIES)
    return attempt.outcome


def deals_poll_soon(*, product: Product) -> None:
    """Enqueue a poll of ``product`` once the current transaction commits (nothing if it rolls back),
    unless one is already queued and not yet started: a burst of ``deals.changed`` notices shares
    one poll, and a notice after that poll started enqueues another, so no change is missed.

    The "queued" mark is a cache ``add`` (Redis, shared by all processes), cleared when the poll
    starts and expiring after ``DEALS_POLL_REQUEST_DEDUPE_SECONDS`` in case it never does.
    """
    product_id, slug = product.pk, product.slug
    transaction.on_commit(lambda: _enqueue_unless_queued(product_id=product_id, slug=slug))


def _enqueue_unless_queued(*, product_id: int, slug: str) -> bool:
    try:
        first = cache.add(deals_poll_queued_key(product_id), 1, timeout=settings.DEALS_POLL_REQUEST_DEDUPE_SECONDS)
    except Exception:
        logger.warning("deals poll dedupe unavailable; polling %s anyway", slug, exc_info=True)
        first = True
    if first:
        deals_poll.apply_async(args=(product_id,), expires=POLL_SOON_EXPIRES_SECONDS)
    return bool(first)


def _release_queued(product_id: int) -> None:
    try:
        cache.delete(deals_poll_queued_key(product_id))
    except Exception:
        logger.warning("deals poll dedupe unavailable", exc_info=True)
