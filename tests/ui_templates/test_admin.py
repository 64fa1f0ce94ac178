"""The template admin: the editor refuses bad input at its JSON path; publish, history, preview."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from django.utils import timezone
from django.utils.html import escape

from tests.ui_templates.admin_helpers import ADMIN, client_for, draft_errors, form_data, marketer
from tests.ui_templates.bad_input import BAD_TREES, LOOP_A
from ui_templates import services
from ui_templates.admin import tree_diff
from ui_templates.models import ComponentTemplate, TemplateEvent, TemplateVersion
from ui_templates.slots import Slot

pytestmark = pytest.mark.django_db

CARD: dict[str, Any] = {
    "type": "card",
    "children": [
        {"type": "badge", "props": {"label": "Hot"}},
        {"type": "text", "props": {"text": "{{ offer.title }}"}},
    ],
}


def publish_directly(key: str, tree: Any) -> ComponentTemplate:
    """A published template made without checks (to set up what the check must then catch)."""
    template = ComponentTemplate.objects.create(key=key, name=key, draft_tree=tree)
    template.published_version = TemplateVersion.objects.create(template=template, number=1, tree=tree)
    template.save()
    return template


@pytest.mark.parametrize(("key", "tree", "path", "words"), [c[1:] for c in BAD_TREES], ids=[c[0] for c in BAD_TREES])
def test_the_editor_refuses_bad_trees_naming_the_json_path(key: str, tree: Any, path: str, words: str) -> None:
    publish_directly(LOOP_A.key, LOOP_A.tree)
    response = client_for(marketer()).post(f"{ADMIN}add/", form_data(key=key, tree=tree))
    errors = draft_errors(response)
    assert any(error.startswith(f"{path}: ") and words in error for error in errors), errors
    assert not ComponentTemplate.objects.filter(key=key).exists()


def test_invalid_json_is_refused_with_its_line_and_column() -> None:
    raw = '{\n  "type": "text",\n  "props": {"text": "hi",}\n}'
    response = client_for(marketer()).post(f"{ADMIN}add/", form_data(key="t", tree=None, raw=raw))
    [error] = draft_errors(response)
    assert error.startswith("Invalid JSON at line 3 column 26")
    assert escape(raw) in response.content.decode()  # what was typed is kept for fixing


def test_saving_a_draft_publishes_nothing_and_the_editor_shows_it_indented() -> None:
    client = client_for(marketer())
    response = client.post(f"{ADMIN}add/", form_data(key="card", tree=CARD, slot=Slot.OFFER_CARD))
    assert response.status_code == 302
    template = ComponentTemplate.objects.get(key="card")
    assert template.draft_tree == CARD
    assert template.published_version is None
    page = client.get(f"{ADMIN}{template.pk}/change/").content.decode()
    assert "&quot;type&quot;: &quot;card&quot;,\n" in page
    assert 'name="_publish"' in page


def test_publish_draft_creates_a_version_and_records_who() -> None:
    user = marketer()
    client = client_for(user)
    response = client.post(f"{ADMIN}add/", {**form_data(key="card", tree=CARD, slot=Slot.OFFER_CARD), "_publish": "1"})
    template = ComponentTemplate.objects.get(key="card")
    assert response.status_code == 302
    assert response["Location"] == f"{ADMIN}{template.pk}/change/"
    assert template.published_version is not None
    assert template.published_version.number == 1
    event = template.events.get()
    assert (event.action, event.actor, event.version) == ("published", user, template.published_version)


def test_history_shows_versions_diffs_and_events_and_rolls_back() -> None:
    user = marketer()
    client = client_for(user)
    client.post(f"{ADMIN}add/", {**form_data(key="card", tree=CARD, slot=Slot.OFFER_CARD), "_publish": "1"})
    template = ComponentTemplate.objects.get(key="card")
    changed = {**CARD, "children": [{"type": "badge", "props": {"label": "New"}}, *CARD["children"][1:]]}
    client.post(
        f"{ADMIN}{template.pk}/change/",
        {**form_data(key="card", tree=changed, slot=Slot.OFFER_CARD), "_publish": "1"},
    )
    v1, v2 = template.versions.order_by("number")

    page = client.get(f"{ADMIN}{template.pk}/versions/").content.decode()
    assert "Version 2 (live)" in page
    assert "-        &quot;label&quot;: &quot;Hot&quot;" in page
    assert "+        &quot;label&quot;: &quot;New&quot;" in page
    assert "Roll back to this version" in page

    response = client.post(f"{ADMIN}{template.pk}/versions/{v1.pk}/rollback/")
    assert response.status_code == 302
    template.refresh_from_db()
    assert template.published_version == v1
    assert template.events.first().action == TemplateEvent.Action.ROLLED_BACK  # type: ignore[union-attr]

    client.post(f"{ADMIN}{template.pk}/unpublish/")
    template.refresh_from_db()
    assert template.published_version is None
    assert v2.tree == changed  # versions never change


def test_a_readable_diff_of_two_trees() -> None:
    diff = tree_diff({"a": 1}, {"a": 2}, old_name="v1", new_name="v2")
    assert diff.splitlines() == ["--- v1", "+++ v2", "@@ -1,3 +1,3 @@", " {", '-  "a": 1', '+  "a": 2', " }"]


def test_schedule_from_the_history_page() -> None:
    client = client_for(marketer())
    client.post(f"{ADMIN}add/", form_data(key="card", tree=CARD, slot=Slot.OFFER_CARD))
    template = ComponentTemplate.objects.get(key="card")
    version = services.template_version_create(template=template, tree=CARD, user=None)
    start = (timezone.now() + timedelta(days=1)).replace(microsecond=0, second=0)
    response = client.post(
        f"{ADMIN}{template.pk}/versions/{version.pk}/schedule/",
        {"publish_at": start.strftime("%Y-%m-%dT%H:%M"), "unpublish_at": ""},
    )
    assert response.status_code == 302
    version.refresh_from_db()
    assert version.publish_at == start
    assert template.events.get().action == TemplateEvent.Action.SCHEDULED


def test_preview_shows_draft_beside_published_and_the_client_versions(monkeypatch: pytest.MonkeyPatch) -> None:
    from ui_templates import hooks

    seen: list[str] = []

    def fake_feed(*, username: str, template_set: Any) -> dict[str, Any]:
        seen.append(template_set.version_tag("card"))
        component = {"type": "countdown", "id": "c", "props": {"ends_at": "2030-01-01T00:00:00Z"}}
        return {"sections": [{"id": "s", "component": component}]}

    monkeypatch.setattr(
        hooks, "_preview_provider", [hooks.PreviewProvider(render=fake_feed, list_users=lambda: ("alice", "bob"))]
    )
    client = client_for(marketer())
    client.post(f"{ADMIN}add/", form_data(key="card", tree=CARD, slot=Slot.OFFER_CARD))
    template = ComponentTemplate.objects.get(key="card")

    result = client.get(f"{ADMIN}{template.pk}/preview/", {"user": "bob", "format": "json"}).json()
    assert result["user"] == "bob"
    assert seen == ["builtin", "draft"]  # published, then the draft swapped in
    assert result["client_versions"] == {"renders_fully_from": 2, "with_fallbacks": [1], "newest": 2}
    assert result["issues"] == []
    page = client.get(f"{ADMIN}{template.pk}/preview/", {"user": "alice"}).content.decode()
    assert "renders fully on client catalogue versions &ge; 2" in page
    assert "Versions 1 get fallbacks" in page


def test_version_and_event_admins_are_read_only() -> None:
    from django.contrib.auth.models import User

    superuser = User.objects.create_superuser("root", password="pw-123456")
    client = client_for(superuser)
    template = publish_directly("part", {"type": "divider"})
    assert client.get("/admin/ui_templates/templateversion/add/").status_code == 403
    version = template.published_version
    assert version is not None
    page = client.get(f"/admin/ui_templates/templateversion/{version.pk}/change/").content.decode()
    assert 'name="_save"' not in page
    assert client.post(f"/admin/ui_templates/templateversion/{version.pk}/delete/").status_code == 403
    assert client.get("/admin/ui_templates/templateevent/add/").status_code == 403
