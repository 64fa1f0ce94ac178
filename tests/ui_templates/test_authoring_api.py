"""The template authoring API: the same checks as the admin, refusals naming the JSON path."""

from __future__ import annotations

from typing import Any

import pytest
from django.contrib.auth.models import User
from rest_framework.test import APIClient
from rest_framework_simplejwt.tokens import AccessToken

from tests.factories import UserFactory
from tests.ui_templates.admin_helpers import marketer
from tests.ui_templates.bad_input import BAD_TREES, LOOP_A
from ui_templates.models import ComponentTemplate, TemplateEvent, TemplateVersion

pytestmark = pytest.mark.django_db

VALIDATE = "/api/v1/ui/templates/validate/"
CARD = {"type": "card", "children": [{"type": "badge", "props": {"label": "{{ offer.title }}"}}]}


def client_for(user: User) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {AccessToken.for_user(user)}")
    return client


@pytest.fixture
def mia() -> APIClient:
    return client_for(marketer("mia"))


def publish_loop_a() -> None:
    template = ComponentTemplate.objects.create(key=LOOP_A.key, name="Loop A", draft_tree=LOOP_A.tree)
    template.published_version = TemplateVersion.objects.create(template=template, number=1, tree=LOOP_A.tree)
    template.save()


@pytest.mark.parametrize(("case", "key", "tree", "path", "words"), BAD_TREES, ids=[b[0] for b in BAD_TREES])
def test_bad_trees_are_refused_with_their_path(mia: APIClient, case: str, key: str, tree: Any, path: str, words: str):
    if case == "cycle":
        publish_loop_a()
    # when validated, and when saved as a draft
    for response in (
        mia.post(VALIDATE, {"tree": tree, "key": key}, format="json"),
        mia.put(f"/api/v1/ui/templates/{key}/draft/", {"tree": tree}, format="json"),
    ):
        # then
        assert response.status_code == 400
        error = response.json()["error"]
        assert error["code"] == "template_invalid"
        assert any(i["path"] == path and words in i["message"] for i in error["details"]["issues"]), error
    assert not ComponentTemplate.objects.filter(key=key).exclude(key=LOOP_A.key).exists()


def test_invalid_json_is_a_parse_error(mia: APIClient):
    response = mia.generic("POST", VALIDATE, '{"tree": {"type": ', content_type="application/json")
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "parse_error"


def test_an_unknown_slot_names_the_field(mia: APIClient):
    response = mia.post(VALIDATE, {"tree": CARD, "slot": "nowhere"}, format="json")
    assert response.status_code == 400
    assert "slot" in response.json()["error"]["details"]


def test_a_good_tree_validates_and_says_which_clients_render_it(mia: APIClient):
    tree = {"type": "stack", "children": [{"type": "countdown", "props": {"ends_at": "2030-01-01T00:00:00Z"}}]}
    response = mia.post(VALIDATE, {"tree": tree}, format="json")
    assert response.status_code == 200
    assert response.json() == {"valid": True, "issues": [], "min_client_version": 2}


def test_a_draft_is_saved_then_published_as_a_new_version(mia: APIClient):
    # given a draft for mobile's offer card
    response = mia.put(
        "/api/v1/ui/templates/mobile-card/draft/",
        {"tree": CARD, "slot": "offer.card", "product_slug": "mobile", "name": "Mobile card"},
        format="json",
    )
    assert response.status_code == 201
    # when published
    response = mia.post("/api/v1/ui/templates/mobile-card/publish/")
    # then
    assert response.status_code == 200
    assert response.json() == {"key": "mobile-card", "version": 1, "action": "published"}
    template = ComponentTemplate.objects.get(key="mobile-card")
    assert template.published_version is not None
    assert template.published_version.tree == CARD
    assert TemplateEvent.objects.get(template=template).actor.username == "mia"  # type: ignore[union-attr]


def test_editing_and_publishing_need_their_permissions():
    nobody = client_for(UserFactory.create())
    assert nobody.post(VALIDATE, {"tree": CARD}, format="json").status_code == 403
    assert APIClient().post(VALIDATE, {"tree": CARD}, format="json").status_code == 401
    ComponentTemplate.objects.create(key="k", name="K", draft_tree=CARD)
    response = nobody.post("/api/v1/ui/templates/k/publish/")
    assert response.status_code == 403
    assert response.json()["error"]["code"] == "permission_denied"


def test_publishing_an_unknown_template_is_a_404(mia: APIClient):
    assert mia.post("/api/v1/ui/templates/ghost/publish/").status_code == 404
