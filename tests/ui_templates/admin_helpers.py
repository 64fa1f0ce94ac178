"""Helpers for the template admin tests: a marketer, and the change form as a browser posts it."""

from __future__ import annotations

import json
from typing import Any

from django.contrib.auth.models import User
from django.test import Client

from tests.factories import UserFactory
from ui_templates.groups import marketers_group

ADMIN = "/admin/ui_templates/componenttemplate/"


def marketer(username: str = "mia") -> User:
    user: User = UserFactory.create(username=username, is_staff=True)
    user.groups.add(marketers_group())
    return user


def client_for(user: User) -> Client:
    client = Client()
    client.force_login(user)
    return client


def form_data(
    *, key: str, tree: Any, slot: str = "", product_slug: str = "", name: str = "A template", raw: str | None = None
) -> dict[str, str]:
    return {
        "key": key,
        "name": name,
        "description": "",
        "slot": slot,
        "product_slug": product_slug,
        "draft_tree": raw if raw is not None else json.dumps(tree),
    }


def draft_errors(response: Any) -> list[str]:
    """The messages shown at the draft tree field of a refused form."""
    assert response.status_code == 200, response.status_code
    return list(response.context["adminform"].form.errors.get("draft_tree", []))
