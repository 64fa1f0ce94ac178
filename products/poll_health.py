"""Each product's deals poll health, as the admin and the metrics show it (reads only).

- last success: the last poll that stored or confirmed the deals (200 or 304);
- last error: the last failed attempt's error, cleared by the next success (``last_error_at``
  keeps when it happened);
- breaker: the product's circuit breaker as stored (breakers.py);
- next poll: ``last_polled_at`` (when the last poll was enqueued or ran) plus the product's
  interval, to beat's tick (``DEALS_POLL_TICK_SECONDS``); due now when never polled;
- deals as of / stale: the last good deals' time (their snapshot, or a later confirmation) and
  whether they are older than ``DEALS_STALE_AFTER``, as the feed marks their section.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.db.models import Max

from .breakers import BreakerStatus, backend_breaker_status
from .models import DealsPollState, Product


@dataclass(frozen=True)
class DealsPollHealth:
    product_slug: str
    polled: bool  # active, with a deals endpoint
    last_polled_at: datetime | None
    last_success_at: datetime | None
    last_error_at: datetime | None
    last_error: str
    next_poll_at: datetime | None  # None when not polled
    deals_as_of: datetime | None  # None without any deals
    stale: bool
    breaker: BreakerStatus


def deals_poll_next_at(*, product: Product, state: DealsPollState | None, now: datetime) -> datetime | None:
    if not product.active or not product.deals_endpoint:
        return None
    if state is None or state.last_polled_at is None:
        return now
    return state.last_polled_at + timedelta(seconds=product.poll_interval_seconds)


def deals_as_of(*, state: DealsPollState | None, latest_snapshot_at: datetime | None) -> datetime | None:
    if latest_snapshot_at is None:
        return None
    confirmed = state.last_success_at if state is not None else None
    return max(confirmed, latest_snapshot_at) if confirmed else latest_snapshot_at


def deals_poll_health_of(*, product: Product, latest_snapshot_at: datetime | None, now: datetime) -> DealsPollHealth:
    """One product's health; ``product.poll_state`` should be selected with it."""
    state: DealsPollState | None = getattr(product, "poll_state", None)
    as_of = deals_as_of(state=state, latest_snapshot_at=latest_snapshot_at)
    return DealsPollHealth(
        product_slug=product.slug,
        polled=bool(product.active and product.deals_endpoint),
        last_polled_at=state.last_polled_at if state else None,
        last_success_at=state.last_success_at if state else None,
        last_error_at=state.last_error_at if state else None,
        last_error=state.last_error if state else "",
        next_poll_at=deals_poll_next_at(product=product, state=state, now=now),
        deals_as_of=as_of,
        stale=as_of is not None and now - as_of > settings.DEALS_STALE_AFTER,
        breaker=backend_breaker_status(product_slug=product.slug),
    )


def deals_poll_health(*, now: datetime) -> list[DealsPollHealth]:
    """The health of every product with a deals endpoint; one query, plus the breakers' reads."""
    products = (
        Product.objects.exclude(deals_endpoint="")
        .select_related("poll_state")
        .annotate(latest_snapshot_at=Max("deal_snapshots__fetched_at"))
        .order_by("slug")
    )
    return [deals_poll_health_of(product=p, latest_snapshot_at=p.latest_snapshot_at, now=now) for p in products]
