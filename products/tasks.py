"""Celery tasks for products: thin adapters over services."""

from __future__ import annotations

import logging

from celery import shared_task
from django.utils import timezone

from . import services
from .backend_client import BackendError, deals_fetch
from .models import Product
from .selectors import products_due_for_deals_poll

logger = logging.getLogger(__name__)


@shared_task(ignore_result=True)
def deals_poll_due() -> int:
    """Beat's tick: enqueue a poll for every product whose interval has passed."""
    due = products_due_for_deals_poll(now=timezone.now())
    for product in due:
        deals_poll.apply_async(args=(product.pk,), expires=product.poll_interval_seconds)
    return len(due)


@shared_task(ignore_result=True, acks_late=True)
def deals_poll(product_id: int) -> str:
    """Poll one product's deals endpoint and record what it found."""
    product = Product.objects.filter(pk=product_id, active=True).select_related("poll_state").first()
    if product is None or not product.deals_endpoint:
        return "skipped"
    state = getattr(product, "poll_state", None)
    now = timezone.now()
    try:
        fetched = deals_fetch(url=product.deals_endpoint, etag=state.etag if state else "")
    except BackendError as exc:
        logger.warning("deals poll of %s failed: %s", product.slug, exc)
        services.deals_poll_failed(product=product, at=now, error=str(exc))
        return "failed"
    if fetched.not_modified:
        services.deals_poll_not_modified(product=product, at=now)
        return "not_modified"
    result = services.deals_record(product=product, deals=fetched.deals, etag=fetched.etag, fetched_at=now)
    return "changed" if result.changed else "unchanged"
