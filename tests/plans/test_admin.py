"""Questions in the admin: listed, added with options, bad conditions and ranges refused."""

from __future__ import annotations

from typing import Any

import pytest
from django.contrib.auth.models import User
from django.test import Client

from recommendations.plans.models import Question

pytestmark = pytest.mark.django_db


@pytest.fixture
def admin_client_logged_in() -> Client:
    admin = User.objects.create_superuser("root", "root@example.com", "pw-123456")
    client = Client()
    client.force_login(admin)
    return client


def form(**fields: Any) -> dict[str, Any]:
    data = {
        "key": "speed",
        "text": "How fast?",
        "help_text": "",
        "kind": "single",
        "position": "5",
        "active": "on",
        "range_field": "",
        "range_operator": "",
        "range_min": "",
        "range_max": "",
        "range_unit": "",
        "options-TOTAL_FORMS": "1",
        "options-INITIAL_FORMS": "0",
        "options-MIN_NUM_FORMS": "0",
        "options-MAX_NUM_FORMS": "1000",
        "options-0-position": "0",
        "options-0-key": "fast",
        "options-0-label": "Fast",
        "options-0-conditions": '[{"field": "attributes.speed_mbps", "op": "gte", "value": 500}]',
    }
    data.update(fields)
    return data


def test_the_question_pages_render(admin_client_logged_in: Client) -> None:
    assert admin_client_logged_in.get("/admin/plans/question/").status_code == 200
    assert admin_client_logged_in.get("/admin/plans/question/add/").status_code == 200


def test_a_question_is_added_with_its_options(admin_client_logged_in: Client) -> None:
    response = admin_client_logged_in.post("/admin/plans/question/add/", form())
    assert response.status_code == 302, response.content[:2000]
    question = Question.objects.get(key="speed")
    assert [(o.key, o.conditions) for o in question.options.all()] == [
        ("fast", [{"field": "attributes.speed_mbps", "op": "gte", "value": 500}])
    ]


@pytest.mark.parametrize(
    ("fields", "words"),
    [
        ({"options-0-conditions": '[{"field": "colour", "op": "eq", "value": 1}]'}, "does not match"),
        ({"options-0-conditions": '[{"field": "price", "op": "lte", "value": "cheap"}]'}, "is not of type"),
        ({"kind": "range", "range_field": "price"}, "needs an operator"),
        (
            {"kind": "range", "range_field": "price", "range_operator": "lte", "range_min": "10", "range_max": "5"},
            "below the minimum",
        ),
    ],
)
def test_bad_questions_are_refused(admin_client_logged_in: Client, fields: dict[str, Any], words: str) -> None:
    response = admin_client_logged_in.post("/admin/plans/question/add/", form(**fields))
    assert response.status_code == 200
    assert words in response.content.decode()
    assert not Question.objects.filter(key="speed").exists()
