"""Who the template admin previews and checks with: sample users (fixtures) always, the demo
accounts only with DEBUG on; never the data of a real account, even one named like a demo user."""

from __future__ import annotations

import io
from typing import Any

import pytest
from django.contrib.auth import get_user_model
from django.core.management import call_command

from recommendations.preview import demo_samples, preview_feed
from tests.ui_templates.admin_helpers import ADMIN, client_for, form_data, marketer
from ui_templates import hooks, services
from ui_templates.models import ComponentTemplate
from ui_templates.selectors import published_templates
from ui_templates.slots import Slot

pytestmark = pytest.mark.django_db

CARD: dict[str, Any] = {"type": "card", "children": [{"type": "text", "props": {"text": "{{ offer.title }}"}}]}


@pytest.fixture
def accounts_named_like_the_demo(settings: Any) -> None:
    """Products, deals and alice with her offers, then DEBUG off: production with a customer alice."""
    settings.DEBUG = True
    call_command("seed_demo", stdout=io.StringIO())
    settings.DEBUG = False


def titles(feed: dict[str, Any]) -> list[str]:
    found: list[str] = []

    def walk(node: dict[str, Any]) -> None:
        if node.get("type") == "text" and node["props"].get("style") == "title":
            found.append(node["props"]["text"])
        for child in node.get("children", []):
            walk(child)

    for section in feed["sections"]:
        walk(section["component"])
    return found


def test_without_debug_no_account_is_previewed_or_sampled(accounts_named_like_the_demo: None) -> None:
    provider = hooks.preview_provider()
    assert provider is not None
    assert provider.users == ("sample-offers", "sample-deals")
    assert demo_samples(Slot.OFFER_CARD, "") == []
    assert services.provided_samples(slot=Slot.OFFER_CARD, product_slug="") == []
    with pytest.raises(LookupError):
        preview_feed(username="alice", template_set=published_templates())

    client = client_for(marketer())
    client.post(f"{ADMIN}add/", form_data(key="card", tree=CARD, slot=Slot.OFFER_CARD))
    template = ComponentTemplate.objects.get(key="card")
    result = client.get(f"{ADMIN}{template.pk}/preview/", {"user": "alice", "format": "json"}).json()
    assert result["error"] == "No preview for this user."
    assert "draft" not in result
    assert "published" not in result


def test_the_sample_users_are_fixtures_for_every_product(accounts_named_like_the_demo: None) -> None:
    accounts = get_user_model().objects.count()

    offers = preview_feed(username="sample-offers", template_set=published_templates())
    deals = preview_feed(username="sample-deals", template_set=published_templates())

    assert {section["source"] for section in offers["sections"]} == {"personalised"}
    assert set(titles(offers)) == {"An offer", "Another offer"}
    assert "Upgrade to Unlimited 5G" not in titles(offers)  # alice's real offer
    assert {section["source"] for section in deals["sections"]} == {"generic"}
    assert set(titles(deals)) == {"A deal", "Another deal"}
    assert len(offers["sections"]) == len(deals["sections"]) > 1
    assert get_user_model().objects.count() == accounts  # no account made for them


def test_with_debug_the_demo_accounts_are_previewed_and_checked_too(settings: Any) -> None:
    settings.DEBUG = True
    call_command("seed_demo", stdout=io.StringIO())
    provider = hooks.preview_provider()
    assert provider is not None

    assert provider.users == ("alice", "bob", "carol", "sample-offers", "sample-deals")
    assert "Upgrade to Unlimited 5G" in titles(preview_feed(username="alice", template_set=published_templates()))
    assert [label for label, _ in demo_samples(Slot.OFFER_CARD, "mobile")] == ["alice", "alice"]
