"""Fixtures of the plan finder tests: a fresh catalogue version per test, and a small catalogue."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import pytest
from django.core.cache import cache as django_cache

from plans import cache, selectors
from plans.demo import DEMO_QUESTIONS
from plans.services import question_upsert
from products.models import Plan, Product
from tests.factories import PlanFactory, ProductFactory


@pytest.fixture(autouse=True)
def _fresh_catalogue() -> Iterator[None]:
    """Each test's database is new, so its catalogue must be too: forget the plan finder's keys
    (the cache outlives the rolled-back database) and this process's index."""

    def clean() -> None:
        cache.reset()
        selectors.reset()
        # Versions, answers, newest requests, queued marks (user ids repeat across tests).
        delete_pattern = getattr(django_cache, "delete_pattern", None)
        if delete_pattern is not None:
            delete_pattern("plans:*")  # django-redis: only this run's prefix (tests/settings.py)
        else:
            django_cache.clear()  # the in-process LocMem stand-in

    clean()
    yield
    clean()


@dataclass
class Shop:
    products: dict[str, Product]
    plans: dict[str, Plan]


def plan(product: Product, code: str, price: str, **attributes: Any) -> Plan:
    return PlanFactory.create(
        product=product, code=code, name=code.title(), price_amount=Decimal(price), attributes=attributes
    )


@pytest.fixture
def shop(db: None) -> Shop:
    """The demo questions over a few plans of three products (energy inactive)."""
    mobile = ProductFactory.create(slug="mobile", rank_weight=40)
    broadband = ProductFactory.create(slug="broadband", rank_weight=30)
    energy = ProductFactory.create(slug="energy", rank_weight=10, active=False)
    plans = {
        "sim-10": plan(mobile, "sim-10", "9.99", data_gb=10, contract_months=1, tags=["sim-only"]),
        "5g-50": plan(mobile, "5g-50", "19.99", data_gb=50, contract_months=24, tags=["5g"]),
        "unlimited": plan(mobile, "unlimited", "29.99", data_gb=None, contract_months=24, tags=["5g", "unlimited"]),
        "family": plan(mobile, "family", "59.99", data_gb=200, contract_months=24, tags=["5g", "family"]),
        "fibre-500": plan(broadband, "fibre-500", "39.99", speed_mbps=500, contract_months=12, tags=["fibre"]),
        "fibre-1000": plan(broadband, "fibre-1000", "54.99", speed_mbps=1000, contract_months=24, tags=["fibre"]),
        "green": plan(energy, "green", "19.99", contract_months=12, tags=["green"]),
    }
    for spec in DEMO_QUESTIONS:
        question_upsert(spec=spec)
    return Shop(products={"mobile": mobile, "broadband": broadband, "energy": energy}, plans=plans)
