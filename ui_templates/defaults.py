"""Built-in templates: every slot has one, so a new product renders with no marketer work.

Templates are json-e (https://json-e.js.org): ``${expr}`` interpolates, ``$map``/``each(x)``
repeats, ``$if`` conditions. Rendering contexts are documented in ui_templates/rendering.py.
"""

from __future__ import annotations

from typing import Any

from .slots import Slot

_PRICE = {
    "type": "price",
    "id": "${card_id}-price",
    "props": {
        "amount": "${item.price.amount}",
        "currency": "${item.price.currency}",
        "period": "${item.price.period}",
    },
}

PERSONALISED_SECTION: dict[str, Any] = {
    "type": "section",
    "id": "${section_id}",
    "props": {"title": "${product.name}", "subtitle": "Just for you"},
    "children": [
        {
            "type": "carousel",
            "id": "${section_id}-offers",
            "children": {
                "$map": {"$eval": "offers"},
                "each(item)": {
                    "$let": {"card_id": "${section_id}-offer-${item.id}"},
                    "in": {
                        "type": "card",
                        "id": "${card_id}",
                        "props": {"offer_id": "${item.id}"},
                        "children": [
                            {
                                "type": "text",
                                "id": "${card_id}-title",
                                "props": {"style": "title", "text": "${item.title}"},
                            },
                            {
                                "type": "text",
                                "id": "${card_id}-body",
                                "props": {"style": "body", "text": "${item.body}"},
                            },
                            {
                                "$if": "item.price",
                                "then": _PRICE,
                            },
                            {
                                "type": "button",
                                "id": "${card_id}-cta",
                                "props": {"label": "${item.cta_label}", "style": "primary"},
                                "action": {"type": "open_url", "url": "${item.cta_url}"},
                            },
                        ],
                    },
                },
            },
        }
    ],
}

GENERIC_SECTION: dict[str, Any] = {
    "type": "section",
    "id": "${section_id}",
    "props": {"title": "${product.name}", "subtitle": "Top deals"},
    "children": [
        {
            "type": "carousel",
            "id": "${section_id}-deals",
            "children": {
                "$map": {"$eval": "deals"},
                "each(item)": {
                    "$let": {"card_id": "${section_id}-deal-${item.id}"},
                    "in": {
                        "type": "card",
                        "id": "${card_id}",
                        "children": [
                            {
                                "type": "text",
                                "id": "${card_id}-title",
                                "props": {"style": "title", "text": "${item.title}"},
                            },
                            {
                                "type": "text",
                                "id": "${card_id}-body",
                                "props": {"style": "body", "text": "${item.description}"},
                            },
                            {"$if": "item.price", "then": _PRICE},
                            {
                                "type": "button",
                                "id": "${card_id}-cta",
                                "props": {"label": "See deal", "style": "secondary"},
                                "action": {"type": "open_url", "url": "${item.url}"},
                            },
                        ],
                    },
                },
            },
        }
    ],
}

BUILT_IN: dict[str, dict[str, Any]] = {
    Slot.PRODUCT_PERSONALISED: PERSONALISED_SECTION,
    Slot.PRODUCT_GENERIC: GENERIC_SECTION,
}
