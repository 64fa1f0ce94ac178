"""The demo's plan finder questions (seeded by ``manage.py seed_demo``, recommendations/demo.py).

They filter the demo plans (products/demo_catalogue.py) and the bench's generated catalogue
(bench/plans.py), which use the same attributes.
"""

from __future__ import annotations

from typing import Any

from .services import question_upsert


def _product(slug: str) -> list[dict[str, Any]]:
    return [{"field": "product", "op": "in", "value": [slug]}]


def _tag(tag: str) -> list[dict[str, Any]]:
    return [{"field": "attributes.tags", "op": "contains", "value": tag}]


DEMO_QUESTIONS: list[dict[str, Any]] = [
    {
        "key": "product",
        "text": "What are you looking for?",
        "kind": "single",
        "position": 10,
        "options": [
            {"key": "mobile", "label": "Mobile", "conditions": _product("mobile")},
            {"key": "broadband", "label": "Broadband", "conditions": _product("broadband")},
            {"key": "tv", "label": "TV", "conditions": _product("tv")},
            {"key": "energy", "label": "Energy", "conditions": _product("energy")},
            {"key": "any", "label": "Show me everything", "conditions": []},
        ],
    },
    {
        "key": "budget",
        "text": "What can you spend a month?",
        "kind": "range",
        "position": 20,
        "range_field": "price",
        "range_operator": "lte",
        "range_min": 0,
        "range_max": 200,
        "range_unit": "EUR/month",
    },
    {
        "key": "data_gb",
        "text": "How much mobile data do you need at least?",
        "help_text": "Only mobile plans have data; unlimited plans always qualify.",
        "kind": "range",
        "position": 30,
        "range_field": "attributes.data_gb",
        "range_operator": "gte",
        "range_min": 0,
        "range_max": 1000,
        "range_unit": "GB",
        "range_null_matches": True,
    },
    {
        "key": "contract",
        "text": "How long may the contract be?",
        "kind": "single",
        "position": 40,
        "options": [
            {
                "key": "monthly",
                "label": "Cancel any month",
                "conditions": [{"field": "attributes.contract_months", "op": "lte", "value": 1}],
            },
            {
                "key": "up-to-12",
                "label": "Up to a year",
                "conditions": [{"field": "attributes.contract_months", "op": "lte", "value": 12}],
            },
            {"key": "any", "label": "Any length", "conditions": []},
        ],
    },
    {
        "key": "extras",
        "text": "What matters to you?",
        "help_text": "Pick any: plans with more of them come first.",
        "kind": "multiple",
        "position": 50,
        "options": [
            {"key": "5g", "label": "5G", "conditions": _tag("5g")},
            {"key": "fibre", "label": "Fibre", "conditions": _tag("fibre")},
            {"key": "sports", "label": "Sports", "conditions": _tag("sports")},
            {"key": "green", "label": "Green energy", "conditions": _tag("green")},
            {"key": "family", "label": "For the family", "conditions": _tag("family")},
        ],
    },
]


def demo_questions_seed() -> int:
    """Create or update the demo questions (idempotent); how many there are."""
    for spec in DEMO_QUESTIONS:
        question_upsert(spec=spec)
    return len(DEMO_QUESTIONS)
