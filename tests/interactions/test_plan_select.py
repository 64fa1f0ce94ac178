"""POST /api/v1/plans/select/: the choice is stored and forwarded to the plan's product backend
through the outbox, in one transaction; bad input is a 400 naming the field, nothing stored."""

from __future__ import annotations

from typing import Any

import pytest
from rest_framework.test import APIClient

from products.models import Product
from recommendations.interactions.models import OutboxMessage, PlanSelection
from tests.factories import PlanFactory, ProductFactory
from tests.interactions.conftest import Received

URL = "/api/v1/plans/select/"

pytestmark = pytest.mark.django_db


def test_a_selection_is_stored_and_forwarded_signed(
    auth_client: APIClient, user: Any, product: Product, received: Received, django_capture_on_commit_callbacks: Any
) -> None:
    plan = PlanFactory.create(product=product, code="5g-max", name="5G Max")
    with django_capture_on_commit_callbacks(execute=True):
        response = auth_client.post(URL, {"plan_id": plan.pk, "request_id": "r-1"}, format="json")

    assert response.status_code == 201, response.content
    body = response.json()
    assert body["plan"] == {"id": plan.pk, "code": "5g-max", "product": "mobile"}
    assert (body["request_id"], body["forwarded"]) == ("r-1", True)
    selection = PlanSelection.objects.get()
    assert (selection.user, selection.plan, selection.product) == (user, plan, product)

    assert received.bad_signatures == 0
    [(_, envelope)] = received.deliveries
    assert envelope["type"] == "plan.selected"
    assert envelope["data"]["user"] == user.username
    assert envelope["data"]["plan"]["code"] == "5g-max"
    assert envelope["data"]["request_id"] == "r-1"
    assert OutboxMessage.objects.get().status == OutboxMessage.Status.DELIVERED


def test_by_code_and_product_and_idempotent_per_request_id(
    auth_client: APIClient, product: Product, received: Received, django_capture_on_commit_callbacks: Any
) -> None:
    PlanFactory.create(product=product, code="basic")
    with django_capture_on_commit_callbacks(execute=True):
        first = auth_client.post(URL, {"plan": "basic", "product": "mobile", "request_id": "r-9"}, format="json")
        again = auth_client.post(URL, {"plan": "basic", "product": "mobile", "request_id": "r-9"}, format="json")
    assert (first.status_code, again.status_code) == (201, 200)
    assert first.json()["id"] == again.json()["id"]
    assert PlanSelection.objects.count() == 1
    assert len(received.deliveries) == 1


def test_a_product_without_events_endpoint_stores_the_choice_unforwarded(auth_client: APIClient) -> None:
    plan = PlanFactory.create(product=ProductFactory.create(events_endpoint=""))
    response = auth_client.post(URL, {"plan_id": plan.pk}, format="json")
    assert response.status_code == 201
    assert response.json()["forwarded"] is False
    assert PlanSelection.objects.count() == 1
    assert not OutboxMessage.objects.exists()


def _bad(auth_client: APIClient, body: Any) -> dict[str, Any]:
    response = auth_client.post(URL, body, format="json")
    assert response.status_code == 400, response.content
    assert not PlanSelection.objects.exists()
    assert not OutboxMessage.objects.exists()
    error: dict[str, Any] = response.json()["error"]
    return error


def test_unknown_plan(auth_client: APIClient) -> None:
    assert "plan_id" in _bad(auth_client, {"plan_id": 999_999})["details"]
    ProductFactory.create(slug="tv")
    assert "plan" in _bad(auth_client, {"plan": "nope", "product": "tv"})["details"]
    assert "product" in _bad(auth_client, {"plan": "nope", "product": "no-such-product"})["details"]


def test_plan_of_an_inactive_product(auth_client: APIClient) -> None:
    plan = PlanFactory.create(product=ProductFactory.create(active=False))
    error = _bad(auth_client, {"plan_id": plan.pk})
    assert "not active" in error["details"]["plan_id"][0]


def test_inactive_plan(auth_client: APIClient) -> None:
    plan = PlanFactory.create(active=False)
    assert "not active" in _bad(auth_client, {"plan_id": plan.pk})["details"]["plan_id"][0]


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"plan_id": "12"}, "plan_id"),
        ({"plan_id": 1.5}, "plan_id"),
        ({"plan_id": True}, "plan_id"),
        ({"plan_id": 1, "request_id": 7}, "request_id"),
        ({"plan": 3, "product": "mobile"}, "plan"),
        ({"plan": "basic"}, "product"),
        ({}, "plan_id"),
        ({"plan_id": 1, "colour": "red"}, "colour"),
        ([1, 2], "body"),
    ],
)
def test_wrong_types_name_the_field(auth_client: APIClient, body: Any, field: str) -> None:
    error = _bad(auth_client, body)
    assert field in error["details"], error
    assert error["message"].startswith(field)


def test_needs_authentication(api_client: APIClient) -> None:
    assert api_client.post(URL, {"plan_id": 1}, format="json").status_code == 401
