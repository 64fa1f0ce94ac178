"""Marketers: what their group may do in the admin, and the whole change-a-card scenario."""

from __future__ import annotations

import io
import json
from typing import Any

import pytest
from asgiref.sync import async_to_sync, sync_to_async
from channels.layers import InMemoryChannelLayer, get_channel_layer
from channels.testing import WebsocketCommunicator
from django.contrib.auth.models import Group, User
from django.core.management import call_command
from django.test import Client
from rest_framework.test import APIClient
from rest_framework_simplejwt.tokens import AccessToken

from homeservice.asgi import application
from tests.factories import UserFactory
from tests.ui_templates.admin_helpers import ADMIN, client_for, form_data, marketer
from ui_templates.models import ComponentTemplate
from ui_templates.slots import Slot

TIMEOUT = 10

# alice's mobile offers, drawn as a promo badge over the title: a different layout from the built-in card.
BADGE_CARD: dict[str, Any] = {
    "type": "card",
    "props": {"offer_id": "{{ offer.id }}"},
    "children": [
        {"type": "badge", "props": {"label": "Members' deal", "tone": "promo"}},
        {"type": "text", "props": {"text": "{{ offer.title }}", "style": "title"}},
    ],
}


@pytest.mark.django_db
def test_the_migration_gives_marketers_templates_and_nothing_else() -> None:
    group = Group.objects.get(name="Marketers")
    perms = {(p.content_type.app_label, p.codename) for p in group.permissions.select_related("content_type")}
    assert perms == {
        ("ui_templates", "add_componenttemplate"),
        ("ui_templates", "change_componenttemplate"),
        ("ui_templates", "view_componenttemplate"),
        ("ui_templates", "publish_componenttemplate"),
        ("ui_templates", "view_templateversion"),
        ("ui_templates", "view_templateevent"),
    }


@pytest.mark.django_db
def test_a_marketer_edits_and_publishes_templates_but_sees_nothing_of_products() -> None:
    client = client_for(marketer())
    index = client.get("/admin/").content.decode()
    assert "/admin/ui_templates/componenttemplate/" in index
    assert "/admin/products/" not in index
    for url in ("/admin/products/product/", "/admin/products/product/add/", "/admin/products/dealsnapshot/"):
        assert client.get(url).status_code == 403, url
    assert client.get("/admin/products/").status_code == 404  # the app is not there for them

    assert client.get(ADMIN).status_code == 200
    response = client.post(
        f"{ADMIN}add/", {**form_data(key="card", tree=BADGE_CARD, slot=Slot.OFFER_CARD), "_publish": "1"}
    )
    assert response.status_code == 302
    template = ComponentTemplate.objects.get(key="card")
    assert template.published_version is not None
    for page in ("change/", "versions/", "preview/"):
        assert client.get(f"{ADMIN}{template.pk}/{page}").status_code == 200, page


@pytest.mark.django_db
def test_without_the_publish_permission_a_draft_is_saved_but_not_published() -> None:
    editor = UserFactory.create(username="ed", is_staff=True)
    editor.user_permissions.add(*marketer().groups.get().permissions.exclude(codename="publish_componenttemplate"))
    client = client_for(editor)
    response = client.post(
        f"{ADMIN}add/", {**form_data(key="card", tree=BADGE_CARD, slot=Slot.OFFER_CARD), "_publish": "1"}
    )
    template = ComponentTemplate.objects.get(key="card")
    assert response.status_code == 302
    assert template.published_version is None
    assert 'name="_publish"' not in client.get(f"{ADMIN}{template.pk}/change/").content.decode()
    assert client.post(f"{ADMIN}{template.pk}/unpublish/").status_code == 403


# --- Done when: change a card for one product, preview, publish, see the feed change, roll back --------


@pytest.fixture
def _clean_in_memory_layer() -> None:
    layer = get_channel_layer()
    if isinstance(layer, InMemoryChannelLayer):
        async_to_sync(layer.flush)()


def home_feed(user: User) -> dict[str, Any]:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {AccessToken.for_user(user)}")
    response = client.get("/api/v1/home/")
    assert response.status_code == 200
    feed: dict[str, Any] = response.json()
    return feed


def section(feed: dict[str, Any], product: str) -> dict[str, Any]:
    [found] = [s for s in feed["sections"] if s["product"] == product]
    return found


def cards(section: dict[str, Any]) -> list[dict[str, Any]]:
    [carousel] = section["component"]["children"]
    result: list[dict[str, Any]] = carousel["children"]
    return result


def has_badge_layout(section: dict[str, Any]) -> bool:
    return all([c["type"] for c in card["children"]] == ["badge", "text"] for card in cards(section))


@pytest.mark.django_db(transaction=True)
@pytest.mark.usefixtures("_clean_in_memory_layer")
def test_a_marketer_changes_alices_mobile_card_previews_publishes_and_rolls_back(settings: Any) -> None:
    settings.DEBUG = True
    call_command("seed_demo", stdout=io.StringIO())
    alice = User.objects.get(username="alice")
    before = home_feed(alice)
    assert not has_badge_layout(section(before, "mobile"))
    client: Client = client_for(marketer())

    # 1. A draft card for mobile with another layout: saved, not yet live.
    response = client.post(
        f"{ADMIN}add/",
        form_data(key="mobile-offer-card", tree=BADGE_CARD, slot=Slot.OFFER_CARD, product_slug="mobile"),
    )
    assert response.status_code == 302
    template = ComponentTemplate.objects.get(key="mobile-offer-card")
    assert home_feed(alice)["sections"] == before["sections"]

    # 2. The preview for alice shows the draft beside what is live.
    preview = client.get(f"{ADMIN}{template.pk}/preview/", {"user": "alice", "format": "json"}).json()
    assert preview["issues"] == []
    assert has_badge_layout(section(preview["draft"], "mobile"))
    assert not has_badge_layout(section(preview["published"], "mobile"))
    assert section(preview["draft"], "broadband") == section(preview["published"], "broadband")
    assert "Members&#x27; deal" in client.get(f"{ADMIN}{template.pk}/preview/", {"user": "alice"}).content.decode()

    # 3. Publish while alice is connected: her socket gets the new mobile section, nothing else.
    async def publish_while_connected() -> dict[str, Any]:
        headers = [(b"authorization", f"Bearer {AccessToken.for_user(alice)}".encode())]
        socket = WebsocketCommunicator(application, "/ws/home/", headers=headers)
        connected, _ = await socket.connect(timeout=TIMEOUT)
        assert connected
        assert (await socket.receive_json_from(timeout=TIMEOUT))["type"] == "feed.snapshot"
        response = await sync_to_async(client.post)(
            f"{ADMIN}{template.pk}/change/",
            {
                **form_data(key="mobile-offer-card", tree=BADGE_CARD, slot=Slot.OFFER_CARD, product_slug="mobile"),
                "_publish": "1",
            },
        )
        assert response.status_code == 302
        update: dict[str, Any] = await socket.receive_json_from(timeout=TIMEOUT)
        await socket.disconnect()
        return update

    update = async_to_sync(publish_while_connected)()
    published = home_feed(alice)
    assert update["type"] == "feed.updated"
    assert update["version"] == published["version"]
    assert [s["id"] for s in update["sections"]] == ["product-mobile"]
    assert has_badge_layout(section(published, "mobile"))
    assert "Members' deal" in json.dumps(section(published, "mobile"))
    assert section(published, "broadband") == section(before, "broadband")
    # bob's tv card is untouched: the template is for mobile only
    assert "Members' deal" not in json.dumps(home_feed(User.objects.get(username="bob")))

    # 4. Roll back: withdraw it, and alice's mobile section is as before.
    assert client.post(f"{ADMIN}{template.pk}/unpublish/").status_code == 302
    after = home_feed(alice)
    assert section(after, "mobile") == section(before, "mobile")
    assert after["version"] == before["version"]
    assert list(template.events.values_list("action", "actor__username")) == [
        ("unpublished", "mia"),
        ("published", "mia"),
    ]
