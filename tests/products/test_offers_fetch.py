"""The per-user offers fetch (``offers.invalidated``) goes through the same outbound client as the
deals poll: the product's circuit breaker, retries of transient failures only, the SSRF rules."""

from __future__ import annotations

import pytest
from pytest_httpserver import HTTPServer

from products.backend_client import BackendError, TransientBackendError, offers_fetch
from products.breakers import backend_breaker_status
from products.models import Product
from recommendations.tasks import offers_refresh
from tests.factories import ProductFactory, UserFactory

pytestmark = pytest.mark.django_db

OFFERS_PATH = "/users/alice/offers/"
OFFER = {"id": "o1", "title": "Upgrade to 5G"}


@pytest.fixture
def offers_product(backend: HTTPServer) -> Product:
    return ProductFactory.create(
        slug="mobile", offers_endpoint=f"http://127.0.0.1:{backend.port}/users/{{user}}/offers/"
    )


def test_offers_failures_count_in_the_products_breaker_which_then_spares_the_backend(backend, offers_product, settings):
    settings.BACKEND_BREAKER_FAIL_MAX = 2
    backend.expect_request(OFFERS_PATH).respond_with_data("down", status=503)
    url = backend.url_for(OFFERS_PATH)

    for _ in range(2):
        with pytest.raises(TransientBackendError, match="HTTP 503"):
            offers_fetch(url=url, product_slug="mobile")
    assert backend_breaker_status(product_slug="mobile").state == "open"

    with pytest.raises(TransientBackendError, match="circuit breaker open"):
        offers_fetch(url=url, product_slug="mobile")
    assert len(backend.log) == 2


def test_offers_fetch_through_the_breaker_returns_the_offers(backend, offers_product):
    backend.expect_request(OFFERS_PATH).respond_with_json({"offers": [OFFER]})

    fetched = offers_fetch(url=backend.url_for(OFFERS_PATH), product_slug="mobile")

    assert fetched.offers == [OFFER]


def test_offers_fetch_refuses_a_private_address_unless_allowed(backend, offers_product, settings):
    settings.OUTBOUND_ALLOW_PRIVATE_ADDRESSES = False

    with pytest.raises(BackendError, match="non-public address"):
        offers_fetch(url=backend.url_for(OFFERS_PATH), product_slug="mobile")
    assert backend.log == []


@pytest.mark.parametrize(("status", "requests"), [(503, 6), (404, 1)], ids=["transient-retried", "4xx-not-retried"])
def test_offers_refresh_retries_transient_failures_only(backend, offers_product, settings, status, requests):
    settings.BACKEND_BREAKER_FAIL_MAX = 100
    user = UserFactory.create(username="alice")
    backend.expect_request(OFFERS_PATH).respond_with_data("no", status=status)

    result = offers_refresh.apply(kwargs={"product_id": offers_product.pk, "user_id": user.pk, "sequence": 1})

    assert len(backend.log) == requests  # the first attempt and, when transient, 5 retries
    if status == 404:
        assert result.get() == "failed"
    else:
        with pytest.raises(TransientBackendError):
            result.get()
