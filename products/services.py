"""Writes for products: storing polled deals and recording poll health."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import orjson
from django.conf import settings
from django.db import transaction

from .hooks import deals_changed
from .models import DealSnapshot, DealsPollState, Product


@dataclass(frozen=True)
class DealsRecordResult:
    changed: bool
    snapshot: DealSnapshot | None


def deals_content_hash(deals: list[dict[str, Any]]) -> str:
    return hashlib.sha256(orjson.dumps(deals, option=orjson.OPT_SORT_KEYS)).hexdigest()


def deals_record(
    *, product: Product, deals: list[dict[str, Any]], etag: str, fetched_at: datetime
) -> DealsRecordResult:
    """Store a product's deals as found by a poll; a new snapshot only when the content changed.

    On change, ``deals_changed`` is sent once the transaction commits, and snapshots beyond the
    newest ``DEALS_SNAPSHOTS_KEEP`` are pruned. A success clears the last error.
    """
    content_hash = deals_content_hash(deals)
    with transaction.atomic():
        state, _ = DealsPollState.objects.select_for_update().get_or_create(product=product)
        latest = DealSnapshot.objects.filter(product=product).order_by("-fetched_at", "-id").first()
        snapshot = None
        if latest is None or latest.content_hash != content_hash:
            snapshot = DealSnapshot.objects.create(
                product=product, deals=deals, content_hash=content_hash, etag=etag, fetched_at=fetched_at
            )
            transaction.on_commit(lambda: deals_changed.send(sender=Product, product_slug=product.slug))
            deal_snapshots_prune(product=product, keep=settings.DEALS_SNAPSHOTS_KEEP)
        elif _was_stale(state=state, latest=latest, at=fetched_at):
            _announce_fresh_again(product)
        state.last_polled_at = fetched_at
        state.last_success_at = fetched_at
        state.last_error = ""
        state.etag = etag
        state.save(update_fields=["last_polled_at", "last_success_at", "last_error", "etag", "updated_at"])
    return DealsRecordResult(changed=snapshot is not None, snapshot=snapshot)


def deal_snapshots_prune(*, product: Product, keep: int) -> int:
    """Delete ``product``'s snapshots but the newest ``keep`` (at least one); the number deleted."""
    older = list(
        DealSnapshot.objects.filter(product=product)
        .order_by("-fetched_at", "-id")
        .values_list("id", flat=True)[max(1, keep) :]
    )
    if not older:
        return 0
    deleted, _ = DealSnapshot.objects.filter(pk__in=older).delete()
    return deleted


def deals_poll_not_modified(*, product: Product, at: datetime) -> None:
    """A conditional poll answered 304: the deals we have are confirmed fresh; nothing else changes
    (but the last error, if any, is cleared, and deals that had turned stale are announced as
    fresh again)."""
    with transaction.atomic():
        state, _ = DealsPollState.objects.select_for_update().get_or_create(product=product)
        latest = DealSnapshot.objects.filter(product=product).order_by("-fetched_at", "-id").first()
        if _was_stale(state=state, latest=latest, at=at):
            _announce_fresh_again(product)
        state.last_polled_at = at
        state.last_success_at = at
        state.last_error = ""
        state.save(update_fields=["last_polled_at", "last_success_at", "last_error", "updated_at"])


def _was_stale(*, state: DealsPollState, latest: DealSnapshot | None, at: datetime) -> bool:
    """Were the served deals stale (unconfirmed for ``DEALS_STALE_AFTER``) until this success?

    A confirmation changes nothing the feed shows (a section's ``as_of`` is its deals' fetch
    time) unless it ends staleness: only then do screens need telling."""
    if latest is None:
        return False
    confirmed = max(state.last_success_at or latest.fetched_at, latest.fetched_at)
    return at - confirmed > settings.DEALS_STALE_AFTER


def _announce_fresh_again(product: Product) -> None:
    slug = product.slug
    transaction.on_commit(lambda: deals_changed.send(sender=Product, product_slug=slug))


def deals_poll_failed(*, product: Product, at: datetime, error: str) -> None:
    """Record a failed poll attempt; the last good deals keep being served (and turn stale with age)."""
    DealsPollState.objects.update_or_create(
        product=product, defaults={"last_polled_at": at, "last_error_at": at, "last_error": error[:2000]}
    )


def deals_polls_scheduled(*, products: list[Product], at: datetime) -> None:
    """Mark ``products`` as polled at ``at`` when their poll is enqueued, so that the next beat tick
    does not enqueue another one while this one waits in the queue or retries."""
    for product in products:
        DealsPollState.objects.update_or_create(product=product, defaults={"last_polled_at": at})
