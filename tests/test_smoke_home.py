import pytest

from tests.factories import DealSnapshotFactory, OfferFactory, ProductFactory

pytestmark = pytest.mark.django_db


def test_home_feed_shows_offers_else_deals(auth_client, user):
    mobile = ProductFactory(slug="mobile", rank_weight=10)
    tv = ProductFactory(slug="tv", rank_weight=5)
    OfferFactory(user=user, product=mobile)
    DealSnapshotFactory(product=tv)
    response = auth_client.get("/api/v1/home/")
    assert response.status_code == 200
    assert [(s["product"], s["source"]) for s in response.json()["sections"]] == [
        ("mobile", "personalised"),
        ("tv", "generic"),
    ]
