"""Client catalogue versions on GET /api/v1/home/ and /ws/home/ (docs/sdui.md, "Client versions").

The built-in offer card shows a countdown (catalogue v2) for an offer with ``expires_at``; a
client of catalogue v1 must get the text fallback instead, and never a type it does not know.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from datetime import datetime, timedelta
from decimal import Decimal
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
from recommendations.consumers import CLOSE_INVALID_CLIENT_VERSION
from recommendations.services import OfferPayload, offer_upsert
from tests.factories import OfferFactory, ProductFactory, UserFactory
from ui_templates.catalogue import CATALOGUE_VERSION, COMPONENTS
from ui_templates.schema import validate_document

URL = "/api/v1/home/"
WS_PATH = "/ws/home/"
TIMEOUT = 10


class _Any:
    """Equal to anything (a field, such as generated_at, that differs between two renders)."""

    def __eq__(self, other: object) -> bool:
        return True

    __hash__ = None  # type: ignore[assignment]


ANY = _Any()


def nodes(component: Mapping[str, Any]) -> Iterator[Mapping[str, Any]]:
    yield component
    for child in component.get("children", []):
        yield from nodes(child)


def types_in(feed: Mapping[str, Any]) -> set[str]:
    return {node["type"] for section in feed["sections"] for node in nodes(section["component"])}


def assert_valid_for(feed: Mapping[str, Any], version: int) -> None:
    """Every section validates against the document schema and uses only types of ``version``."""
    for section in feed["sections"]:
        assert validate_document(section["component"]) == [], section["id"]
    assert {t for t in types_in(feed) if COMPONENTS[t].since > version} == set()


def client_for(user: User) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {AccessToken.for_user(user)}")
    return client


@pytest.fixture
def offer_with_expiry(user: User) -> Any:
    """One offer that ends in a week: the built-in card shows a countdown for it."""
    return OfferFactory.create(
        user=user,
        product=ProductFactory.create(slug="mobile"),
        external_id="upgrade",
        expires_at=timezone.now() + timedelta(days=7),
    )


# --- HTTP ---------------------------------------------------------------------------------------


@pytest.mark.django_db
def test_a_v1_client_gets_a_text_fallback_instead_of_a_countdown(auth_client: APIClient, offer_with_expiry) -> None:
    # given the same feed for the newest catalogue and for v1
    newest = auth_client.get(URL, HTTP_X_SDUI_VERSION="2")
    old = auth_client.get(URL, HTTP_X_SDUI_VERSION="1")

    # then v2 has the countdown and v1 has no countdown node anywhere, but a caption in its place
    assert newest.status_code == old.status_code == 200
    assert "countdown" in types_in(newest.json())
    assert "countdown" not in types_in(old.json())
    assert "countdown" not in old.content.decode()
    [countdown] = [n for n in nodes(newest.json()["sections"][0]["component"]) if n["type"] == "countdown"]
    [fallback] = [n for n in nodes(old.json()["sections"][0]["component"]) if n["id"] == countdown["id"]]
    assert fallback["type"] == "text"
    ends_at = datetime.fromisoformat(countdown["props"]["ends_at"].replace("Z", "+00:00"))
    assert fallback["props"] == {"text": f"Ends {ends_at:%d %b %Y, %H:%M} UTC", "style": "caption"}
    # and both are valid documents for their versions
    assert_valid_for(newest.json(), 2)
    assert_valid_for(old.json(), 1)


@pytest.mark.django_db
def test_versions_have_different_etags_and_vary_on_the_header(auth_client: APIClient, offer_with_expiry) -> None:
    newest = auth_client.get(URL, HTTP_X_SDUI_VERSION="2")
    old = auth_client.get(URL, HTTP_X_SDUI_VERSION="1")

    assert newest["ETag"] != old["ETag"]
    assert old["ETag"] == f'"{old.json()["version"]}"'
    for response in (newest, old):
        assert [v.strip() for v in response["Vary"].split(",")] == ["Authorization", "X-SDUI-Version"]


@pytest.mark.django_db
def test_an_etag_of_the_other_version_is_not_a_match(auth_client: APIClient, offer_with_expiry) -> None:
    newest_etag = auth_client.get(URL, HTTP_X_SDUI_VERSION="2")["ETag"]
    old_etag = auth_client.get(URL, HTTP_X_SDUI_VERSION="1")["ETag"]

    assert auth_client.get(URL, HTTP_X_SDUI_VERSION="1", HTTP_IF_NONE_MATCH=newest_etag).status_code == 200
    assert auth_client.get(URL, HTTP_X_SDUI_VERSION="1", HTTP_IF_NONE_MATCH=old_etag).status_code == 304


@pytest.mark.django_db
@pytest.mark.parametrize("header", [None, str(CATALOGUE_VERSION), str(CATALOGUE_VERSION + 1), "99", "1" + "0" * 30])
def test_missing_and_future_versions_get_the_newest_catalogue(
    auth_client: APIClient, offer_with_expiry, header: str | None
) -> None:
    newest = auth_client.get(URL, HTTP_X_SDUI_VERSION=str(CATALOGUE_VERSION))
    response = auth_client.get(URL) if header is None else auth_client.get(URL, HTTP_X_SDUI_VERSION=header)

    assert response.status_code == 200
    assert response["ETag"] == newest["ETag"]
    assert response.json()["sections"] == newest.json()["sections"]


@pytest.mark.django_db
@pytest.mark.parametrize("header", [" 1 ", "01"])
def test_spaces_and_leading_zeros_are_accepted(auth_client: APIClient, offer_with_expiry, header: str) -> None:
    response = auth_client.get(URL, HTTP_X_SDUI_VERSION=header)

    assert response.status_code == 200
    assert response["ETag"] == auth_client.get(URL, HTTP_X_SDUI_VERSION="1")["ETag"]


@pytest.mark.django_db
@pytest.mark.parametrize("header", ["0", "-1", "1.0", "v2", "two", "", "1e3", "²"])
def test_an_invalid_version_is_a_400_naming_the_header(auth_client: APIClient, header: str) -> None:
    response = auth_client.get(URL, HTTP_X_SDUI_VERSION=header)

    assert response.status_code == 400
    error = response.json()["error"]
    assert error["code"] == "invalid_client_version"
    assert "X-SDUI-Version" in error["message"]
    assert error["details"] == {"header": "X-SDUI-Version", "value": header}


@pytest.mark.django_db
def test_authentication_is_checked_before_the_version(api_client: APIClient) -> None:
    response = api_client.get(URL, HTTP_X_SDUI_VERSION="zero")

    assert response.status_code == 401


# --- WebSocket ----------------------------------------------------------------------------------


@pytest.fixture
def _clean_in_memory_layer() -> None:
    layer = get_channel_layer()
    if isinstance(layer, InMemoryChannelLayer):
        async_to_sync(layer.flush)()


def bearer(user: User) -> list[tuple[bytes, bytes]]:
    return [(b"authorization", f"Bearer {AccessToken.for_user(user)}".encode())]


async def snapshot_of(path: str, headers: list[tuple[bytes, bytes]]) -> dict[str, Any]:
    communicator = WebsocketCommunicator(application, path, headers=headers)
    connected, _ = await communicator.connect(timeout=TIMEOUT)
    assert connected
    message: dict[str, Any] = await communicator.receive_json_from(timeout=TIMEOUT)
    await communicator.disconnect()
    assert message["type"] == "feed.snapshot"
    return message


@pytest.mark.django_db(transaction=True)
@pytest.mark.usefixtures("_clean_in_memory_layer")
@pytest.mark.parametrize(
    ("path", "extra_headers"),
    [(f"{WS_PATH}?sdui=1", []), (WS_PATH, [(b"x-sdui-version", b"1")])],
    ids=["query", "header"],
)
def test_a_v1_socket_gets_a_snapshot_without_countdown(
    user: User, offer_with_expiry, path: str, extra_headers: list[tuple[bytes, bytes]]
) -> None:
    old = async_to_sync(snapshot_of)(path, bearer(user) + extra_headers)
    newest = async_to_sync(snapshot_of)(WS_PATH, bearer(user))

    assert "countdown" not in types_in(old["feed"])
    assert "countdown" in types_in(newest["feed"])
    assert_valid_for(old["feed"], 1)
    assert old["version"] != newest["version"]
    assert old["feed"] == {**client_for(user).get(URL, HTTP_X_SDUI_VERSION="1").json(), "generated_at": ANY}


@pytest.mark.django_db(transaction=True)
@pytest.mark.usefixtures("_clean_in_memory_layer")
def test_the_header_wins_over_the_query_parameter(user: User, offer_with_expiry) -> None:
    snapshot = async_to_sync(snapshot_of)(f"{WS_PATH}?sdui=1", [*bearer(user), (b"x-sdui-version", b"2")])

    assert "countdown" in types_in(snapshot["feed"])


@pytest.mark.django_db(transaction=True)
@pytest.mark.usefixtures("_clean_in_memory_layer")
def test_resume_and_updates_keep_the_sockets_version(user: User) -> None:
    mobile = ProductFactory.create(slug="mobile")
    payload = OfferPayload(
        external_id="new",
        version=1,
        title="Ends soon",
        price_amount=Decimal("5.00"),
        price_currency="EUR",
        price_period="month",
        cta_url="https://example.com/new",
        expires_at=timezone.now() + timedelta(days=1),
    )

    async def scenario() -> tuple[dict[str, Any], dict[str, Any]]:
        communicator = WebsocketCommunicator(application, f"{WS_PATH}?sdui=1", headers=bearer(user))
        connected, _ = await communicator.connect(timeout=TIMEOUT)
        assert connected
        await communicator.receive_json_from(timeout=TIMEOUT)
        await sync_to_async(offer_upsert)(user=user, product=mobile, payload=payload)
        update = await communicator.receive_json_from(timeout=TIMEOUT)
        await communicator.send_json_to({"type": "resume", "version": "an-old-version"})
        resumed = await communicator.receive_json_from(timeout=TIMEOUT)
        await communicator.disconnect()
        return update, resumed

    update, resumed = async_to_sync(scenario)()

    assert update["type"] == "feed.updated"
    assert "Ends soon" in json.dumps(update["sections"])
    assert "countdown" not in json.dumps(update["sections"])
    assert resumed["type"] == "feed.snapshot"
    assert "countdown" not in types_in(resumed["feed"])
    assert resumed["version"] == update["version"]
    assert resumed["version"] == client_for(user).get(URL, HTTP_X_SDUI_VERSION="1").json()["version"]


@pytest.mark.django_db(transaction=True)
@pytest.mark.usefixtures("_clean_in_memory_layer")
@pytest.mark.parametrize(
    ("path", "extra_headers", "named"),
    [
        (f"{WS_PATH}?sdui=zero", [], "?sdui="),
        (f"{WS_PATH}?sdui=", [], "?sdui="),
        (WS_PATH, [(b"x-sdui-version", b"0")], "X-SDUI-Version"),
    ],
    ids=["query-word", "query-empty", "header-zero"],
)
def test_an_invalid_version_is_an_error_message_then_close_4400(
    user: User, path: str, extra_headers: list[tuple[bytes, bytes]], named: str
) -> None:
    async def scenario() -> tuple[dict[str, Any], dict[str, Any]]:
        communicator = WebsocketCommunicator(application, path, headers=bearer(user) + extra_headers)
        connected, _ = await communicator.connect(timeout=TIMEOUT)
        assert connected
        error = await communicator.receive_json_from(timeout=TIMEOUT)
        close = await communicator.receive_output(timeout=TIMEOUT)
        await communicator.disconnect(timeout=TIMEOUT)  # as a server does once the socket is closed
        return error, close

    error, close = async_to_sync(scenario)()

    assert error["type"] == "error"
    assert error["code"] == "invalid_client_version"
    assert named in error["message"]
    assert close == {"type": "websocket.close", "code": CLOSE_INVALID_CLIENT_VERSION}


@pytest.mark.django_db(transaction=True)
@pytest.mark.usefixtures("_clean_in_memory_layer")
def test_an_anonymous_handshake_is_refused_whatever_the_version() -> None:
    UserFactory.create()

    async def scenario() -> bool:
        communicator = WebsocketCommunicator(application, f"{WS_PATH}?sdui=zero")
        connected, _ = await communicator.connect(timeout=TIMEOUT)
        await communicator.disconnect(timeout=TIMEOUT)
        return connected

    assert async_to_sync(scenario)() is False
