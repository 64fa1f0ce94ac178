"""``manage.py seed_demo`` (recommendations/management/commands/seed_demo.py, recommendations/demo.py)."""

from __future__ import annotations

import io
from typing import Any

import pytest
from django.contrib.auth import get_user_model
from django.core.management import CommandError, call_command
from rest_framework.test import APIClient

from products.models import DealSnapshot, DealsPollState, Plan, Product
from recommendations.models import Offer
from ui_templates.models import ComponentTemplate

pytestmark = pytest.mark.django_db

DEMO_USERNAMES = ["admin", "alice", "bob", "carol", "mia"]


def counts() -> dict[str, int]:
    return {
        model.__name__: model.objects.count()
        for model in (Product, Plan, DealSnapshot, DealsPollState, Offer, get_user_model(), ComponentTemplate)
    }


def seed(*args: str) -> str:
    out = io.StringIO()
    call_command("seed_demo", *args, stdout=out)
    return out.getvalue()


def feed_of(username: str) -> dict[str, Any]:
    client = APIClient()
    token = client.post("/api/v1/auth/token/", {"username": username, "password": "demo1234"}, format="json")
    assert token.status_code == 200, token.content
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {token.json()['access']}")
    response = client.get("/api/v1/home/")
    assert response.status_code == 200
    feed: dict[str, Any] = response.json()
    return feed


@pytest.fixture
def debug(settings: Any) -> None:
    settings.DEBUG = True


@pytest.mark.usefixtures("debug")
def test_seed_demo_creates_the_demo_products_and_users():
    # when
    output = seed("--simulator-url", "http://127.0.0.1:8000/")

    # then the four demo products, polled from the simulator
    products = list(Product.objects.order_by("-rank_weight"))
    assert [p.slug for p in products] == ["mobile", "broadband", "tv", "energy"]
    assert all(p.active for p in products)
    assert products[0].deals_endpoint == "http://127.0.0.1:8000/simulator/products/mobile/deals/"
    assert all(DealSnapshot.objects.filter(product=p).exists() for p in products)
    # and the demo users, admin being staff
    users = get_user_model().objects.order_by("username")
    assert [u.username for u in users] == DEMO_USERNAMES
    assert users.get(username="admin").is_superuser
    assert not users.get(username="alice").is_staff
    # and mia, a marketer: staff in the Marketers group, not a superuser
    mia = users.get(username="mia")
    assert (mia.is_staff, mia.is_superuser) == (True, False)
    assert list(mia.groups.values_list("name", flat=True)) == ["Marketers"]
    assert "Demo ready: 4 products" in output


@pytest.mark.usefixtures("debug")
@pytest.mark.parametrize("username", DEMO_USERNAMES)
def test_every_demo_user_can_log_in_with_the_demo_password(username):
    seed()

    client = APIClient()
    response = client.post("/api/v1/auth/token/", {"username": username, "password": "demo1234"}, format="json")

    assert response.status_code == 200
    assert response.json()["access"]


@pytest.mark.usefixtures("debug")
def test_alice_sees_her_offers_and_carol_only_generic_deals():
    # given
    seed()

    # when
    alice, carol = feed_of("alice"), feed_of("carol")

    # then
    assert Offer.objects.filter(user__username="alice").count() == 3
    assert not Offer.objects.filter(user__username="carol").exists()
    assert [(s["product"], s["source"]) for s in alice["sections"]] == [
        ("mobile", "personalised"),
        ("broadband", "personalised"),
        ("tv", "generic"),
        ("energy", "generic"),
    ]
    assert [(s["product"], s["source"]) for s in carol["sections"]] == [
        ("mobile", "generic"),
        ("broadband", "generic"),
        ("tv", "generic"),
        ("energy", "generic"),
    ]
    assert "Upgrade to Unlimited 5G" in str(alice)
    assert "Upgrade to Unlimited 5G" not in str(carol)


@pytest.mark.usefixtures("debug")
def test_running_it_twice_creates_nothing_twice():
    # given
    seed()
    first = counts()

    # when
    seed()

    # then
    assert counts() == first
    assert first["Product"] == 4
    assert first["User"] == 5
    assert first["Offer"] == 4  # alice 3, bob 1


@pytest.mark.usefixtures("debug")
def test_running_it_again_restores_a_changed_demo_password():
    seed()
    alice = get_user_model().objects.get(username="alice")
    alice.set_password("something-else")
    alice.save()

    seed()

    alice.refresh_from_db()
    assert alice.check_password("demo1234")


def test_without_debug_it_is_refused_and_creates_nothing(settings):
    # given production-like settings
    settings.DEBUG = False

    # when / then
    with pytest.raises(CommandError, match="DEBUG"):
        seed()
    assert set(counts().values()) == {0}
