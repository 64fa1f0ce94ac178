"""The plan finder over WebSocket (``plans.filter`` → ``recommendations.updated``) and its
enrichment: the refined answer pushed to the user's connections, superseded requests marked.

Celery runs eagerly here (tests/settings.py), so the enrichment runs as soon as the synchronous
answer is computed and its push reaches the sockets through the real channel layer.
"""

from __future__ import annotations

from typing import Any

import pytest
from django.contrib.auth.models import User

from recommendations.live_protocol import validate_server_message
from recommendations.plans import services
from tests.factories import OfferFactory, UserFactory
from tests.plans.conftest import Shop
from tests.recommendations.test_consumer import QUIET, TIMEOUT, assert_still_open, bearer, open_socket, run

pytestmark = pytest.mark.django_db(transaction=True)

ANSWERS = {"budget": 60, "extras": ["5g", "fibre"]}


def codes(message: dict[str, Any]) -> list[str]:
    return [p["code"] for p in message["plans"]]


def test_plans_filter_is_answered_then_refined_for_the_user(shop: Shop) -> None:
    user = UserFactory.create()
    OfferFactory.create(user=user, product=shop.products["broadband"])

    async def scenario() -> list[dict[str, Any]]:
        communicator, _ = await open_socket(bearer(user))
        await communicator.send_json_to({"type": "plans.filter", "request_id": "r-1", "answers": ANSWERS})
        answers = [await communicator.receive_json_from(timeout=TIMEOUT) for _ in range(2)]
        await assert_still_open(communicator)
        await communicator.disconnect()
        return answers

    answer, refined = run(scenario)
    for message in (answer, refined):
        validate_server_message(message)
        assert (message["type"], message["request_id"], message["total"]) == ("recommendations.updated", "r-1", 5)
    assert (answer["refined"], refined["refined"], refined["superseded"]) == (False, True, False)
    assert codes(answer) == ["5g-50", "unlimited", "fibre-500", "fibre-1000", "family"]
    # the user has a live broadband offer: broadband's plans come first once refined
    assert codes(refined) == ["fibre-500", "fibre-1000", "5g-50", "unlimited", "family"]
    assert [p["score"] for p in refined["plans"]] == [2.0, 2.0, 1.0, 1.0, 1.0]


def test_the_refined_answer_reaches_only_that_user(shop: Shop) -> None:
    alice, bob = UserFactory.create(), UserFactory.create()

    async def scenario() -> tuple[list[str], bool]:
        mine, _ = await open_socket(bearer(alice))
        theirs, _ = await open_socket(bearer(bob))
        await mine.send_json_to({"type": "plans.filter", "request_id": "a-1", "answers": {}})
        got = [(await mine.receive_json_from(timeout=TIMEOUT))["request_id"] for _ in range(2)]
        quiet = await theirs.receive_nothing(timeout=QUIET)
        await mine.disconnect()
        await theirs.disconnect()
        return got, quiet

    got, quiet = run(scenario)
    assert got == ["a-1", "a-1"]
    assert quiet


@pytest.mark.parametrize(
    ("answers", "field"),
    [
        ({"colour": "red"}, "answers.colour"),
        ({"product": "boat"}, "answers.product"),
        ({"budget": "cheap"}, "answers.budget"),
        ({"budget": 10_000}, "answers.budget"),
        ({"product": ["mobile"]}, "answers.product"),
    ],
)
def test_bad_answers_are_an_error_and_the_connection_stays_open(shop: Shop, answers: Any, field: str) -> None:
    user = UserFactory.create()

    async def scenario() -> dict[str, Any]:
        communicator, _ = await open_socket(bearer(user))
        await communicator.send_json_to({"type": "plans.filter", "request_id": "r-9", "answers": answers})
        error = await communicator.receive_json_from(timeout=TIMEOUT)
        await assert_still_open(communicator)
        await communicator.disconnect()
        return error

    error = run(scenario)
    validate_server_message(error)
    assert (error["type"], error["code"], error["request_id"]) == ("error", "invalid_answers", "r-9")
    assert error["details"]["errors"][0]["field"] == field
    assert error["message"].startswith(field)


@pytest.mark.parametrize(
    "message",
    [
        {"type": "plans.filter", "answers": "mobile"},
        {"type": "plans.filter", "answers": {}, "request_id": "no spaces please"},
        {"type": "plans.filter", "answers": {}, "extra": 1},
    ],
)
def test_a_plans_filter_message_that_breaks_its_schema_is_invalid(shop: Shop, message: dict[str, Any]) -> None:
    user = UserFactory.create()

    async def scenario() -> dict[str, Any]:
        communicator, _ = await open_socket(bearer(user))
        await communicator.send_json_to(message)
        error = await communicator.receive_json_from(timeout=TIMEOUT)
        await assert_still_open(communicator)
        await communicator.disconnect()
        return error

    assert run(scenario)["code"] == "invalid_message"


def test_a_burst_of_requests_queues_one_enrichment_which_refines_the_newest(
    shop: Shop, monkeypatch: pytest.MonkeyPatch
) -> None:
    from recommendations.plans.tasks import plans_enrich_task

    user: User = UserFactory.create()
    queued: list[dict[str, Any]] = []
    pushed: list[dict[str, Any]] = []
    monkeypatch.setattr(plans_enrich_task, "apply_async", lambda *, kwargs, **options: queued.append(kwargs))
    monkeypatch.setattr(services.live, "plans_refined", lambda *, user_id, message: pushed.append(message))
    for request_id, budget in (("r-1", 20), ("r-2", 30), ("r-3", 40)):
        services.plans_filter(user_id=user.pk, answers={"budget": budget}, request_id=request_id)
    assert [q["request_id"] for q in queued] == ["r-1"]  # one queued for the burst
    # when the worker runs it, it answers the newest request
    services.plans_enrich(**queued[0])
    assert [(m["request_id"], m["superseded"], m["total"]) for m in pushed] == [("r-3", False, 4)]
    # once it has started, the next request queues another
    services.plans_filter(user_id=user.pk, answers={}, request_id="r-4")
    assert [q["request_id"] for q in queued] == ["r-1", "r-4"]


def test_an_answer_overtaken_by_a_newer_request_is_marked_superseded(
    shop: Shop, monkeypatch: pytest.MonkeyPatch
) -> None:
    user: User = UserFactory.create()
    pushed: list[dict[str, Any]] = []
    monkeypatch.setattr(services.live, "plans_refined", lambda *, user_id, message: pushed.append(message))
    monkeypatch.setattr(services.settings, "PLANS_ENRICH", False)
    services.plans_filter(user_id=user.pk, answers={}, request_id="old")

    def offers_then_a_newer_request(*, user_id: int) -> set[str]:
        services.plans_filter(user_id=user_id, answers={"budget": 20}, request_id="new")  # while it works
        return set()

    monkeypatch.setattr(services, "offer_products", offers_then_a_newer_request)
    late = services.plans_enrich(user_id=user.pk, request_id="old", answers={})
    assert late is not None
    assert (late["request_id"], late["refined"], late["superseded"]) == ("old", True, True)
    assert pushed == [late]


def test_affinity_and_offers_rank_the_refined_answer(shop: Shop, monkeypatch: pytest.MonkeyPatch) -> None:
    user: User = UserFactory.create()
    monkeypatch.setattr(services.live, "plans_refined", lambda *, user_id, message: None)
    monkeypatch.setattr(services, "product_affinity", lambda *, user_id: {"mobile": -8.0, "broadband": 4.0})
    refined = services.plans_enrich(user_id=user.pk, request_id="r", answers={"budget": 40})
    assert refined is not None
    # broadband +1 (4 x 0.25), mobile -2 (capped): broadband's plan first, mobile's after
    assert codes(refined) == ["fibre-500", "sim-10", "5g-50", "unlimited"]
    assert [p["score"] for p in refined["plans"]] == [1.0, -2.0, -2.0, -2.0]
    withdrawn = OfferFactory.create(user=user, product=shop.products["mobile"], withdrawn=True)
    assert services.offer_products(user_id=user.pk) == set()
    withdrawn.withdrawn = False
    withdrawn.save()
    assert services.offer_products(user_id=user.pk) == {"mobile"}


def test_enrichment_of_answers_that_no_longer_fit_is_dropped(shop: Shop) -> None:
    user: User = UserFactory.create()
    assert services.plans_enrich(user_id=user.pk, request_id="r", answers={"gone": 1}) is None
