"""Writes for recommendations: personalised offers."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import Any

from django.contrib.auth.models import User
from django.db import transaction

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
    """Create or update an offer; an older or equal ``version`` never overwrites a newer one."""
    fields = {
        "version": payload.version,
        "title": payload.title,
        "body": payload.body,
        "image_url": payload.image_url,
        "price_amount": payload.price_amount,
        "price_currency": payload.price_currency,
        "price_period": payload.price_period,
        "cta_label": payload.cta_label,
        "cta_url": payload.cta_url,
        "priority": payload.priority,
        "expires_at": payload.expires_at,
        "data": payload.data or {},
        "withdrawn": False,
    }
    with transaction.atomic():
        offer, created = Offer.objects.select_for_update().get_or_create(
            user=user, product=product, external_id=payload.external_id, defaults=fields
        )
        if not created:
            if offer.version >= payload.version:
                return OfferUpsertResult(offer=offer, applied=False)
            for name, value in fields.items():
                setattr(offer, name, value)
            offer.save()
        live.feed_changed_for_user(user_id=user.pk, reason="offer.upserted", product_slug=product.slug)
    return OfferUpsertResult(offer=offer, applied=True)
