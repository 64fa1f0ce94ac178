"""``manage.py reset_offer_stream``: a product backend that restarted its numbering gets its
events applied again once an operator resets the (user, product) stream; nothing else changes."""

from __future__ import annotations

from io import StringIO
from typing import Any

import pytest
from django.contrib.auth.models import User
from django.core.management import CommandError, call_command

from products.models import Product
from recommendations.models import Offer, OfferStream, ReceivedEvent
from tests.factories import ProductFactory, UserFactory
from tests.recommendations.test_product_events import Sender, event, offer_data

pytestmark = pytest.mark.django_db


@pytest.fixture
def alice(db: None) -> User:
    return UserFactory.create(username="alice")


@pytest.fixture
def bob(db: None) -> User:
    return UserFactory.create(username="bob")


@pytest.fixture
def mobile(db: None) -> Product:
    return ProductFactory.create(slug="mobile")


@pytest.fixture
def sender(mobile: Product, django_capture_on_commit_callbacks: Any) -> Sender:
    from products.webhooks import webhook_secret_create

    _, secret = webhook_secret_create(product=mobile)
    return Sender(mobile, secret, django_capture_on_commit_callbacks)


def reset(*args: str) -> str:
    out = StringIO()
    call_command("reset_offer_stream", *args, stdout=out)
    return out.getvalue()


def outcome(response: Any) -> str:
    assert response.status_code == 200, response.content
    result: str = response.json()["results"][0]["outcome"]
    return result


def test_a_restarted_numbering_is_applied_after_the_reset(alice: User, bob: User, sender: Sender) -> None:
    assert outcome(sender.post(event("old-1", sequence=1_700_000_000_000, data=offer_data("o-1")))) == "applied"
    assert outcome(sender.post(event("bob-1", subject="bob", sequence=50))) == "applied"
    # the backend restarted its numbering: its new events are older than the stream
    assert outcome(sender.post(event("new-1", sequence=1, data=offer_data("o-1", title="Renamed")))) == "stale"
    assert Offer.objects.get(user=alice).title == "Upgrade"

    printed = reset("--user", "alice", "--product", "mobile")

    assert "Reset alice's mobile stream (last sequence 1700000000000)" in printed
    assert not OfferStream.objects.filter(user=alice).exists()
    assert OfferStream.objects.get(user=bob).last_sequence == 50  # other streams untouched
    # a received event id stays known, a new one with the restarted numbering applies
    assert outcome(sender.post(event("new-1", sequence=1, data=offer_data("o-1", title="Renamed")))) == "duplicate"
    assert outcome(sender.post(event("new-2", sequence=2, data=offer_data("o-1", title="Renamed")))) == "applied"
    assert Offer.objects.get(user=alice).title == "Renamed"
    assert OfferStream.objects.get(user=alice).last_sequence == 2
    assert outcome(sender.post(event("new-3", sequence=1, data=offer_data("o-1", title="Older")))) == "stale"
    assert ReceivedEvent.objects.filter(event_id="old-1").exists()


def test_the_user_by_id_and_every_users_stream(alice: User, bob: User, sender: Sender) -> None:
    sender.post(event("a-1", sequence=10))
    sender.post(event("b-1", subject="bob", sequence=20))

    assert "Reset alice's mobile stream (last sequence 10)" in reset("--user", str(alice.pk), "--product", "mobile")
    printed = reset("--all-users", "--product", "mobile")

    assert "Reset bob's mobile stream (last sequence 20)" in printed
    assert not OfferStream.objects.exists()
    assert "Nothing to reset: alice has no mobile stream yet." in reset("--user", "alice", "--product", "mobile")


def test_nothing_to_reset_is_said_and_harmless(alice: User, mobile: Product) -> None:
    assert "Nothing to reset: alice has no mobile stream yet." in reset("--user", "alice", "--product", "mobile")
    assert "Nothing to reset: no user has a mobile stream yet." in reset("--all-users", "--product", "mobile")


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--user", "nobody", "--product", "mobile"], "No user 'nobody'"),
        (["--user", "alice", "--product", "boat"], "No product 'boat'"),
    ],
)
def test_an_unknown_user_or_product_is_an_error(alice: User, mobile: Product, args: list[str], message: str) -> None:
    with pytest.raises(CommandError, match=message):
        reset(*args)


def test_a_user_or_all_users_must_be_named(mobile: Product) -> None:
    with pytest.raises(CommandError, match="one of the arguments --user --all-users is required"):
        reset("--product", "mobile")
