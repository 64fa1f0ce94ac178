"""Sample data for dry-rendering templates before they are saved (one context per slot)."""

from __future__ import annotations

from typing import Any

from .slots import Slot

_PRICE = {"amount": "19.99", "currency": "EUR", "period": "month"}

SAMPLE_CONTEXTS: dict[str, dict[str, Any]] = {
    Slot.PRODUCT_PERSONALISED: {
        "section_id": "product-sample",
        "product": {"slug": "sample", "name": "Sample product"},
        "offers": [
            {
                "id": "offer-1",
                "title": "An offer",
                "body": "Just for you",
                "image_url": "",
                "price": _PRICE,
                "cta_label": "View offer",
                "cta_url": "https://example.com/offer",
                "priority": 1,
                "expires_at": None,
                "data": {},
            },
            {
                "id": "offer-2",
                "title": "Another offer",
                "body": "",
                "image_url": "",
                "price": None,
                "cta_label": "View offer",
                "cta_url": "https://example.com/offer2",
                "priority": 0,
                "expires_at": "2030-01-01T00:00:00Z",
                "data": {},
            },
        ],
    },
    Slot.PRODUCT_GENERIC: {
        "section_id": "product-sample",
        "product": {"slug": "sample", "name": "Sample product"},
        "deals": [
            {
                "id": "deal-1",
                "title": "A deal",
                "description": "For everyone",
                "price": _PRICE,
                "url": "https://example.com/deal",
            },
            {"id": "deal-2", "title": "Another deal", "description": "", "price": None, "url": ""},
        ],
    },
}
