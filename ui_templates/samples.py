"""Sample data for dry-rendering templates (one context per slot), as the feed hands it in.

Contexts (docs/sdui.md):
- ``product.personalised``: ``section_id``, ``product`` {slug, name}, ``offers`` [offer, ...]
- ``product.generic``: ``section_id``, ``product``, ``deals`` [deal, ...]
- ``offer.card``: the section's context plus ``offer``; ``deal.card``: plus ``deal``

An offer: {id, title, body, image_url, price {amount, currency, period} | null, cta_label, cta_url,
priority, expires_at | null, data}. A deal: {id, title, description, price | null, url}. Every field
is present (empty when unknown), so templates may bind to any of them.
"""

from __future__ import annotations

import copy
from typing import Any

from .slots import Slot

_PRICE = {"amount": "19.99", "currency": "EUR", "period": "month"}
_PRODUCT = {"slug": "sample", "name": "Sample product"}

SAMPLE_OFFERS: list[dict[str, Any]] = [
    {"id": "offer-1", "title": "An offer", "body": "Just for you", "image_url": "", "price": _PRICE,
     "cta_label": "View offer", "cta_url": "https://example.com/offer", "priority": 1,
     "expires_at": "2030-01-01T00:00:00Z", "data": {}},
    {"id": "offer-2", "title": "Another offer", "body": "", "image_url": "", "price": None,
     "cta_label": "View offer", "cta_url": "https://example.com/offer2", "priority": 0,
     "expires_at": None, "data": {}},
]  # fmt: skip
SAMPLE_DEALS: list[dict[str, Any]] = [
    {"id": "deal-1", "title": "A deal", "description": "For everyone", "price": _PRICE,
     "url": "https://example.com/deal"},
    {"id": "deal-2", "title": "Another deal", "description": "", "price": None, "url": ""},
]  # fmt: skip


def section_context(*, product: dict[str, str], offers: list[dict[str, Any]] | None = None,
                    deals: list[dict[str, Any]] | None = None) -> dict[str, Any]:  # fmt: skip
    context: dict[str, Any] = {"section_id": f"product-{product['slug']}", "product": product}
    if offers is not None:
        context["offers"] = offers
    if deals is not None:
        context["deals"] = deals
    return context


def sample_contexts(slot: str) -> list[dict[str, Any]]:
    """Contexts a template for ``slot`` must render with (static samples): fresh copies on every
    call, so nothing a render does can change the samples every later check uses."""
    return copy.deepcopy(_sample_contexts(slot))


def _sample_contexts(slot: str) -> list[dict[str, Any]]:
    if slot == Slot.PRODUCT_PERSONALISED:
        return [section_context(product=_PRODUCT, offers=SAMPLE_OFFERS)]
    if slot == Slot.PRODUCT_GENERIC:
        return [section_context(product=_PRODUCT, deals=SAMPLE_DEALS)]
    if slot == Slot.OFFER_CARD:
        return [{**section_context(product=_PRODUCT, offers=SAMPLE_OFFERS), "offer": o} for o in SAMPLE_OFFERS]
    if slot == Slot.DEAL_CARD:
        return [{**section_context(product=_PRODUCT, deals=SAMPLE_DEALS), "deal": d} for d in SAMPLE_DEALS]
    # A reusable part may be included anywhere: give it everything.
    return [
        {**section_context(product=_PRODUCT, offers=SAMPLE_OFFERS, deals=SAMPLE_DEALS),
         "offer": SAMPLE_OFFERS[0], "deal": SAMPLE_DEALS[0]}
    ]  # fmt: skip
