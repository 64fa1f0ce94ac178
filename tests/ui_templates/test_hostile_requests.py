"""Hostile templates over HTTP: the authoring API and the admin preview answer 400
``template_invalid`` naming the path, save and publish nothing, and render nothing for them."""

from __future__ import annotations

import html
import json
from typing import Any

import pytest
from django.contrib.auth.models import User
from rest_framework.test import APIClient
from rest_framework_simplejwt.tokens import AccessToken

from tests.ui_templates.admin_helpers import ADMIN, client_for, form_data, marketer
from ui_templates import hooks
from ui_templates.models import ComponentTemplate, TemplateVersion
from ui_templates.slots import Slot

pytestmark = pytest.mark.django_db

VALIDATE = "/api/v1/ui/templates/validate/"
CARD: dict[str, Any] = {"type": "card", "children": [{"type": "text", "props": {"text": "{{ offer.title }}"}}]}

# (id, binding in the card's text, the path named, words in its message)
HOSTILE: list[tuple[str, str, str, str]] = [
    ("cpu-bomb", "{{ 9 ** (3000000 + offer.priority) }}", "{key}:$.children[0].props.text", "256 bits"),
    ("memory-bomb", "{{ 'x' * 10 ** 9 }}", "{key}:$.children[0].props.text", "bytes produced"),
    ("mutation", "{{ offer.pop('title') }}", "$.children[0].props.text", "calls are not allowed"),
    (
        "tags",
        "{% for i in range(1000) %}{{ offer.title * 1000 }}{% endfor %}",
        "$.children[0].props.text",
        "statement tags",
    ),
    ("escape", "{{ cycler.__init__.__globals__ }}", "$.children[0].props.text", "'_'"),
]


def card(binding: str) -> dict[str, Any]:
    return {"type": "card", "children": [{"type": "text", "props": {"text": binding}}]}


def api_client(user: User) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {AccessToken.for_user(user)}")
    return client


def assert_refused(response: Any, path: str, words: str, *, key: str = "t") -> None:
    assert response.status_code == 400, response.content
    error = response.json()["error"]
    assert error["code"] == "template_invalid"
    [issue] = error["details"]["issues"]
    assert issue["path"] == path.format(key=key)  # "key:" first: found in the dry render
    assert words in issue["message"]


@pytest.mark.parametrize(("binding", "path", "words"), [h[1:] for h in HOSTILE], ids=[h[0] for h in HOSTILE])
def test_the_authoring_api_refuses_hostile_bindings_and_saves_nothing(binding: str, path: str, words: str) -> None:
    mia = api_client(marketer())
    tree = card(binding)

    assert_refused(mia.post(VALIDATE, {"tree": tree, "key": "t", "slot": Slot.OFFER_CARD}, format="json"), path, words)
    draft = mia.put("/api/v1/ui/templates/t/draft/", {"tree": tree, "slot": Slot.OFFER_CARD}, format="json")
    assert_refused(draft, path, words)

    assert not ComponentTemplate.objects.exists()


@pytest.mark.parametrize(("binding", "path", "words"), [h[1:] for h in HOSTILE], ids=[h[0] for h in HOSTILE])
def test_a_hostile_draft_stored_behind_the_checks_is_not_published(binding: str, path: str, words: str) -> None:
    template = ComponentTemplate.objects.create(key="t", name="t", slot=Slot.OFFER_CARD, draft_tree=card(binding))

    assert_refused(api_client(marketer()).post("/api/v1/ui/templates/t/publish/"), path, words)

    assert not TemplateVersion.objects.filter(template=template).exists()


@pytest.fixture
def previews(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """A preview provider recording which template sets it was asked to render."""
    rendered: list[str] = []

    def fake_feed(*, username: str, template_set: Any) -> dict[str, Any]:
        rendered.append(template_set.version_tag("card"))
        return {"sections": []}

    provider = hooks.PreviewProvider(render=fake_feed, list_users=lambda: ("sample-offers",))
    monkeypatch.setattr(hooks, "_preview_provider", [provider])
    return rendered


@pytest.mark.parametrize(("binding", "path", "words"), [h[1:] for h in HOSTILE], ids=[h[0] for h in HOSTILE])
def test_the_admin_preview_refuses_hostile_trees_without_rendering_them(
    previews: list[str], binding: str, path: str, words: str
) -> None:
    client = client_for(marketer())
    assert client.post(f"{ADMIN}add/", form_data(key="card", tree=CARD, slot=Slot.OFFER_CARD)).status_code == 302
    template = ComponentTemplate.objects.get(key="card")

    posted = client.post(
        f"{ADMIN}{template.pk}/preview/", json.dumps({"tree": card(binding)}), content_type="application/json"
    )
    assert_refused(posted, path, words, key="card")

    ComponentTemplate.objects.filter(pk=template.pk).update(draft_tree=card(binding))  # stored behind the checks
    assert_refused(client.get(f"{ADMIN}{template.pk}/preview/", {"format": "json"}), path, words, key="card")
    page = client.get(f"{ADMIN}{template.pk}/preview/")
    assert page.status_code == 400
    assert words in html.unescape(page.content.decode())

    assert previews == []  # neither the draft nor the published feed was rendered for them


def test_the_admin_form_refuses_a_hostile_draft_naming_the_path() -> None:
    client = client_for(marketer())
    response = client.post(
        f"{ADMIN}add/", form_data(key="card", tree=card("{{ offer.pop('title') }}"), slot=Slot.OFFER_CARD)
    )
    assert response.status_code == 200  # the form again, with the problem
    page = html.unescape(response.content.decode())
    assert "$.children[0].props.text: binding refused: calls are not allowed" in page
    assert not ComponentTemplate.objects.exists()
