"""The template editor's visual preview: the web client in preview mode, draft beside published,
following unsaved edits (POSTed trees are rendered, never saved)."""

from __future__ import annotations

import json
from typing import Any

import pytest
from django.test import Client

from tests.ui_templates.admin_helpers import ADMIN, client_for, form_data, marketer
from ui_templates import hooks
from ui_templates.models import ComponentTemplate
from ui_templates.slots import Slot

pytestmark = pytest.mark.django_db

CARD: dict[str, Any] = {"type": "card", "children": [{"type": "text", "props": {"text": "{{ offer.title }}"}}]}


@pytest.fixture
def rendered(monkeypatch: pytest.MonkeyPatch) -> list[Any]:
    """A preview provider that records the draft tree it renders and returns it as the feed."""
    trees: list[Any] = []

    def fake_feed(*, username: str, template_set: Any) -> dict[str, Any]:
        if template_set.version_tag("card") == "draft":
            trees.append(template_set.entries["card"].tree)
        return {"version": template_set.version_tag("card"), "sections": []}

    monkeypatch.setattr(
        hooks, "_preview_provider", [hooks.PreviewProvider(render=fake_feed, list_users=lambda: ("alice", "bob"))]
    )
    return trees


def make_template(client: Client) -> ComponentTemplate:
    response = client.post(f"{ADMIN}add/", form_data(key="card", tree=CARD, slot=Slot.OFFER_CARD))
    assert response.status_code == 302
    return ComponentTemplate.objects.get(key="card")


def test_the_editor_shows_the_draft_beside_the_published_screen_in_the_web_client(rendered: list[Any]) -> None:
    client = client_for(marketer())
    template = make_template(client)

    page = client.get(f"{ADMIN}{template.pk}/change/").content.decode()

    assert 'id="hs-visual-preview"' in page
    assert f'data-template="{template.pk}"' in page
    assert 'iframe data-side="draft"' in page
    assert 'iframe data-side="published"' in page
    assert '<option value="alice" selected>alice</option>' in page
    assert "ui_templates/visual_preview.js" in page


def test_the_preview_page_shows_the_same_frames(rendered: list[Any]) -> None:
    client = client_for(marketer())
    template = make_template(client)

    page = client.get(f"{ADMIN}{template.pk}/preview/", {"user": "bob"}).content.decode()

    assert 'iframe data-side="draft"' in page
    assert '<option value="bob" selected>bob</option>' in page


def test_a_posted_tree_is_previewed_as_the_draft_and_not_saved(rendered: list[Any]) -> None:
    client = client_for(marketer())
    template = make_template(client)
    edited = {"type": "card", "children": [{"type": "badge", "props": {"label": "Autumn"}}]}

    response = client.post(
        f"{ADMIN}{template.pk}/preview/?user=bob",
        json.dumps({"tree": edited, "editor": "raw"}),
        content_type="application/json",
    )

    assert response.status_code == 200
    result = response.json()
    assert result["user"] == "bob"
    assert result["draft"]["version"] == "draft"
    assert result["issues"] == []
    assert rendered == [edited]
    template.refresh_from_db()
    assert template.draft_tree == CARD


def test_a_tree_from_the_form_editor_has_its_empty_fields_left_out(rendered: list[Any]) -> None:
    client = client_for(marketer())
    template = make_template(client)
    from_form = {"type": "badge", "id": "", "if": "", "props": {"label": "New", "tone": ""}, "children": []}

    response = client.post(
        f"{ADMIN}{template.pk}/preview/?user=alice",
        json.dumps({"tree": from_form, "editor": "form"}),
        content_type="application/json",
    )

    assert response.status_code == 200
    assert response.json()["issues"] == []
    assert rendered == [{"type": "badge", "props": {"label": "New"}}]


def test_a_posted_invalid_tree_is_previewed_with_its_issues(rendered: list[Any]) -> None:
    client = client_for(marketer())
    template = make_template(client)

    response = client.post(
        f"{ADMIN}{template.pk}/preview/?user=alice",
        json.dumps({"tree": {"type": "marquee"}}),
        content_type="application/json",
    )

    assert response.status_code == 200
    assert response.json()["issues"][0]["path"] == "$.type"


@pytest.mark.parametrize("body", ["not json", "[1, 2]", '{"no_tree": 1}', '"tree"'])
def test_a_bad_preview_body_is_a_400(rendered: list[Any], body: str) -> None:
    client = client_for(marketer())
    template = make_template(client)

    response = client.post(f"{ADMIN}{template.pk}/preview/", body, content_type="application/json")

    assert response.status_code == 400
    assert response.json()["error"]["code"] == "parse_error"


def test_posting_a_preview_needs_the_csrf_token(rendered: list[Any]) -> None:
    template = make_template(client_for(marketer()))
    client = Client(enforce_csrf_checks=True)
    client.force_login(marketer(username="mia2"))

    response = client.post(
        f"{ADMIN}{template.pk}/preview/", json.dumps({"tree": CARD}), content_type="application/json"
    )

    assert response.status_code == 403
