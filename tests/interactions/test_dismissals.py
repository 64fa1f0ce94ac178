"""A dismissal hides the offer for that user at once: in GET /api/v1/home/ (the view and the
fast path), in the personal fragment's version, and on open sockets (feed.updated)."""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from typing import Any

import pytest
from asgiref.sync import async_to_sync, sync_to_async
from channels.layers import InMemoryChannelLayer, get_channel_layer
from channels.testing import WebsocketCommunicator
from django.contrib.auth.models import User
from django.utils import timezone
from rest_framework.test import APIClient
from rest_framework_simplejwt.tokens import AccessToken

from homeservice.asgi import application
from products.models import Product
from recommendations.fragment_index import offer_index
from recommendations.fragments import documents
from recommendations.interactions.models import OfferDismissal
from recommendations.interactions.services import interactions_record
from tests.factories import DealSnapshotFactory, OfferFactory, ProductFactory, UserFactory
from tests.recommendations.feed_clients import FastPathClient, documents_missed, fast_path_outcomes

HOME = "/api/v1/home/"
TIMEOUT = 10


def _offer_ids(feed: dict[str, Any]) -> set[str]:
    found: set[str] = set()

    def walk(node: Any) -> None:
        if isinstance(node, dict):
            if isinstance(node.get("props"), dict) and "offer_id" in node["props"]:
                found.add(node["props"]["offer_id"])
            for child in node.get("children", []) or []:
                walk(child)

    for section in feed["sections"]:
        walk(section["component"])
    return found


def _dismiss(user: User, offer_id: str, event_id: str = "d-1", product: str = "mobile") -> Any:
    return interactions_record(
        user=user,
        document={
            "events": [
                {
                    "id": event_id,
                    "kind": "dismiss",
                    "section_id": f"product-{product}",
                    "offer_id": offer_id,
                    "occurred_at": timezone.now().isoformat(),
                }
            ]
        },
    )


@pytest.fixture
def mobile(db: None) -> Product:
    product = ProductFactory.create(slug="mobile")
    DealSnapshotFactory.create(product=product)
    return product


@pytest.mark.django_db
def test_a_dismissed_offer_leaves_the_feed(
    feed_client: Any, user: User, mobile: Product, django_capture_on_commit_callbacks: Any
) -> None:
    OfferFactory.create(user=user, product=mobile, external_id="keep", priority=1)
    OfferFactory.create(user=user, product=mobile, external_id="drop")
    feed = feed_client(user)
    before = feed.get(HOME)
    assert _offer_ids(before.json()) == {"keep", "drop"}

    with django_capture_on_commit_callbacks(execute=True):
        assert _dismiss(user, "drop").dismissed == ["mobile/drop"]

    after = feed.get(HOME)
    assert after.status_code == 200
    assert _offer_ids(after.json()) == {"keep"}
    assert after["ETag"] != before["ETag"]
    # Another user's offer with the same id is not theirs to hide.
    other = UserFactory.create()
    OfferFactory.create(user=other, product=mobile, external_id="drop")
    assert _offer_ids(feed_client(other).get(HOME).json()) == {"drop"}


@pytest.mark.django_db
def test_dismissing_the_last_offer_shows_the_generic_deals(
    feed_client: Any, user: User, mobile: Product, django_capture_on_commit_callbacks: Any
) -> None:
    OfferFactory.create(user=user, product=mobile, external_id="only")
    feed = feed_client(user)
    assert feed.get(HOME).json()["sections"][0]["source"] == "personalised"
    with django_capture_on_commit_callbacks(execute=True):
        _dismiss(user, "only")
    assert feed.get(HOME).json()["sections"][0]["source"] == "generic"


@pytest.mark.django_db(transaction=True)  # committed, for the fast path's builder (feed_clients.py)
@pytest.mark.parametrize("warm_up", [True, False], ids=["warmed", "not warmed"])
def test_the_fast_path_stops_serving_the_dismissed_offer(
    user: User,
    mobile: Product,
    feed_doc_redis: Any,
    django_capture_on_commit_callbacks: Any,
    monkeypatch: pytest.MonkeyPatch,
    warm_up: bool,
) -> None:
    import asyncio

    if not warm_up:  # no new document stored by the worker: the fast path builds it, or the view
        monkeypatch.setattr("recommendations.tasks.feed_warm_soon", lambda **kwargs: None)

    OfferFactory.create(user=user, product=mobile, external_id="keep", priority=1)
    OfferFactory.create(user=user, product=mobile, external_id="drop")
    loop = asyncio.new_event_loop()
    client = FastPathClient(loop=loop)
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {AccessToken.for_user(user)}")
    try:
        client.get(HOME)  # the view builds and stores the document
        served = client.get(HOME)
        assert served.served_by == "fast path"
        assert _offer_ids(served.json()) == {"keep", "drop"}
        stored_under = documents.generations(user_id=user.pk)

        with django_capture_on_commit_callbacks(execute=True):
            _dismiss(user, "drop")

        assert documents.generations(user_id=user.pk) != stored_under  # the user's generation replaced
        # The old document is never served again: the warm-up task (eager here) has stored the
        # new one, which the fast path serves (FastPathClient checks it against the view).
        outcomes = fast_path_outcomes()
        after = client.get(HOME)
        assert _offer_ids(after.json()) == {"keep"}
        assert after["ETag"] != served["ETag"]
        # Warmed: the fast path answers the new document at once. Not warmed: it misses (the old
        # document is out of date), the view answers and stores the new one.
        assert documents_missed(outcomes) == (0 if warm_up else 1)
    finally:
        client.close()
        loop.close()


@pytest.mark.django_db
def test_a_dismissal_saved_elsewhere_replaces_the_users_generation(
    user: User, mobile: Product, feed_doc_redis: Any, django_capture_on_commit_callbacks: Any
) -> None:
    before = documents.generations(user_id=user.pk)
    with django_capture_on_commit_callbacks(execute=True):
        OfferDismissal.objects.create(user=user, product=mobile, offer_id="x", dismissed_at=timezone.now())
    assert documents.generations(user_id=user.pk) != before


@pytest.mark.django_db
def test_the_personal_fragment_version_changes_with_dismissals(user: User, mobile: Product) -> None:
    OfferFactory.create(user=user, product=mobile, external_id="a")
    OfferFactory.create(user=user, product=mobile, external_id="b")
    now = timezone.now()
    before = offer_index(user=user, product_ids=[mobile.pk], now=now).versions[mobile.pk]
    OfferDismissal.objects.create(user=user, product=mobile, offer_id="b", dismissed_at=now)
    assert offer_index(user=user, product_ids=[mobile.pk], now=now).versions[mobile.pk] != before


def test_connected_clients_get_feed_updated_without_the_offer(transactional_db: None) -> None:
    layer = get_channel_layer()
    if isinstance(layer, InMemoryChannelLayer):
        async_to_sync(layer.flush)()
    user = UserFactory.create()
    mobile = ProductFactory.create(slug="mobile")
    DealSnapshotFactory.create(product=mobile)
    OfferFactory.create(user=user, product=mobile, external_id="keep", priority=1)
    OfferFactory.create(user=user, product=mobile, external_id="drop")
    rest = APIClient()
    rest.credentials(HTTP_AUTHORIZATION=f"Bearer {AccessToken.for_user(user)}")
    assert rest.get(HOME).status_code == 200  # shown

    async def scenario() -> tuple[dict[str, Any], dict[str, Any]]:
        socket = WebsocketCommunicator(
            application, "/ws/home/", headers=[(b"authorization", f"Bearer {AccessToken.for_user(user)}".encode())]
        )
        connected, _ = await socket.connect(timeout=TIMEOUT)
        assert connected
        snapshot = await socket.receive_json_from(timeout=TIMEOUT)
        await sync_to_async(_dismiss)(user, "drop")
        update = await socket.receive_json_from(timeout=TIMEOUT)
        await socket.disconnect()
        return snapshot, update

    run: Callable[[Callable[[], Awaitable[Any]]], Any] = async_to_sync
    snapshot, update = run(scenario)()
    assert _offer_ids(snapshot["feed"]) == {"keep", "drop"}
    assert update["type"] == "feed.updated"
    assert _offer_ids({"sections": update["sections"]}) == {"keep"}
    assert update["version"] == json.loads(rest.get(HOME).content)["version"]
