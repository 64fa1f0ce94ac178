"""Writes for recommendations: personalised offers."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import Any

from django.contrib.auth.models import User
from django.db import transaction
from django.utils import timezone

from products.models import Product

from . import live
from .models import Offer


@dataclass(frozen=True)
class OfferFields:
    """An offer as a product describes it (in an event, the offers endpoint or the demo), typed."""

    external_id: str
    title: str
    body: str = ""
    image_url: str = ""
    price_amount: Decimal | None = None
    price_currency: str = ""
    price_period: str = ""
    cta_label: str = "View offer"
    cta_url: str = ""
    priority: int = 0
    expires_at: datetime | None = None
    data: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, kw_only=True)
class OfferPayload(OfferFields):
    """An offer with the version that orders it against the stored one (``offer_upsert``)."""

    version: int


@dataclass(frozen=True)
class OfferUpsertResult:
    offer: Offer
    applied: bool  # False when a newer (or the same) version was already stored


def offer_upsert(*, user: User, product: Product, payload: OfferPayload) -> OfferUpsertResult:
    """Create or update one offer; an older or equal ``version`` never overwrites a newer one."""
    with transaction.atomic():
        stored = (
            Offer.objects.select_for_update()
            .filter(user=user, product=product, external_id=payload.external_id)
            .values_list("version", flat=True)
            .first()
        )
        applied = stored is None or stored < payload.version
        if applied:
            offers_store(product=product, offers=[(user, payload, payload.version)])
            live.feed_changed_for_user(user_id=user.pk, reason="offer.upserted", product_slug=product.slug)
        offer = Offer.objects.get(user=user, product=product, external_id=payload.external_id)
    return OfferUpsertResult(offer=offer, applied=applied)


_OFFER_UPDATE_FIELDS = [
    "version",
    "title",
    "body",
    "image_url",
    "price_amount",
    "price_currency",
    "price_period",
    "cta_label",
    "cta_url",
    "priority",
    "expires_at",
    "data",
    "withdrawn",
    "updated_at",
]


def offers_store(*, product: Product, offers: list[tuple[User, OfferFields, int]]) -> None:
    """Upsert ``(user, offer, version)`` rows in one statement; of two with the same key the later
    wins, as if stored one after the other. Each future ``expires_at`` gets an expiry task (one
    per time, for the users whose offers expire then). In a transaction. The one way offers are
    written: ingestion (a batch of events, ordered by their streams' sequence) and
    ``offer_upsert`` (one offer, ordered by its version) both come here."""
    rows: dict[tuple[int, str], Offer] = {}
    expiries: set[tuple[int, datetime]] = set()
    now = timezone.now()
    for user, offer, sequence in offers:
        rows[(user.pk, offer.external_id)] = Offer(
            user=user,
            product=product,
            external_id=offer.external_id,
            version=sequence,
            title=offer.title,
            body=offer.body,
            image_url=offer.image_url,
            price_amount=offer.price_amount,
            price_currency=offer.price_currency,
            price_period=offer.price_period,
            cta_label=offer.cta_label,
            cta_url=offer.cta_url,
            priority=offer.priority,
            expires_at=offer.expires_at,
            data=offer.data,
            withdrawn=False,
        )
        if offer.expires_at is not None and offer.expires_at > now:
            expiries.add((user.pk, offer.expires_at))
    if rows:
        Offer.objects.bulk_create(
            list(rows.values()),
            update_conflicts=True,
            unique_fields=["user", "product", "external_id"],
            update_fields=_OFFER_UPDATE_FIELDS,
        )
    by_time: dict[datetime, list[int]] = {}
    for user_id, at in sorted(expiries, key=lambda item: (item[1], item[0])):
        by_time.setdefault(at, []).append(user_id)
    for at, user_ids in by_time.items():
        _expiry_schedule(user_ids=user_ids, product_slug=product.slug, at=at)


def _expiry_schedule(*, user_ids: list[int], product_slug: str, at: datetime) -> None:
    from .tasks import offer_expired

    transaction.on_commit(
        lambda: offer_expired.apply_async(kwargs={"user_ids": user_ids, "product_slug": product_slug}, eta=at)
    )
