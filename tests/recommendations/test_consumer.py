"""The WebSocket consumer, through the real ASGI routing (``homeservice.asgi.application``).

Each test drives the socket from a coroutine run with ``async_to_sync``, so the consumer's
database work runs in this thread's connection and the channel layer (in-memory in embedded
mode, Redis pub/sub when ``REDIS_URL`` is set) is used on one event loop. ``transaction=True``
because live messages are sent when the writing transaction commits (recommendations/live.py).
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from datetime import timedelta
from decimal import Decimal
from typing import Any

import pytest
from asgiref.sync import async_to_sync, sync_to_async
from channels.layers import InMemoryChannelLayer, get_channel_layer
from channels.testing import WebsocketCommunicator
from django.conf import settings
from django.contrib.auth.models import User
from django.test import Client
from django.utils import timezone
from rest_framework.test import APIClient
from rest_framework_simplejwt.tokens import AccessToken

from homeservice.asgi import application
from products.services import deals_record
from recommendations.services import OfferPayload, offer_upsert
from tests.factories import DealSnapshotFactory, OfferFactory, ProductFactory, UserFactory, deal

pytestmark = pytest.mark.django_db(transaction=True)

WS_PATH = "/ws/home/"
# Generous bounds: they only keep a broken test from hanging, they are not measured.
TIMEOUT = 10
# How long to watch for a message that must not come.
QUIET = 0.5


@pytest.fixture(autouse=True)
def _clean_in_memory_layer() -> None:
    """Start every test with an empty in-memory channel layer (embedded mode)."""
    layer = get_channel_layer()
    if isinstance(layer, InMemoryChannelLayer):
        async_to_sync(layer.flush)()


def run(scenario: Callable[[], Awaitable[Any]]) -> Any:
    return async_to_sync(scenario)()


def bearer(user: User) -> list[tuple[bytes, bytes]]:
    return [(b"authorization", f"Bearer {AccessToken.for_user(user)}".encode())]


def session_cookie(user: User) -> tuple[bytes, bytes]:
    client = Client()
    client.force_login(user)
    value = client.cookies[settings.SESSION_COOKIE_NAME].value
    return (b"cookie", f"{settings.SESSION_COOKIE_NAME}={value}".encode())


def rest_feed(user: User) -> dict[str, Any]:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {AccessToken.for_user(user)}")
    response = client.get("/api/v1/home/")
    assert response.status_code == 200
    feed: dict[str, Any] = response.json()
    return feed


def offer_payload(external_id: str, title: str, version: int = 1) -> OfferPayload:
    return OfferPayload(
        external_id=external_id,
        version=version,
        title=title,
        body="Only for you",
        price_amount=Decimal("15.00"),
        price_currency="EUR",
        price_period="month",
        cta_url="https://example.com/offer",
    )


async def handshake(headers: list[tuple[bytes, bytes]]) -> tuple[bool, WebsocketCommunicator]:
    communicator = WebsocketCommunicator(application, WS_PATH, headers=headers)
    connected, _ = await communicator.connect(timeout=TIMEOUT)
    if not connected:
        # As a server does after a refused handshake: tell the application the socket is gone.
        await communicator.disconnect(timeout=TIMEOUT)
    return connected, communicator


async def assert_still_open(communicator: WebsocketCommunicator) -> None:
    """The connection still answers: a ping gets its pong."""
    await communicator.send_json_to({"type": "ping"})
    assert await communicator.receive_json_from(timeout=TIMEOUT) == {"type": "pong"}


async def open_socket(headers: list[tuple[bytes, bytes]]) -> tuple[WebsocketCommunicator, dict[str, Any]]:
    """Connect (which must succeed) and return the socket with its first message, the snapshot."""
    connected, communicator = await handshake(headers)
    assert connected, "the handshake was refused"
    snapshot = await communicator.receive_json_from(timeout=TIMEOUT)
    assert snapshot["type"] == "feed.snapshot"
    return communicator, snapshot


def assert_refused(headers: list[tuple[bytes, bytes]]) -> None:
    async def scenario() -> None:
        connected, _ = await handshake(headers)
        assert not connected

    run(scenario)


def section_titles(section: dict[str, Any]) -> str:
    """Everything a section renders, as text (enough to look for a title in it)."""
    return json.dumps(section["component"])


# --- Handshake authentication -------------------------------------------------------------------


def test_handshake_without_credentials_is_refused() -> None:
    assert_refused([])


def test_handshake_with_a_bad_bearer_token_is_refused() -> None:
    assert_refused([(b"authorization", b"Bearer not-a-jwt")])


def test_handshake_with_an_expired_bearer_token_is_refused() -> None:
    token = AccessToken.for_user(UserFactory.create())
    token.set_exp(lifetime=-timedelta(seconds=1))
    assert_refused([(b"authorization", f"Bearer {token}".encode())])


def test_handshake_with_basic_auth_is_refused() -> None:
    assert_refused([(b"authorization", b"Basic dXNlcjpwdy0xMjM0NTY=")])


def test_session_cookie_with_an_allowed_origin_is_accepted() -> None:
    user = UserFactory.create()
    headers = [session_cookie(user), (b"host", b"localhost"), (b"origin", b"http://localhost")]
    expected = rest_feed(user)

    async def scenario() -> dict[str, Any]:
        communicator, snapshot = await open_socket(headers)
        await communicator.disconnect()
        return snapshot

    snapshot = run(scenario)
    assert snapshot["version"] == expected["version"]


@pytest.mark.parametrize("origin", [b"http://evil.example", b"http://localhost.evil.example", None])
def test_session_cookie_from_a_foreign_or_missing_origin_is_refused(origin: bytes | None) -> None:
    headers = [session_cookie(UserFactory.create())]
    if origin is not None:
        headers.append((b"origin", origin))
    assert_refused(headers)


def test_bearer_decides_even_with_a_valid_session_cookie() -> None:
    user = UserFactory.create()
    assert_refused([(b"authorization", b"Bearer not-a-jwt"), session_cookie(user), (b"origin", b"http://localhost")])


def test_bearer_needs_no_origin_check() -> None:
    user = UserFactory.create()

    async def scenario() -> None:
        communicator, _ = await open_socket([*bearer(user), (b"origin", b"http://evil.example")])
        await communicator.disconnect()

    run(scenario)


# --- Snapshot -------------------------------------------------------------------------------------


def test_first_message_is_the_snapshot_of_the_rest_feed() -> None:
    user = UserFactory.create()
    mobile = ProductFactory.create(slug="mobile", rank_weight=10)
    tv = ProductFactory.create(slug="tv", rank_weight=5)
    ProductFactory.create(slug="energy", rank_weight=1)  # nothing to show: no section
    OfferFactory.create(user=user, product=mobile, title="Double data for you")
    DealSnapshotFactory.create(product=tv, deals=[deal("tv-1", "Sports half price")])
    expected = rest_feed(user)

    async def scenario() -> dict[str, Any]:
        communicator, snapshot = await open_socket(bearer(user))
        await communicator.disconnect()
        return snapshot

    snapshot = run(scenario)
    assert snapshot["version"] == expected["version"]
    assert snapshot["feed"]["version"] == expected["version"]
    assert snapshot["feed"]["schema_version"] == expected["schema_version"]
    assert snapshot["feed"]["sections"] == expected["sections"]
    assert [(s["id"], s["source"]) for s in snapshot["feed"]["sections"]] == [
        ("product-mobile", "personalised"),
        ("product-tv", "generic"),
    ]


# --- Client messages ------------------------------------------------------------------------------


def test_ping_gets_pong() -> None:
    user = UserFactory.create()

    async def scenario() -> None:
        communicator, _ = await open_socket(bearer(user))
        await assert_still_open(communicator)
        await communicator.disconnect()

    run(scenario)


def test_invalid_json_is_an_error_and_the_connection_stays_open() -> None:
    user = UserFactory.create()

    async def scenario() -> None:
        communicator, _ = await open_socket(bearer(user))
        await communicator.send_to(text_data="{not json")
        error = await communicator.receive_json_from(timeout=TIMEOUT)
        assert error["type"] == "error"
        assert error["code"] == "malformed_message"
        assert error["message"]
        await assert_still_open(communicator)
        await communicator.disconnect()

    run(scenario)


@pytest.mark.parametrize(
    "message",
    [[1, 2], "ping", 42, None, {}, {"type": 7}, {"type": None}, {"kind": "ping"}],
    ids=["array", "string", "number", "null", "empty-object", "numeric-type", "null-type", "no-type"],
)
def test_json_that_is_not_a_typed_object_is_malformed(message: Any) -> None:
    user = UserFactory.create()

    async def scenario() -> None:
        communicator, _ = await open_socket(bearer(user))
        await communicator.send_to(text_data=json.dumps(message))
        error = await communicator.receive_json_from(timeout=TIMEOUT)
        assert (error["type"], error["code"]) == ("error", "malformed_message")
        await assert_still_open(communicator)
        await communicator.disconnect()

    run(scenario)


def test_unknown_type_is_an_error() -> None:
    user = UserFactory.create()

    async def scenario() -> None:
        communicator, _ = await open_socket(bearer(user))
        await communicator.send_json_to({"type": "feed.delete_everything"})
        error = await communicator.receive_json_from(timeout=TIMEOUT)
        assert (error["type"], error["code"]) == ("error", "unknown_type")
        await communicator.disconnect()

    run(scenario)


def test_resume_with_the_current_version_sends_nothing() -> None:
    user = UserFactory.create()
    DealSnapshotFactory.create(product=ProductFactory.create(slug="tv"))

    async def scenario() -> None:
        communicator, snapshot = await open_socket(bearer(user))
        await communicator.send_json_to({"type": "resume", "version": snapshot["version"]})
        assert await communicator.receive_nothing(timeout=QUIET)
        # Messages are handled in order: had resume answered, its answer would come before pong.
        await assert_still_open(communicator)
        await communicator.disconnect()

    run(scenario)


def test_resume_with_an_old_version_sends_the_snapshot() -> None:
    user = UserFactory.create()
    DealSnapshotFactory.create(product=ProductFactory.create(slug="tv"))
    expected = rest_feed(user)

    async def scenario() -> dict[str, Any]:
        communicator, _ = await open_socket(bearer(user))
        await communicator.send_json_to({"type": "resume", "version": "an-old-version"})
        snapshot = await communicator.receive_json_from(timeout=TIMEOUT)
        await communicator.disconnect()
        return snapshot

    snapshot = run(scenario)
    assert snapshot["type"] == "feed.snapshot"
    assert snapshot["version"] == expected["version"]
    assert snapshot["feed"]["sections"] == expected["sections"]


@pytest.mark.parametrize("body", [{}, {"version": 3}, {"version": None}, {"version": ["v"]}])
def test_resume_without_a_string_version_is_invalid(body: dict[str, Any]) -> None:
    user = UserFactory.create()

    async def scenario() -> None:
        communicator, _ = await open_socket(bearer(user))
        await communicator.send_json_to({"type": "resume", **body})
        error = await communicator.receive_json_from(timeout=TIMEOUT)
        assert (error["type"], error["code"]) == ("error", "invalid_message")
        await assert_still_open(communicator)
        await communicator.disconnect()

    run(scenario)


def test_binary_frames_are_unsupported() -> None:
    user = UserFactory.create()

    async def scenario() -> None:
        communicator, _ = await open_socket(bearer(user))
        await communicator.send_to(bytes_data=b"\x00\x01")
        error = await communicator.receive_json_from(timeout=TIMEOUT)
        assert (error["type"], error["code"]) == ("error", "unsupported_frame")
        await communicator.disconnect()

    run(scenario)


# --- Live updates ---------------------------------------------------------------------------------


def test_an_offer_for_the_user_arrives_as_feed_updated() -> None:
    user = UserFactory.create()
    mobile = ProductFactory.create(slug="mobile", rank_weight=10)
    tv = ProductFactory.create(slug="tv", rank_weight=5)
    DealSnapshotFactory.create(product=mobile, deals=[deal("m-1", "SIM only")])
    DealSnapshotFactory.create(product=tv, deals=[deal("t-1", "Sports")])

    async def scenario() -> tuple[dict[str, Any], dict[str, Any]]:
        communicator, snapshot = await open_socket(bearer(user))
        await sync_to_async(offer_upsert)(
            user=user, product=mobile, payload=offer_payload("u-upgrade", "Upgrade just for you")
        )
        update = await communicator.receive_json_from(timeout=TIMEOUT)
        await communicator.disconnect()
        return snapshot, update

    snapshot, update = run(scenario)
    after = rest_feed(user)
    assert update["type"] == "feed.updated"
    assert update["version"] != snapshot["version"]
    assert update["version"] == after["version"]
    assert [s["id"] for s in update["sections"]] == ["product-mobile"]
    [section] = update["sections"]
    assert section["source"] == "personalised"
    assert "Upgrade just for you" in section_titles(section)
    assert section == after["sections"][0]
    assert update["removed"] == []
    assert update["order"] == ["product-mobile", "product-tv"]


def test_a_second_offer_for_a_product_already_showing_offers_arrives() -> None:
    # given a user whose mobile section already shows a personal offer
    user = UserFactory.create()
    mobile = ProductFactory.create(slug="mobile")
    offer_upsert(user=user, product=mobile, payload=offer_payload("first", "First offer"))

    async def scenario() -> dict[str, Any]:
        communicator, _ = await open_socket(bearer(user))
        await sync_to_async(offer_upsert)(user=user, product=mobile, payload=offer_payload("second", "Second offer"))
        update = await communicator.receive_json_from(timeout=TIMEOUT)
        await communicator.disconnect()
        return update

    # when another offer arrives, then the section is updated (not mistaken for a deals change)
    update = run(scenario)
    assert update["type"] == "feed.updated"
    assert "Second offer" in section_titles(update["sections"][0])


def test_changed_generic_deals_arrive_as_feed_updated() -> None:
    user = UserFactory.create()
    mobile = ProductFactory.create(slug="mobile", rank_weight=10)
    tv = ProductFactory.create(slug="tv", rank_weight=5)
    DealSnapshotFactory.create(product=mobile, deals=[deal("m-1", "SIM only")])
    DealSnapshotFactory.create(product=tv, deals=[deal("t-1", "Sports")])

    async def scenario() -> tuple[dict[str, Any], dict[str, Any]]:
        communicator, snapshot = await open_socket(bearer(user))
        await sync_to_async(deals_record)(
            product=tv, deals=[deal("t-2", "Cinema for a euro", "1.00")], etag="", fetched_at=timezone.now()
        )
        update = await communicator.receive_json_from(timeout=TIMEOUT)
        await communicator.disconnect()
        return snapshot, update

    snapshot, update = run(scenario)
    after = rest_feed(user)
    assert update["type"] == "feed.updated"
    assert update["version"] != snapshot["version"]
    assert update["version"] == after["version"]
    [section] = update["sections"]
    assert (section["id"], section["source"]) == ("product-tv", "generic")
    assert "Cinema for a euro" in section_titles(section)
    assert section == after["sections"][1]
    assert update["removed"] == []
    assert update["order"] == ["product-mobile", "product-tv"]


def test_a_section_that_disappears_is_listed_in_removed() -> None:
    user = UserFactory.create()
    mobile = ProductFactory.create(slug="mobile", rank_weight=10)
    tv = ProductFactory.create(slug="tv", rank_weight=5)
    DealSnapshotFactory.create(product=mobile, deals=[deal("m-1", "SIM only")])
    DealSnapshotFactory.create(product=tv, deals=[deal("t-1", "Sports")])

    async def scenario() -> dict[str, Any]:
        communicator, _ = await open_socket(bearer(user))
        await sync_to_async(deals_record)(product=tv, deals=[], etag="", fetched_at=timezone.now())
        update = await communicator.receive_json_from(timeout=TIMEOUT)
        await communicator.disconnect()
        return update

    update = run(scenario)
    assert update["type"] == "feed.updated"
    assert update["sections"] == []
    assert update["removed"] == ["product-tv"]
    assert update["order"] == ["product-mobile"]
    assert update["version"] == rest_feed(user)["version"]


def test_deals_of_a_product_shown_as_personal_offers_send_nothing() -> None:
    user = UserFactory.create()
    mobile = ProductFactory.create(slug="mobile")
    DealSnapshotFactory.create(product=mobile, deals=[deal("m-1", "SIM only")])
    OfferFactory.create(user=user, product=mobile)

    async def scenario() -> None:
        communicator, _ = await open_socket(bearer(user))
        await sync_to_async(deals_record)(
            product=mobile, deals=[deal("m-2", "Other deal")], etag="", fetched_at=timezone.now()
        )
        assert await communicator.receive_nothing(timeout=QUIET)
        await communicator.disconnect()

    run(scenario)


def test_updates_reach_every_connection_of_the_user() -> None:
    user = UserFactory.create()
    mobile = ProductFactory.create(slug="mobile")

    async def scenario() -> list[dict[str, Any]]:
        first, _ = await open_socket(bearer(user))
        second, _ = await open_socket(bearer(user))
        await sync_to_async(offer_upsert)(user=user, product=mobile, payload=offer_payload("u-1", "For both tabs"))
        updates = [
            await first.receive_json_from(timeout=TIMEOUT),
            await second.receive_json_from(timeout=TIMEOUT),
        ]
        await first.disconnect()
        await second.disconnect()
        return updates

    updates = run(scenario)
    assert [u["type"] for u in updates] == ["feed.updated", "feed.updated"]
    assert updates[0]["version"] == updates[1]["version"] == rest_feed(user)["version"]


# --- Isolation ------------------------------------------------------------------------------------


def test_one_users_offer_reaches_only_that_user() -> None:
    alice, bob = UserFactory.create(), UserFactory.create()
    mobile = ProductFactory.create(slug="mobile", rank_weight=10)
    DealSnapshotFactory.create(product=mobile, deals=[deal("m-1", "SIM only")])
    secret = "Alice's private retention offer"

    async def scenario() -> tuple[dict[str, Any], dict[str, Any]]:
        alice_socket, _ = await open_socket(bearer(alice))
        bob_socket, _ = await open_socket(bearer(bob))
        await sync_to_async(offer_upsert)(user=alice, product=mobile, payload=offer_payload("a-1", secret))
        alice_update = await alice_socket.receive_json_from(timeout=TIMEOUT)
        # Alice's message has been delivered; nothing was sent towards Bob.
        assert await bob_socket.receive_nothing(timeout=QUIET)
        await bob_socket.send_json_to({"type": "ping"})
        assert await bob_socket.receive_json_from(timeout=TIMEOUT) == {"type": "pong"}
        await bob_socket.disconnect()
        # Bob's fresh connection and his resume never show Alice's offer.
        bob_again, bob_snapshot = await open_socket(bearer(bob))
        await bob_again.send_json_to({"type": "resume", "version": "stale"})
        bob_resumed = await bob_again.receive_json_from(timeout=TIMEOUT)
        await bob_again.disconnect()
        await alice_socket.disconnect()
        assert secret not in json.dumps(bob_snapshot)
        assert secret not in json.dumps(bob_resumed)
        return alice_update, bob_snapshot

    alice_update, bob_snapshot = run(scenario)
    assert alice_update["type"] == "feed.updated"
    assert secret in json.dumps(alice_update["sections"])
    assert [(s["id"], s["source"]) for s in bob_snapshot["feed"]["sections"]] == [("product-mobile", "generic")]
    assert secret not in json.dumps(rest_feed(bob))
