"""The template editor's two modes: a form from the editor schema (default) and raw JSON."""

from __future__ import annotations

import json
from typing import Any

import pytest
from jsonschema import Draft202012Validator

from tests.ui_templates.admin_helpers import ADMIN, client_for, draft_errors, form_data, marketer
from ui_templates import defaults
from ui_templates.admin_forms import EDITOR_MARKER, form_tree, stored_tree
from ui_templates.catalogue import ACTIONS, COMPONENTS
from ui_templates.models import ComponentTemplate
from ui_templates.schema import editor_schema, template_schema

BUILT_IN = [
    tree
    for name, value in vars(defaults).items()
    if name.isupper() and isinstance(value, dict)
    for tree in ([value] if "type" in value or "ref" in value else value.values())
]
CARD: dict[str, Any] = {
    "type": "card",
    "children": [
        {"type": "badge", "props": {"label": "Hot", "tone": "promo"}},
        {"type": "text", "props": {"text": "{{ offer.title }}"}},
    ],
}


def editor_errors(tree: Any) -> list[str]:
    return [error.message for error in Draft202012Validator(editor_schema()).iter_errors(tree)]


def test_every_catalogue_type_and_action_is_an_editor_option() -> None:
    defs = editor_schema()["$defs"]
    node_titles = {variant["title"] for variant in defs["node"]["oneOf"]}
    assert set(COMPONENTS) <= node_titles
    assert {"include by ref", "include by slot"} <= node_titles
    assert {variant["title"] for variant in defs["action"]["oneOf"]} == set(ACTIONS)
    for variant in defs["node"]["oneOf"]:
        if variant["title"] in COMPONENTS:
            assert variant["properties"]["type"] == {"const": variant["title"], "title": "type"}
            assert set(variant["properties"]["props"]["properties"]) == set(COMPONENTS[variant["title"]].props)
    Draft202012Validator.check_schema(editor_schema())


@pytest.mark.parametrize("tree", BUILT_IN, ids=range(len(BUILT_IN)))
def test_built_in_templates_fit_the_editor_and_round_trip(tree: Any) -> None:
    assert BUILT_IN
    assert editor_errors(tree) == []
    assert not list(Draft202012Validator(template_schema()).iter_errors(tree))
    # What the form is given (every field present), saved back with its empty fields left out.
    assert stored_tree(json.loads(json.dumps(form_tree(tree)))) == tree


@pytest.mark.parametrize(
    "tree",
    [
        {"type": "marquee", "props": {"text": "hi"}},
        {"type": "card", "children": [{"type": "blink"}]},
        {"type": "button", "props": {"label": "Go"}, "action": {"type": "teleport"}},
        {"type": "text", "props": {"text": "hi", "style": "{{ offer.style }}"}},  # a binding in a choice
    ],
)
def test_the_editor_schema_refuses_what_the_form_cannot_show(tree: Any) -> None:
    assert editor_errors(tree)


@pytest.mark.django_db
def test_the_change_page_shows_the_form_by_default_and_a_textarea_in_raw_mode() -> None:
    client = client_for(marketer())
    template = ComponentTemplate.objects.create(key="card", name="Card", draft_tree=CARD)
    page = client.get(f"{ADMIN}{template.pk}/change/")
    form_page = page.content.decode()
    assert "data-django-jsonform" in form_page
    assert "django_jsonform/react-json-form.js" in form_page
    assert f'name="{EDITOR_MARKER}" value="form"' in form_page
    widget = page.context["adminform"].form.fields["draft_tree"].widget
    assert widget.get_schema() is editor_schema()
    assert '<a href="?editor=raw">Raw JSON</a>' in form_page

    raw_page = client.get(f"{ADMIN}{template.pk}/change/?editor=raw").content.decode()
    assert "data-django-jsonform" not in raw_page
    assert '<textarea name="draft_tree"' in raw_page
    assert EDITOR_MARKER not in raw_page
    assert '<a href="?editor=form">Form</a>' in raw_page


@pytest.mark.django_db
def test_a_draft_the_form_cannot_show_opens_as_raw_json() -> None:
    tree = {"type": "text", "props": {"text": "hi", "style": "{{ offer.style }}"}}
    template = ComponentTemplate.objects.create(key="t", name="T", draft_tree=tree)
    page = client_for(marketer()).get(f"{ADMIN}{template.pk}/change/").content.decode()
    assert "data-django-jsonform" not in page
    assert "the form cannot show" in page


def _as_the_form_posts(tree: Any) -> str:
    return json.dumps(form_tree(tree))


@pytest.mark.django_db
def test_a_form_post_saves_the_draft_without_its_empty_fields() -> None:
    client = client_for(marketer())
    data = form_data(key="card", tree=None, raw=_as_the_form_posts(CARD)) | {EDITOR_MARKER: "form"}
    response = client.post(f"{ADMIN}add/", data)
    assert response.status_code == 302, draft_errors(response)
    assert ComponentTemplate.objects.get(key="card").draft_tree == CARD


@pytest.mark.django_db
def test_a_form_post_of_a_bad_draft_is_refused_at_its_json_path() -> None:
    bad = {"type": "card", "children": [{"type": "image", "props": {"url": "https://x.test/a.png"}}]}
    data = form_data(key="card", tree=None, raw=_as_the_form_posts(bad)) | {EDITOR_MARKER: "form"}
    response = client_for(marketer()).post(f"{ADMIN}add/", data)
    errors = draft_errors(response)
    assert any(error.startswith("$.children[0].props: ") and "alt" in error for error in errors), errors
    assert not ComponentTemplate.objects.filter(key="card").exists()
    assert "data-django-jsonform" in response.content.decode()  # still the form, to fix it there


@pytest.mark.django_db
def test_raw_mode_saves_a_good_draft_refuses_a_bad_one_and_stays_raw() -> None:
    client = client_for(marketer())
    response = client.post(f"{ADMIN}add/?editor=raw", {**form_data(key="card", tree=CARD), "_continue": "1"})
    assert response.status_code == 302
    assert response["Location"].endswith("?editor=raw")
    template = ComponentTemplate.objects.get(key="card")
    assert template.draft_tree == CARD

    bad = {"type": "card", "children": [{"type": "text", "props": {"text": "{{ offer.title }}", "style": "huge"}}]}
    response = client.post(f"{ADMIN}{template.pk}/change/?editor=raw", form_data(key="card", tree=bad))
    errors = draft_errors(response)
    assert any(error.startswith("$.children[0].props.style: ") for error in errors), errors
    assert '<textarea name="draft_tree"' in response.content.decode()
    template.refresh_from_db()
    assert template.draft_tree == CARD
