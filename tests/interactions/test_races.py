"""Identical requests sent at once are answered as if sent one after another: 12 concurrent
``POST /api/v1/plans/select/`` with one (plan, request_id) store one selection and owe the backend
one ``plan.selected`` (one 201, eleven 200 with the same selection); 12 concurrent identical
``POST /api/v1/events/`` store each event once and exactly one answer counts it ``accepted``.

Real concurrency: each request runs in its own thread with its own database connection against
a committed (transactional) test database, released together by a barrier. On PostgreSQL the
requests truly overlap. In embedded mode the race runs on a SQLite file configured as embedded
mode configures it (WAL, a busy timeout, immediate transactions): the test runner's in-memory
database cannot take concurrent writers at all ("database table is locked").
"""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Callable
from typing import Any

import pytest
from django.contrib.auth.models import User
from django.db import connections
from django.utils import timezone
from rest_framework.test import APIClient
from rest_framework_simplejwt.tokens import AccessToken

from products.models import Product
from recommendations.interactions.models import Interaction, OutboxMessage, PlanSelection
from tests.factories import DealSnapshotFactory, OfferFactory, PlanFactory, UserFactory
from tests.interactions.conftest import Received

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("racing_database")]

RACERS = 12


def _race(send: Callable[[APIClient], Any], *, token: str) -> list[Any]:
    """``send`` called by RACERS threads at once, each with its own client and connection."""
    barrier = threading.Barrier(RACERS)
    answers: list[Any] = [None] * RACERS

    def racer(index: int) -> None:
        client = APIClient()
        client.credentials(HTTP_AUTHORIZATION=f"Bearer {token}")
        try:
            barrier.wait(timeout=60)
            answers[index] = send(client)
        except Exception as exc:  # reported below, with the others' answers
            answers[index] = exc
        finally:
            connections.close_all()

    threads = [threading.Thread(target=racer, args=(i,)) for i in range(RACERS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert not any(thread.is_alive() for thread in threads)
    failed = [answer for answer in answers if isinstance(answer, BaseException)]
    assert not failed, failed
    return answers


@pytest.fixture
def racer_user(transactional_db: None) -> User:
    return UserFactory.create(username="racer")


def test_twelve_identical_plan_selections_store_and_forward_one(
    racer_user: User, product: Product, received: Received
) -> None:
    plan = PlanFactory.create(product=product, code="5g-max")
    body = {"plan_id": plan.pk, "request_id": "r-race"}

    answers = _race(
        lambda client: client.post("/api/v1/plans/select/", body, format="json"),
        token=str(AccessToken.for_user(racer_user)),
    )

    assert sorted(a.status_code for a in answers) == [200] * (RACERS - 1) + [201], [a.content for a in answers]
    bodies = [a.json() for a in answers]
    assert {b["id"] for b in bodies} == {PlanSelection.objects.get().pk}
    assert all(b["forwarded"] is True and b["request_id"] == "r-race" for b in bodies)
    assert OutboxMessage.objects.filter(event_type="plan.selected").count() == 1
    assert [envelope["type"] for _, envelope in received.deliveries] == ["plan.selected"]


def test_twelve_identical_event_batches_count_each_event_once(
    racer_user: User, product: Product, received: Received
) -> None:
    OfferFactory.create(user=racer_user, product=product, external_id="upgrade")
    DealSnapshotFactory.create(product=product)
    token = str(AccessToken.for_user(racer_user))
    warm = APIClient()
    warm.credentials(HTTP_AUTHORIZATION=f"Bearer {token}")
    assert warm.get("/api/v1/home/").status_code == 200  # the section is shown to the user
    connections.close_all()
    now = timezone.now().isoformat()
    batch = {
        "events": [
            {"id": "race-1", "kind": "impression", "section_id": "product-mobile", "occurred_at": now},
            {
                "id": "race-2",
                "kind": "click",
                "section_id": "product-mobile",
                "offer_id": "upgrade",
                "occurred_at": now,
            },
        ]
    }

    answers = _race(lambda client: client.post("/api/v1/events/", batch, format="json"), token=token)

    assert {a.status_code for a in answers} == {202}, [a.content for a in answers]
    counts = Counter((a.json()["accepted"], a.json()["duplicates"]) for a in answers)
    assert counts == {(2, 0): 1, (0, 2): RACERS - 1}
    assert Interaction.objects.filter(user=racer_user).count() == 2
    assert OutboxMessage.objects.filter(event_type="interactions.recorded").count() == 1
    assert [envelope["type"] for _, envelope in received.deliveries] == ["interactions.recorded"]
