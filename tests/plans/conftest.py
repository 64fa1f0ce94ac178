"""Fixtures of the plan finder tests: a fresh catalogue version per test, and a small catalogue."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import pytest
import redis
from django.contrib.auth.models import User
from django.core.cache import cache as django_cache
from rest_framework_simplejwt.tokens import AccessToken

from products.models import Plan, Product
from recommendations.plans import cache, fast_users, selectors
from recommendations.plans.demo import DEMO_QUESTIONS
from recommendations.plans.services import question_upsert
from tests.factories import PlanFactory, ProductFactory
from tests.plans.filter_clients import FastPathClient, ViewClient
from tests.recommendations.conftest import embedded_redis_url, feed_doc_redis  # noqa: F401  # fixtures


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


# --- the filter's two clients (filter_clients.py) -------------------------------------------------


@pytest.fixture
def plans_redis(settings: Any, request: pytest.FixtureRequest) -> Iterator[redis.Redis]:
    """What the fast path needs: the plan finder's cache in Redis (django-redis) and the feed
    documents' Redis. With REDIS_URL both are the suite's Redis; without it, an embedded one for
    both (the cache becomes django-redis on it for this test). This run's keys are deleted before
    and after."""
    docs_redis = request.getfixturevalue("feed_doc_redis")  # FEED_DOC_REDIS_URL set
    if not settings.REDIS_URL:
        settings.CACHES = {
            "default": {
                "BACKEND": "django_redis.cache.RedisCache",
                "LOCATION": settings.FEED_DOC_REDIS_URL,
                "KEY_PREFIX": settings.REDIS_KEY_PREFIX,
            }
        }

    def clean() -> None:
        cache.reset()
        selectors.reset()
        fast_users.reset()
        django_cache.delete_pattern("plans:*")  # type: ignore[attr-defined]  # django-redis
        for key in docs_redis.scan_iter(f"{settings.REDIS_KEY_PREFIX}:plansuser:*"):
            docs_redis.delete(key)

    clean()
    yield docs_redis
    clean()


@pytest.fixture(params=["view", "fast path"])
def filter_client(request: pytest.FixtureRequest, user: User, monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    """A client of the plan filter with ``user``'s token: the view, or the fast path checked
    against the view. With the fast path, enrichment tasks are not run (tasks are eager in tests,
    and the fast path publishes from a worker thread); tests that look at them patch the publish."""
    from recommendations.plans.tasks import plans_enrich_task

    if request.param == "view":
        client: ViewClient | FastPathClient = ViewClient()
        loop = None
    else:
        request.getfixturevalue("plans_redis")
        monkeypatch.setattr(plans_enrich_task, "apply_async", lambda **kwargs: None)
        loop = asyncio.new_event_loop()
        client = FastPathClient(loop=loop)
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {AccessToken.for_user(user)}")
    yield client
    if isinstance(client, FastPathClient):
        client.close()
    if loop is not None:
        loop.close()
