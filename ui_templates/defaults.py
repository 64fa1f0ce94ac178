"""Built-in templates: every slot has one, so a new product renders with no marketer work.

Written in the template language of ui_templates/engine.py. Contexts: docs/sdui.md.
"""

from __future__ import annotations

from typing import Any

from .slots import Slot


def _price(item: str) -> dict[str, Any]:
    return {
        "type": "price",
        "if": f"{{{{ {item}.price }}}}",
        "props": {
            "amount": f"{{{{ {item}.price.amount }}}}",
            "currency": f"{{{{ {item}.price.currency }}}}",
            "period": f"{{{{ {item}.price.period }}}}",
        },
    }


OFFER_CARD: dict[str, Any] = {
    "type": "card",
    "props": {"offer_id": "{{ offer.id }}"},
    "children": [
        {"type": "text", "props": {"style": "title", "text": "{{ offer.title }}"}},
        {"type": "text", "if": "{{ offer.body }}", "props": {"style": "body", "text": "{{ offer.body }}"}},
        _price("offer"),
        {
            "type": "countdown",
            "if": "{{ offer.expires_at }}",
            "props": {"ends_at": "{{ offer.expires_at }}", "label": "Ends"},
        },
        {
            "type": "button",
            "props": {"label": "{{ offer.cta_label }}", "style": "primary"},
            "action": {"type": "open_url", "url": "{{ offer.cta_url }}"},
        },
        {
            "type": "button",
            "props": {"label": "Not interested", "style": "link"},
            "action": {"type": "dismiss", "offer_id": "{{ offer.id }}"},
        },
    ],
}

DEAL_CARD: dict[str, Any] = {
    "type": "card",
    "children": [
        {"type": "text", "props": {"style": "title", "text": "{{ deal.title }}"}},
        {
            "type": "text",
            "if": "{{ deal.description }}",
            "props": {"style": "body", "text": "{{ deal.description }}"},
        },
        _price("deal"),
        {
            "type": "button",
            "if": "{{ deal.url }}",
            "props": {"label": "See deal", "style": "secondary"},
            "action": {"type": "open_url", "url": "{{ deal.url }}"},
        },
    ],
}

PERSONALISED_SECTION: dict[str, Any] = {
    "type": "section",
    "props": {"title": "{{ product.name }}", "subtitle": "Just for you"},
    "children": [
        {
            "type": "carousel",
            "id": "{{ section_id }}-offers",
            "children": [
                {
                    "slot": "offer.card",
                    "repeat": {"for": "offer", "in": "offers"},
                    "id": "{{ section_id }}-offer-{{ offer.id }}",
                }
            ],
        }
    ],
}

GENERIC_SECTION: dict[str, Any] = {
    "type": "section",
    "props": {"title": "{{ product.name }}", "subtitle": "Top deals"},
    "children": [
        {
            "type": "carousel",
            "id": "{{ section_id }}-deals",
            "children": [
                {
                    "slot": "deal.card",
                    "repeat": {"for": "deal", "in": "deals"},
                    "id": "{{ section_id }}-deal-{{ deal.id }}",
                }
            ],
        },
        {
            "type": "button",
            "props": {"label": "Find the right plan", "style": "link"},
            "action": {"type": "open_plan_finder", "product": "{{ product.slug }}"},
        },
    ],
}

BUILT_IN: dict[str, dict[str, Any]] = {
    Slot.PRODUCT_PERSONALISED: PERSONALISED_SECTION,
    Slot.PRODUCT_GENERIC: GENERIC_SECTION,
    Slot.OFFER_CARD: OFFER_CARD,
    Slot.DEAL_CARD: DEAL_CARD,
}


def built_in_key(slot: str) -> str:
    return f"builtin:{slot}"
