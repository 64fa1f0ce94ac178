"""``GET /api/v1/plans/questions/`` and ``POST /api/v1/plans/filter/`` through the test client.

The filter's tests run twice (``filter_client``, tests/plans/filter_clients.py): against the view,
and against the fast path (recommendations/plans/filter_fast.py) checked against the view."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest
from django.contrib.auth.models import User
from rest_framework.test import APIClient

from recommendations.plans import cache
from recommendations.plans.models import Question, QuestionOption
from tests.plans.conftest import Shop, plan

QUESTIONS = "/api/v1/plans/questions/"
FILTER = "/api/v1/plans/filter/"


def post(client: Any, body: Any) -> Any:
    return client.post(FILTER, body, format="json")


def codes(response: Any) -> list[str]:
    return [p["code"] for p in response.json()["plans"]]


def test_both_endpoints_need_a_token(api_client: APIClient, filter_client: Any, shop: Shop) -> None:
    assert api_client.get(QUESTIONS).status_code == 401
    filter_client.credentials()
    response = post(filter_client, {"answers": {}})
    assert response.status_code == 401
    assert response.json()["error"]["code"] == "not_authenticated"


def test_questions_are_served_in_order_with_their_options_and_ranges(auth_client: APIClient, shop: Shop) -> None:
    response = auth_client.get(QUESTIONS)
    assert response.status_code == 200
    body = response.json()
    assert [q["id"] for q in body["questions"]] == ["product", "budget", "data_gb", "contract", "extras"]
    product = body["questions"][0]
    assert product["kind"] == "single"
    assert [o["id"] for o in product["options"]] == ["mobile", "broadband", "tv", "energy", "any"]
    budget = body["questions"][1]
    assert (budget["kind"], budget["min"], budget["max"], budget["unit"]) == ("range", 0, 200, "EUR/month")
    assert "options" not in budget
    assert body["questions"][4]["kind"] == "multiple"


def test_a_question_made_inactive_in_the_admin_disappears(auth_client: APIClient, shop: Shop) -> None:
    auth_client.get(QUESTIONS)
    Question.objects.filter(key="contract").update(active=False)
    cache.bump_version()  # what the signal does once a save commits (test_invalidation below)
    assert "contract" not in [q["id"] for q in auth_client.get(QUESTIONS).json()["questions"]]


def test_filter_answers_ranked_plans_with_a_generated_request_id(filter_client: Any, shop: Shop) -> None:
    response = post(filter_client, {"answers": {"product": "mobile", "budget": 60, "extras": ["5g", "family"]}})
    assert response.status_code == 200
    body = response.json()
    assert body["request_id"].startswith("pf-")
    assert (body["refined"], body["superseded"], body["total"]) == (False, False, 3)
    assert codes(response) == ["family", "5g-50", "unlimited"]
    first = body["plans"][0]
    assert first == {
        "id": shop.plans["family"].pk,
        "product": "mobile",
        "code": "family",
        "name": "Family",
        "price": {"amount": "59.99", "currency": "EUR", "period": "month"},
        "attributes": {"data_gb": 200, "contract_months": 24, "tags": ["5g", "family"]},
        "score": 2.0,
    }
    again = post(filter_client, {"answers": {"product": "mobile", "budget": 60, "extras": ["5g", "family"]}})
    assert again.json()["request_id"] != body["request_id"]


def test_the_client_may_send_its_request_id(filter_client: Any, shop: Shop) -> None:
    response = post(filter_client, {"answers": {}, "request_id": "r-17"})
    assert response.status_code == 200
    assert response.json()["request_id"] == "r-17"


def test_plans_of_inactive_products_and_inactive_plans_are_never_returned(filter_client: Any, shop: Shop) -> None:
    # energy is inactive: its plan matches "green" and the budget, but is not returned
    everything = post(filter_client, {"answers": {"product": "any"}})
    assert "green" not in codes(everything)
    assert everything.json()["total"] == 6
    assert post(filter_client, {"answers": {"product": "energy"}}).json() | {"request_id": ""} == {
        "request_id": "",
        "refined": False,
        "superseded": False,
        "total": 0,
        "plans": [],
    }
    assert post(filter_client, {"answers": {"extras": ["green"]}}).json()["plans"] == []


def test_answers_are_cached_by_their_normalised_form(
    filter_client: Any, shop: Shop, django_assert_num_queries: Any
) -> None:
    first = post(filter_client, {"answers": {"extras": ["family", "5g"], "budget": 60}})
    # The same answers written differently: the cached answer, no catalogue query (the user's
    # lookup for the token is the one query left).
    with django_assert_num_queries(1):
        second = post(filter_client, {"answers": {"budget": 60.0, "extras": ["5g", "family"]}})
    assert second.json()["plans"] == first.json()["plans"]


def test_a_committed_change_gives_new_answers(
    filter_client: Any, shop: Shop, django_capture_on_commit_callbacks: Any
) -> None:
    before = post(filter_client, {"answers": {"product": "mobile"}})
    assert codes(before) == ["sim-10", "5g-50", "unlimited", "family"]
    with django_capture_on_commit_callbacks(execute=True):
        plan(shop.products["mobile"], "mini", "4.99", data_gb=1)
    assert codes(post(filter_client, {"answers": {"product": "mobile"}}))[0] == "mini"
    with django_capture_on_commit_callbacks(execute=True):
        shop.plans["sim-10"].price_amount = Decimal("99.00")
        shop.plans["sim-10"].save()
    assert codes(post(filter_client, {"answers": {"product": "mobile"}}))[-1] == "sim-10"
    with django_capture_on_commit_callbacks(execute=True):
        shop.products["mobile"].active = False
        shop.products["mobile"].save()
    assert post(filter_client, {"answers": {"product": "mobile"}}).json()["plans"] == []
    with django_capture_on_commit_callbacks(execute=True):
        option = QuestionOption.objects.get(question__key="product", key="broadband")
        option.conditions = [{"field": "attributes.speed_mbps", "op": "gte", "value": 1000}]
        option.save()
    assert codes(post(filter_client, {"answers": {"product": "broadband"}})) == ["fibre-1000"]
    with django_capture_on_commit_callbacks(execute=True):
        shop.plans["fibre-1000"].delete()
    assert codes(post(filter_client, {"answers": {"product": "broadband"}})) == []


class BrokenCache:
    def __getattr__(self, name: str) -> Any:
        def fail(*args: Any, **kwargs: Any) -> Any:
            raise ConnectionError("Redis is down")

        return fail


def test_without_redis_answers_are_computed_and_still_current(
    filter_client: Any, shop: Shop, monkeypatch: pytest.MonkeyPatch, settings: Any
) -> None:
    settings.FRAGMENT_L2_RETRY_SECONDS = 0  # ask the broken cache every time
    filter_client.strict = False  # the view answers without the shared cache (no version in it)
    monkeypatch.setattr(cache, "cache", BrokenCache())
    response = post(filter_client, {"answers": {"product": "mobile", "budget": 20}})
    assert response.status_code == 200
    assert codes(response) == ["sim-10", "5g-50"]
    assert filter_client.get(QUESTIONS).status_code == 200
    # the version then comes from the database: a change shows at once
    plan(shop.products["mobile"], "mini", "4.99", data_gb=1)
    assert codes(post(filter_client, {"answers": {"product": "mobile", "budget": 20}})) == ["mini", "sim-10", "5g-50"]


# --- bad input ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("body", "field", "code"),
    [
        ({"answers": {"colour": "red"}}, "answers.colour", "invalid_answers"),
        ({"answers": {"product": "boat"}}, "answers.product", "invalid_answers"),
        ({"answers": {"extras": ["5g", "boat"]}}, "answers.extras", "invalid_answers"),
        ({"answers": {"budget": "twenty"}}, "answers.budget", "invalid_answers"),
        ({"answers": {"budget": 1000}}, "answers.budget", "invalid_answers"),
        ({"answers": {"budget": -5}}, "answers.budget", "invalid_answers"),
        ({"answers": {"product": ["mobile"]}}, "answers.product", "invalid_answers"),
        ({"answers": {"extras": "5g"}}, "answers.extras", "invalid_answers"),
    ],
)
def test_bad_answers_are_a_400_naming_the_field(
    filter_client: Any, shop: Shop, body: dict[str, Any], field: str, code: str
) -> None:
    response = post(filter_client, body)
    assert response.status_code == 400
    error = response.json()["error"]
    assert error["code"] == code
    assert error["details"]["errors"][0]["field"] == field
    assert field in error["message"]


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({}, "answers"),
        ({"answers": "mobile"}, "answers"),
        ({"answers": ["mobile"]}, "answers"),
        ({"answers": {}, "request_id": "has spaces"}, "request_id"),
        ({"answers": {}, "request_id": "x" * 65}, "request_id"),
    ],
)
def test_a_bad_body_is_a_400_naming_the_field(filter_client: Any, shop: Shop, body: Any, field: str) -> None:
    response = post(filter_client, body)
    assert response.status_code == 400
    error = response.json()["error"]
    assert error["code"] == "invalid"
    assert field in error["details"]


def test_a_body_that_is_not_json_is_a_400(filter_client: Any, shop: Shop) -> None:
    response = filter_client.post(FILTER, "{", content_type="application/json")
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "parse_error"


def test_seed_demo_adds_the_questions_once(db: None, settings: Any) -> None:
    from recommendations.demo import demo_seed

    settings.DEBUG = True
    demo_seed(simulator_base_url="http://127.0.0.1:8000")
    demo_seed(simulator_base_url="http://127.0.0.1:8000")
    assert Question.objects.count() == 5
    assert QuestionOption.objects.filter(question__key="product").count() == 5


def test_the_demo_finds_plans_end_to_end(db: None, settings: Any) -> None:
    from recommendations.demo import demo_seed

    settings.DEBUG = True
    demo_seed(simulator_base_url="http://127.0.0.1:8000")
    client = APIClient()
    client.force_authenticate(User.objects.get(username="carol"))
    response = post(client, {"answers": {"product": "mobile", "budget": 35, "extras": ["5g"]}})
    assert response.status_code == 200
    assert codes(response) == ["unlimited-5g"]


def test_a_filter_request_queues_its_enrichment_with_the_normalised_answers(
    filter_client: Any, user: User, shop: Shop, monkeypatch: pytest.MonkeyPatch, django_capture_on_commit_callbacks: Any
) -> None:
    from recommendations.plans.tasks import plans_enrich_task

    queued: list[dict[str, Any]] = []
    monkeypatch.setattr(plans_enrich_task, "apply_async", lambda *, kwargs, **options: queued.append(kwargs))
    with django_capture_on_commit_callbacks(execute=True):
        response = post(filter_client, {"answers": {"extras": ["fibre", "5g"], "budget": 30}, "request_id": "r-5"})
    assert response.status_code == 200
    assert queued == [
        {
            "user_id": user.pk,
            "request_id": "r-5",
            "answers": {"budget": 30.0, "extras": ["5g", "fibre"]},
        }
    ]


def test_when_the_enrichment_cannot_be_queued_the_answer_still_goes_out(
    filter_client: Any, shop: Shop, monkeypatch: pytest.MonkeyPatch, django_capture_on_commit_callbacks: Any
) -> None:
    from recommendations.plans.tasks import plans_enrich_task

    def broker_down(**kwargs: Any) -> None:
        raise ConnectionError("broker down")

    monkeypatch.setattr(plans_enrich_task, "apply_async", broker_down)
    with django_capture_on_commit_callbacks(execute=True):
        response = post(filter_client, {"answers": {"product": "mobile"}})
    assert response.status_code == 200
    assert codes(response) == ["sim-10", "5g-50", "unlimited", "family"]
