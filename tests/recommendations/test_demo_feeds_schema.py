"""The demo users' feeds are valid SDUI documents for every client version (docs/sdui.md).

Through the real API after ``manage.py seed_demo``: every section's component validates against
the document schema derived from the catalogue, uses only types the client's version knows, and
no node id appears twice in a feed (clients key their views by id).
"""

from __future__ import annotations

import io
from collections import Counter
from collections.abc import Iterator, Mapping
from typing import Any

import pytest
from django.contrib.auth import get_user_model
from django.core.management import call_command
from rest_framework.test import APIClient
from rest_framework_simplejwt.tokens import AccessToken

from recommendations.demo import DEMO_USERS
from ui_templates.catalogue import CATALOGUE_VERSION, COMPONENTS
from ui_templates.schema import validate_document

pytestmark = pytest.mark.django_db


@pytest.fixture
def _demo(settings: Any) -> None:
    settings.DEBUG = True  # the seed refuses to run without it
    call_command("seed_demo", stdout=io.StringIO())


def nodes(component: Mapping[str, Any]) -> Iterator[Mapping[str, Any]]:
    yield component
    for child in component.get("children", []):
        yield from nodes(child)


def feed_of(username: str, client_version: int) -> dict[str, Any]:
    client = APIClient()
    user = get_user_model().objects.get(username=username)
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {AccessToken.for_user(user)}")
    response = client.get("/api/v1/home/", HTTP_X_SDUI_VERSION=str(client_version))
    assert response.status_code == 200, response.content
    feed: dict[str, Any] = response.json()
    return feed


@pytest.mark.usefixtures("_demo")
@pytest.mark.parametrize("client_version", range(1, CATALOGUE_VERSION + 1))
@pytest.mark.parametrize("username", DEMO_USERS)
def test_every_demo_feed_is_a_valid_document(username: str, client_version: int) -> None:
    feed = feed_of(username, client_version)

    assert feed["sections"], f"{username} sees an empty screen"
    for section in feed["sections"]:
        issues = validate_document(section["component"])
        assert issues == [], f"{username} v{client_version} {section['id']}: {[i.as_dict() for i in issues]}"
        too_new = {n["type"] for n in nodes(section["component"]) if COMPONENTS[n["type"]].since > client_version}
        assert too_new == set(), f"{username} v{client_version} {section['id']} has {too_new}"


@pytest.mark.usefixtures("_demo")
@pytest.mark.parametrize("client_version", range(1, CATALOGUE_VERSION + 1))
@pytest.mark.parametrize("username", DEMO_USERS)
def test_node_ids_are_unique_in_a_feed(username: str, client_version: int) -> None:
    feed = feed_of(username, client_version)

    ids = Counter(n["id"] for section in feed["sections"] for n in nodes(section["component"]))
    assert [node_id for node_id, count in ids.items() if count > 1] == []
    assert len(ids) > len(feed["sections"])
