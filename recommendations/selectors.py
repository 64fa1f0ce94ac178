"""Reads for recommendations: the home feed and what it is made of."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from django.conf import settings
from django.contrib.auth.models import User
from django.db.models import Q
from django.utils import timezone

from products.selectors import deal_snapshots_by_id, products_active
from ui_templates.selectors import published_templates

from .feed import DealsData, FeedInputs, OfferData, ProductInfo, build_feed
from .models import Offer


def offer_data(offer: Offer) -> OfferData:
    price = None
    if offer.price_amount is not None:
        price = {"amount": str(offer.price_amount), "currency": offer.price_currency, "period": offer.price_period}
    return OfferData(
        id=offer.external_id,
        title=offer.title,
        body=offer.body,
        image_url=offer.image_url,
        price=price,
        cta_label=offer.cta_label,
        cta_url=offer.cta_url,
        priority=offer.priority,
        expires_at=offer.expires_at,
        updated_at=offer.updated_at,
        data=offer.data,
    )


def offers_live_for_user(*, user: User, product_ids: list[int], now: datetime) -> list[Offer]:
    """The user's offers that may be shown now (not withdrawn, not expired); one query."""
    return list(
        Offer.objects.filter(user=user, product_id__in=product_ids, withdrawn=False)
        .filter(Q(expires_at__isnull=True) | Q(expires_at__gt=now))
        .select_related("product")
    )


def home_feed_inputs(*, user: User, now: datetime) -> FeedInputs:
    """Load everything a user's feed needs in a fixed number of queries (four)."""
    products = products_active()
    snapshots = deal_snapshots_by_id(
        snapshot_ids=[p.latest_snapshot_id for p in products if p.latest_snapshot_id]  # type: ignore[attr-defined]
    )
    offers: dict[str, list[OfferData]] = {}
    for offer in offers_live_for_user(user=user, product_ids=[p.pk for p in products], now=now):
        offers.setdefault(offer.product.slug, []).append(offer_data(offer))
    deals: dict[str, DealsData] = {}
    for product in products:
        snapshot = snapshots.get(product.latest_snapshot_id)  # type: ignore[attr-defined]
        if snapshot is None:
            continue
        state = getattr(product, "poll_state", None)
        confirmed = state.last_success_at if state and state.last_success_at else snapshot.fetched_at
        deals[product.slug] = DealsData(deals=snapshot.deals, as_of=max(confirmed, snapshot.fetched_at))
    return FeedInputs(
        products=[ProductInfo(slug=p.slug, name=p.name) for p in products],
        offers=offers,
        deals=deals,
        templates=published_templates(),
    )


def home_feed(*, user: User, now: datetime | None = None, client_version: int | None = None) -> dict[str, Any]:
    """The home feed document for ``user`` as a client of ``client_version`` renders it (feed.py)."""
    now = now or timezone.now()
    return build_feed(
        inputs=home_feed_inputs(user=user, now=now),
        now=now,
        stale_after=settings.DEALS_STALE_AFTER,
        client_version=client_version,
    )
