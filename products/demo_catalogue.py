"""The demo product lines: their plans and generic deals.

Used by ``manage.py seed_demo`` and by the product simulator that stands in for the product
backends in embedded mode and in tests.
"""

from __future__ import annotations

from typing import Any

DEMO_PRODUCTS: list[dict[str, Any]] = [
    {
        "slug": "mobile",
        "name": "Mobile",
        "rank_weight": 40,
        "plans": [
            {
                "code": "sim-only-10",
                "name": "SIM only 10 GB",
                "price": "9.99",
                "attributes": {"data_gb": 10, "contract_months": 1, "tags": ["sim-only"]},
            },
            {
                "code": "unlimited-5g",
                "name": "Unlimited 5G",
                "price": "29.99",
                "attributes": {"data_gb": None, "contract_months": 24, "tags": ["5g", "unlimited"]},
            },
            {
                "code": "family-4",
                "name": "Family of four",
                "price": "59.99",
                "attributes": {"data_gb": 200, "contract_months": 24, "tags": ["family", "5g"]},
            },
        ],
        "deals": [
            {
                "id": "m-unl-5g",
                "title": "Unlimited 5G",
                "description": "Unlimited data on our fastest network.",
                "price": {"amount": "29.99", "currency": "EUR", "period": "month"},
                "url": "https://example.com/mobile/unlimited",
            },
            {
                "id": "m-sim-10",
                "title": "SIM only 10 GB",
                "description": "No contract, cancel any month.",
                "price": {"amount": "9.99", "currency": "EUR", "period": "month"},
                "url": "https://example.com/mobile/sim-only",
            },
        ],
    },
    {
        "slug": "broadband",
        "name": "Broadband",
        "rank_weight": 30,
        "plans": [
            {
                "code": "fibre-500",
                "name": "Fibre 500",
                "price": "39.99",
                "attributes": {"speed_mbps": 500, "contract_months": 24, "tags": ["fibre"]},
            },
            {
                "code": "fibre-1000",
                "name": "Fibre 1 Gbit",
                "price": "54.99",
                "attributes": {"speed_mbps": 1000, "contract_months": 24, "tags": ["fibre", "gaming"]},
            },
        ],
        "deals": [
            {
                "id": "b-fibre-500",
                "title": "Fibre 500",
                "description": "500 Mbit/s, router included.",
                "price": {"amount": "39.99", "currency": "EUR", "period": "month"},
                "url": "https://example.com/broadband/fibre-500",
            },
        ],
    },
    {
        "slug": "tv",
        "name": "TV",
        "rank_weight": 20,
        "plans": [
            {
                "code": "tv-basic",
                "name": "TV Basic",
                "price": "12.99",
                "attributes": {"channels": 80, "contract_months": 12, "tags": ["tv"]},
            },
            {
                "code": "tv-sports",
                "name": "TV Sports",
                "price": "24.99",
                "attributes": {"channels": 120, "contract_months": 12, "tags": ["tv", "sports"]},
            },
        ],
        "deals": [
            {
                "id": "t-sports",
                "title": "TV Sports",
                "description": "Every match live, 3 months half price.",
                "price": {"amount": "12.49", "currency": "EUR", "period": "month"},
                "url": "https://example.com/tv/sports",
            },
        ],
    },
    {
        "slug": "energy",
        "name": "Energy",
        "rank_weight": 10,
        "plans": [
            {
                "code": "green-fix",
                "name": "Green fixed price",
                "price": "89.00",
                "attributes": {"kwh_price": "0.29", "contract_months": 12, "tags": ["green"]},
            },
        ],
        "deals": [
            {
                "id": "e-green",
                "title": "100% green power",
                "description": "Fixed price for 12 months.",
                "price": {"amount": "89.00", "currency": "EUR", "period": "month"},
                "url": "https://example.com/energy/green",
            },
        ],
    },
]


def demo_product(slug: str) -> dict[str, Any] | None:
    return next((p for p in DEMO_PRODUCTS if p["slug"] == slug), None)
