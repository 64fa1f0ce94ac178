"""Live-update behaviour of ``/ws/home/`` beyond the basics (test_consumer.py): tickets, token
expiry, heartbeats, flood and slow-client limits, resume with diffs, and the per-process fan-out.

Through the real ASGI routing with ``WebsocketCommunicator``, as test_consumer.py.
"""

from __future__ import annotations

import asyncio
import json
import time
from datetime import timedelta
from typing import Any
from unittest import mock

import pytest
from asgiref.sync import sync_to_async
from channels.testing import WebsocketCommunicator
from django.utils import timezone
from rest_framework.test import APIClient
from rest_framework_simplejwt.tokens import AccessToken

from homeservice.asgi import application
from products.services import deals_record
from recommendations import consumers, live_hub, live_protocol
from recommendations.services import offer_upsert
from tests.factories import DealSnapshotFactory, OfferFactory, ProductFactory, UserFactory, deal

from .test_consumer import (  # noqa: F401 - the fixture is used by every test here too
    QUIET,
    TIMEOUT,
    WS_PATH,
    _clean_in_memory_layer,
    bearer,
    handshake,
    offer_payload,
    open_socket,
    rest_feed,
    run,
)

pytestmark = pytest.mark.django_db(transaction=True)


def ticket_for(user: Any, token: AccessToken | None = None) -> dict[str, Any]:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {token or AccessToken.for_user(user)}")
    response = client.post("/api/v1/live/ticket/")
    assert response.status_code == 201, response.content
    body: dict[str, Any] = response.json()
    return body


async def closed_with(communicator: WebsocketCommunicator) -> tuple[list[dict[str, Any]], int]:
    """Messages received until the server closed the socket, and the close code."""
    messages: list[dict[str, Any]] = []
    while True:
        output = await communicator.receive_output(timeout=TIMEOUT)
        if output["type"] == "websocket.close":
            return messages, output.get("code", 1000)
        messages.append(json.loads(output["text"]))


# --- Tickets --------------------------------------------------------------------------------------


def test_ticket_endpoint_needs_a_token() -> None:
    response = APIClient().post("/api/v1/live/ticket/")
    assert response.status_code == 401
    assert response.json()["error"]["code"] == "not_authenticated"


def test_a_ticket_opens_one_socket_once() -> None:
    user = UserFactory.create()
    DealSnapshotFactory.create(product=ProductFactory.create(slug="tv"))
    body = ticket_for(user)
    assert 0 < body["expires_in"] <= 60
    path = f"{WS_PATH}?ticket={body['ticket']}"

    async def scenario() -> tuple[dict[str, Any], bool]:
        communicator = WebsocketCommunicator(application, path, headers=[(b"origin", b"https://elsewhere.example")])
        connected, _ = await communicator.connect(timeout=TIMEOUT)
        assert connected
        snapshot = await communicator.receive_json_from(timeout=TIMEOUT)
        await communicator.disconnect()
        again = WebsocketCommunicator(application, path)
        reused, _ = await again.connect(timeout=TIMEOUT)
        if not reused:
            await again.disconnect()
        return snapshot, reused

    snapshot, reused = run(scenario)
    assert snapshot["type"] == "feed.snapshot"
    assert snapshot["version"] == rest_feed(user)["version"]
    assert not reused


@pytest.mark.parametrize("ticket", ["", "made-up", "x" * 500])
def test_an_unknown_ticket_is_refused(ticket: str) -> None:
    async def scenario() -> bool:
        communicator = WebsocketCommunicator(application, f"{WS_PATH}?ticket={ticket}")
        connected, _ = await communicator.connect(timeout=TIMEOUT)
        if not connected:
            await communicator.disconnect()
        return connected

    assert not run(scenario)


def test_an_expired_ticket_is_refused() -> None:
    user = UserFactory.create()
    body = ticket_for(user)
    later = time.time() + 61

    async def scenario() -> bool:
        with mock.patch("recommendations.live_tickets.time.time", return_value=later):
            communicator = WebsocketCommunicator(application, f"{WS_PATH}?ticket={body['ticket']}")
            connected, _ = await communicator.connect(timeout=TIMEOUT)
        if not connected:
            await communicator.disconnect()
        return connected

    assert not run(scenario)


def test_concurrent_handshakes_with_one_ticket_let_one_in() -> None:
    user = UserFactory.create()
    body = ticket_for(user)
    path = f"{WS_PATH}?ticket={body['ticket']}"

    async def scenario() -> list[bool]:
        communicators = [WebsocketCommunicator(application, path) for _ in range(5)]
        results = await asyncio.gather(*(c.connect(timeout=TIMEOUT) for c in communicators))
        for communicator in communicators:
            await communicator.disconnect()
        return [connected for connected, _ in results]

    assert sorted(run(scenario)) == [False, False, False, False, True]


# --- Credential expiry, heartbeats, limits --------------------------------------------------------


def test_the_connection_closes_with_4401_when_its_token_expires(settings: Any) -> None:
    settings.LIVE_SWEEP_SECONDS = 0.1
    user = UserFactory.create()
    token = AccessToken.for_user(user)
    token.set_exp(lifetime=timedelta(seconds=1))

    async def scenario() -> tuple[list[dict[str, Any]], int]:
        communicator, _ = await open_socket([(b"authorization", f"Bearer {token}".encode())])
        return await closed_with(communicator)

    messages, code = run(scenario)
    assert code == live_protocol.CLOSE_UNAUTHENTICATED == 4401
    assert [(m["type"], m["code"]) for m in messages] == [("error", "token_expired")]


def test_a_ticket_connection_expires_with_the_token_that_asked_for_it(settings: Any) -> None:
    settings.LIVE_SWEEP_SECONDS = 0.1
    user = UserFactory.create()
    token = AccessToken.for_user(user)
    token.set_exp(lifetime=timedelta(seconds=2))
    body = ticket_for(user, token)

    async def scenario() -> int:
        communicator = WebsocketCommunicator(application, f"{WS_PATH}?ticket={body['ticket']}")
        connected, _ = await communicator.connect(timeout=TIMEOUT)
        assert connected
        _, code = await closed_with(communicator)
        return code

    assert run(scenario) == 4401


def test_a_silent_client_is_closed_with_4408_and_pings_keep_it_open(settings: Any) -> None:
    settings.LIVE_SWEEP_SECONDS = 0.05
    settings.LIVE_IDLE_TIMEOUT_SECONDS = 0.6
    pinging, silent = UserFactory.create(), UserFactory.create()

    async def scenario() -> tuple[int, list[str]]:
        keeps, _ = await open_socket(bearer(pinging))
        quiet, _ = await open_socket(bearer(silent))
        answers = []
        for _ in range(6):  # 1.2 s of pings every 0.2 s: longer than the idle timeout
            await keeps.send_json_to({"type": "ping"})
            answers.append((await keeps.receive_json_from(timeout=TIMEOUT))["type"])
            await asyncio.sleep(0.2)
        messages, code = await closed_with(quiet)
        assert [m["code"] for m in messages] == ["idle_timeout"]
        await keeps.send_json_to({"type": "ping"})
        answers.append((await keeps.receive_json_from(timeout=TIMEOUT))["type"])
        await keeps.disconnect()
        return code, answers

    code, answers = run(scenario)
    assert code == 4408
    assert answers == ["pong"] * 7


def test_a_flood_is_closed_with_4429(settings: Any) -> None:
    settings.LIVE_CLIENT_MESSAGES_PER_SECOND = 1
    settings.LIVE_CLIENT_BURST = 5
    user = UserFactory.create()

    async def scenario() -> tuple[list[dict[str, Any]], int]:
        communicator, _ = await open_socket(bearer(user))
        for _ in range(20):
            await communicator.send_json_to({"type": "ping"})
        return await closed_with(communicator)

    messages, code = run(scenario)
    assert code == 4429
    assert [m["type"] for m in messages[:5]] == ["pong"] * 5
    assert messages[-1]["code"] == "rate_limited"


def test_a_client_that_does_not_read_is_dropped_and_others_still_get_updates(settings: Any) -> None:
    settings.LIVE_OUTBOX_MAX_BYTES = 20_000
    reader, stuck = UserFactory.create(), UserFactory.create()
    tv = ProductFactory.create(slug="tv")
    DealSnapshotFactory.create(product=tv, deals=[deal("t-0", "Sports")])
    blocked = asyncio.Event()

    async def scenario() -> tuple[list[str], list[dict[str, Any]]]:
        good, _ = await open_socket(bearer(reader))
        bad, _ = await open_socket(bearer(stuck))
        # The stuck client's socket stops taking frames: every write to it waits forever.
        [stuck_consumer] = [c for c in live_hub.live_hub().connections if c.user.pk == stuck.pk]  # type: ignore[attr-defined]

        async def never(frame: str) -> None:
            await blocked.wait()

        stuck_consumer.outbox._send = never  # type: ignore[attr-defined]
        titles = []
        for n in range(1, 40):
            title = f"Deal number {n} " + "x" * 500
            await sync_to_async(deals_record)(
                product=tv, deals=[deal(f"t-{n}", title)], etag="", fetched_at=timezone.now()
            )
            update = await good.receive_json_from(timeout=TIMEOUT)
            titles.append(update["type"])
        closed = await bad.receive_output(timeout=TIMEOUT)
        await good.disconnect()
        return titles, [closed]

    titles, closed = run(scenario)
    assert titles == ["feed.updated"] * 39
    assert closed == [{"type": "websocket.close", "code": 4413}]


@pytest.mark.parametrize(
    "message",
    [
        {"type": "ping", "extra": 1},
        {"type": "resume", "version": ""},
        {"type": "resume", "version": "v", "sections": [{"id": "x"}]},
        {"type": "plans.filter"},
    ],
)
def test_a_message_that_breaks_its_schema_is_invalid(message: dict[str, Any]) -> None:
    user = UserFactory.create()

    async def scenario() -> dict[str, Any]:
        communicator, _ = await open_socket(bearer(user))
        await communicator.send_json_to(message)
        error = await communicator.receive_json_from(timeout=TIMEOUT)
        await communicator.send_json_to({"type": "ping"})
        assert await communicator.receive_json_from(timeout=TIMEOUT) == {"type": "pong"}
        await communicator.disconnect()
        return error

    error = run(scenario)
    assert (error["type"], error["code"]) == ("error", "invalid_message")
    assert error["message"]


# --- Resume ---------------------------------------------------------------------------------------


def two_products() -> tuple[Any, Any]:
    mobile = ProductFactory.create(slug="mobile", rank_weight=10)
    tv = ProductFactory.create(slug="tv", rank_weight=5)
    DealSnapshotFactory.create(product=mobile, deals=[deal("m-1", "SIM only")])
    DealSnapshotFactory.create(product=tv, deals=[deal("t-1", "Sports")])
    return mobile, tv


def test_resume_on_a_new_connection_with_the_sections_held_gets_only_what_changed() -> None:
    user = UserFactory.create()
    mobile, _ = two_products()

    async def scenario() -> tuple[dict[str, Any], dict[str, Any]]:
        first, snapshot = await open_socket(bearer(user))
        await first.disconnect()
        # While the client is away, an offer arrives.
        await sync_to_async(offer_upsert)(user=user, product=mobile, payload=offer_payload("u-1", "While away"))
        second, _ = await open_socket(bearer(user))
        held = [{"id": s["id"], "version": s["version"]} for s in snapshot["feed"]["sections"]]
        await second.send_json_to({"type": "resume", "version": snapshot["version"], "sections": held})
        update = await second.receive_json_from(timeout=TIMEOUT)
        await second.disconnect()
        return snapshot, update

    snapshot, update = run(scenario)
    after = rest_feed(user)
    assert update["type"] == "feed.updated"
    assert update["version"] == after["version"] != snapshot["version"]
    assert [s["id"] for s in update["sections"]] == ["product-mobile"]
    assert update["sections"][0] == after["sections"][0]
    assert update["removed"] == []
    assert update["order"] == ["product-mobile", "product-tv"]


def test_resume_with_sections_that_do_not_make_the_version_gets_a_snapshot() -> None:
    user = UserFactory.create()
    two_products()

    async def scenario() -> dict[str, Any]:
        communicator, _ = await open_socket(bearer(user))
        held = [{"id": "product-mobile", "version": "not-it"}]
        await communicator.send_json_to({"type": "resume", "version": "also-not-it", "sections": held})
        answer = await communicator.receive_json_from(timeout=TIMEOUT)
        await communicator.disconnect()
        return answer

    answer = run(scenario)
    assert answer["type"] == "feed.snapshot"
    assert answer["feed"] == {**rest_feed(user), "generated_at": answer["feed"]["generated_at"]}


# --- Fan-out ------------------------------------------------------------------------------------


def test_a_deals_refresh_is_computed_once_per_process_and_reaches_only_generic_screens() -> None:
    mobile, _ = two_products()
    generic_users = [UserFactory.create() for _ in range(4)]
    personal = UserFactory.create()
    OfferFactory.create(user=personal, product=mobile, title="Own mobile offer")

    async def scenario() -> tuple[list[dict[str, Any]], int]:
        sockets = [(await open_socket(bearer(u)))[0] for u in generic_users]
        own, _ = await open_socket(bearer(personal))
        with mock.patch.object(live_hub, "generic_sections", wraps=live_hub.generic_sections) as computed:
            await sync_to_async(deals_record)(
                product=mobile, deals=[deal("m-2", "Half price SIM")], etag="", fetched_at=timezone.now()
            )
            updates = [await s.receive_json_from(timeout=TIMEOUT) for s in sockets]
            assert await own.receive_nothing(timeout=QUIET)
        for s in [*sockets, own]:
            await s.disconnect()
        return updates, computed.call_count

    updates, computed = run(scenario)
    assert computed == 1
    expected = rest_feed(generic_users[0])
    for update in updates:
        assert update["type"] == "feed.updated"
        assert update["version"] == expected["version"]
        assert update["sections"] == [expected["sections"][0]]
    assert "Own mobile offer" in json.dumps(rest_feed(personal))


def test_a_users_offer_rebuilds_only_that_products_section() -> None:
    user = UserFactory.create()
    mobile, _ = two_products()

    async def scenario() -> dict[str, Any]:
        communicator, _ = await open_socket(bearer(user))
        with mock.patch.object(consumers, "home_feed", side_effect=AssertionError("whole feed rebuilt")):
            await sync_to_async(offer_upsert)(user=user, product=mobile, payload=offer_payload("u-1", "Just one"))
            update = await communicator.receive_json_from(timeout=TIMEOUT)
        await communicator.disconnect()
        return update

    update = run(scenario)
    assert update["version"] == rest_feed(user)["version"]
    assert [s["id"] for s in update["sections"]] == ["product-mobile"]


def test_a_published_template_updates_generic_and_personal_screens() -> None:
    from ui_templates import services as templates
    from ui_templates.models import ComponentTemplate
    from ui_templates.slots import Slot

    mobile, tv = two_products()
    generic_user, personal_user = UserFactory.create(), UserFactory.create()
    OfferFactory.create(user=personal_user, product=mobile, title="Own mobile offer")
    template = ComponentTemplate.objects.create(
        key="tv-deal-card",
        name="TV deal card",
        slot=Slot.DEAL_CARD,
        product_slug=tv.slug,
        draft_tree={
            "type": "card",
            "props": {"offer_id": "{{ deal.id }}"},
            "children": [{"type": "text", "props": {"text": "Marketing says {{ deal.title }}"}}],
        },
    )

    async def scenario() -> list[dict[str, Any]]:
        a, _ = await open_socket(bearer(generic_user))
        b, _ = await open_socket(bearer(personal_user))
        await sync_to_async(templates.template_draft_publish)(template=template, user=None)
        updates = [await a.receive_json_from(timeout=TIMEOUT), await b.receive_json_from(timeout=TIMEOUT)]
        for s in (a, b):
            await s.disconnect()
        return updates

    updates = run(scenario)
    for user, update in zip((generic_user, personal_user), updates, strict=True):
        after = rest_feed(user)
        assert update["type"] == "feed.updated"
        assert update["version"] == after["version"]
        assert [s["id"] for s in update["sections"]] == ["product-tv"]
        assert "Marketing says" in json.dumps(update["sections"])
    assert "Own mobile offer" in json.dumps(rest_feed(personal_user))
