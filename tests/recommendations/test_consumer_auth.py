"""Who may hold a ``/ws/home/`` socket, and for how long (docs/websocket.md, "Connecting").

- the bearer rule is HTTP's (simplejwt's header parsing), so a header refused over HTTP opens no socket;
- a session socket's ``Origin`` must be the request's own origin (scheme, host and port) or a
  trusted one (``CSRF_TRUSTED_ORIGINS``), as Django's CSRF check reads it;
- a session socket is re-checked on the hub's timer: a logout, a password change or a
  deactivation closes it with 4401; a bearer or ticket socket closes when its account is
  deactivated or deleted;
- a user holds at most ``LIVE_MAX_SOCKETS_PER_USER`` sockets (4429 beyond);
- with Redis down, the ticket endpoint answers 503 and a handshake is closed with 1013.

Through the real ASGI routing with ``WebsocketCommunicator``, as test_consumer.py.
"""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest
from asgiref.sync import sync_to_async
from channels.testing import WebsocketCommunicator
from django.conf import settings as django_settings
from django.contrib.auth.models import User
from django.test import Client
from rest_framework.test import APIClient
from rest_framework_simplejwt.tokens import AccessToken

from homeservice.asgi import application
from recommendations import live_protocol
from tests.e2e.harness import free_port
from tests.factories import UserFactory

from .test_consumer import (  # noqa: F401 - the fixture is used by every test here too
    TIMEOUT,
    WS_PATH,
    _clean_in_memory_layer,
    assert_still_open,
    bearer,
    handshake,
    open_socket,
    run,
)
from .test_consumer_live import closed_with, ticket_for

pytestmark = pytest.mark.django_db(transaction=True)

REDIS_RETRIES_TIMEOUT = 60


@pytest.fixture(autouse=True)
def _snapshots_through_the_view(settings: Any) -> None:
    """The snapshot is read through the view's code, not the loop's own PostgreSQL pool: these
    tests open many short-lived event loops, and a loop whose pool could not connect (a busy
    shared server) can hang in its teardown. What they test does not depend on how the snapshot
    is read (test_consumer.py covers both)."""
    settings.FEED_FAST_BUILD = False


def logged_in(user: User) -> Client:
    client = Client()
    client.force_login(user)
    return client


def cookie_of(client: Client) -> tuple[bytes, bytes]:
    value = client.cookies[django_settings.SESSION_COOKIE_NAME].value
    return (b"cookie", f"{django_settings.SESSION_COOKIE_NAME}={value}".encode())


def session_headers(client: Client, *, host: bytes = b"localhost:8000") -> list[tuple[bytes, bytes]]:
    return [cookie_of(client), (b"host", host), (b"origin", b"http://" + host)]


def accepted(headers: list[tuple[bytes, bytes]], path: str = WS_PATH) -> bool:
    async def scenario() -> bool:
        communicator = WebsocketCommunicator(application, path, headers=headers)
        connected, _ = await communicator.connect(timeout=TIMEOUT)
        if connected:  # let the connection finish its work first (the snapshot)
            assert (await communicator.receive_json_from(timeout=TIMEOUT))["type"] == "feed.snapshot"
        await communicator.disconnect(timeout=TIMEOUT)
        return connected

    result: bool = run(scenario)
    return result


# --- Bearer parsing is HTTP's -----------------------------------------------------------------------


@pytest.mark.parametrize(
    "header",
    [
        "Bearer {token}",
        "bearer {token}",
        "BEARER {token}",
        "Bearer  {token}",
        "Bearer\t{token}",
        "Bearer {token} extra",
        " Bearer {token}",
        "JWT {token}",
    ],
)
def test_a_bearer_header_opens_a_socket_exactly_when_http_accepts_it(header: str) -> None:
    user = UserFactory.create()
    value = header.format(token=AccessToken.for_user(user))
    over_http = APIClient().get("/api/v1/home/", HTTP_AUTHORIZATION=value).status_code

    assert over_http in (200, 401)
    assert accepted([(b"authorization", value.encode())]) == (over_http == 200)


# --- The Origin of a session socket -----------------------------------------------------------------


@pytest.mark.parametrize(
    ("host", "origin", "forwarded_proto", "allowed"),
    [
        (b"localhost:8000", b"http://localhost:8000", None, True),
        (b"127.0.0.1:8000", b"http://127.0.0.1:8000", None, True),
        (b"localhost", b"http://localhost", None, True),
        (b"127.0.0.1:8000", b"http://127.0.0.1:9999", None, False),  # another port of an allowed host
        (b"localhost:8000", b"http://localhost", None, False),
        (b"localhost:8000", b"https://localhost:8000", None, False),  # another scheme
        (b"localhost:8000", b"http://127.0.0.1:8000", None, False),  # another allowed host
        (b"localhost:8000", b"https://localhost:8000", b"https", True),  # TLS ended at the proxy
        (b"localhost:8000", b"http://localhost:8000", b"https", False),
        (b"evil.example", b"http://evil.example", None, False),  # a host ALLOWED_HOSTS refuses
        (b"localhost:8000", b"null", None, False),
    ],
)
def test_a_session_socket_needs_the_requests_own_origin(
    host: bytes, origin: bytes, forwarded_proto: bytes | None, allowed: bool
) -> None:
    headers = [cookie_of(logged_in(UserFactory.create())), (b"host", host), (b"origin", origin)]
    if forwarded_proto is not None:
        headers.append((b"x-forwarded-proto", forwarded_proto))
    assert accepted(headers) == allowed


def test_a_trusted_origin_may_open_a_session_socket(settings: Any) -> None:
    settings.CSRF_TRUSTED_ORIGINS = ["https://app.example.com", "https://*.shop.example"]
    client = logged_in(UserFactory.create())

    def with_origin(origin: bytes) -> list[tuple[bytes, bytes]]:
        return [cookie_of(client), (b"host", b"localhost:8000"), (b"origin", origin)]

    assert accepted(with_origin(b"https://app.example.com"))
    assert accepted(with_origin(b"https://eu.shop.example"))
    assert not accepted(with_origin(b"http://app.example.com"))
    assert not accepted(with_origin(b"https://app.example.com:8443"))


# --- Re-checked on the hub's timer ------------------------------------------------------------------


@pytest.fixture
def quick_sweep(settings: Any) -> None:
    settings.LIVE_SWEEP_SECONDS = 0.1


def _closed_after(headers: list[tuple[bytes, bytes]], change: Any, path: str = WS_PATH) -> tuple[list[Any], int]:
    async def scenario() -> tuple[list[dict[str, Any]], int]:
        communicator = WebsocketCommunicator(application, path, headers=headers)
        connected, _ = await communicator.connect(timeout=TIMEOUT)
        assert connected
        assert (await communicator.receive_json_from(timeout=TIMEOUT))["type"] == "feed.snapshot"
        await assert_still_open(communicator)
        await sync_to_async(change)()
        return await closed_with(communicator)

    result: tuple[list[Any], int] = run(scenario)
    return result


def test_a_session_socket_closes_with_4401_after_logout(quick_sweep: None) -> None:
    client = logged_in(UserFactory.create())

    messages, code = _closed_after(session_headers(client), client.logout)

    assert code == live_protocol.CLOSE_UNAUTHENTICATED == 4401
    assert [(m["type"], m["code"]) for m in messages] == [("error", "session_ended")]


def test_a_session_socket_closes_after_a_password_change(quick_sweep: None) -> None:
    user = UserFactory.create()
    client = logged_in(user)

    def change_password() -> None:
        fresh = User.objects.get(pk=user.pk)
        fresh.set_password("another-pw-987654")
        fresh.save()

    messages, code = _closed_after(session_headers(client), change_password)

    assert code == 4401
    assert [m["code"] for m in messages] == ["session_ended"]


@pytest.mark.parametrize("how", ["save", "update"])
def test_a_session_socket_closes_when_its_user_is_deactivated(quick_sweep: None, how: str) -> None:
    user = UserFactory.create()
    client = logged_in(user)

    def deactivate() -> None:
        if how == "save":
            user.is_active = False
            user.save()
        else:
            User.objects.filter(pk=user.pk).update(is_active=False)  # no signal

    messages, code = _closed_after(session_headers(client), deactivate)

    assert code == 4401
    assert [m["code"] for m in messages] == ["session_ended"]


@pytest.mark.parametrize("credential", ["bearer", "ticket"])
def test_a_token_socket_closes_when_its_user_is_deactivated(quick_sweep: None, credential: str) -> None:
    user = UserFactory.create()
    if credential == "bearer":
        headers, path = bearer(user), WS_PATH
    else:
        headers, path = [], f"{WS_PATH}?ticket={ticket_for(user)['ticket']}"

    messages, code = _closed_after(headers, lambda: User.objects.filter(pk=user.pk).update(is_active=False), path=path)

    assert code == 4401
    assert [m["code"] for m in messages] == ["user_inactive"]


def test_a_token_socket_closes_when_its_user_is_deleted(quick_sweep: None) -> None:
    user = UserFactory.create()

    messages, code = _closed_after(bearer(user), lambda: User.objects.filter(pk=user.pk).delete())

    assert code == 4401
    assert [m["code"] for m in messages] == ["user_not_found"]


def test_sockets_whose_credentials_hold_stay_open(quick_sweep: None) -> None:
    user = UserFactory.create()
    other = logged_in(UserFactory.create())
    client = logged_in(user)

    async def scenario() -> None:
        session_socket, _ = await open_socket(session_headers(client))
        bearer_socket, _ = await open_socket(bearer(user))
        await sync_to_async(other.logout)()  # someone else's session ends
        await sync_to_async(User.objects.filter(pk=user.pk).update)(first_name="Renamed")
        for _ in range(5):  # several sweeps
            await asyncio.sleep(0.15)
            await assert_still_open(session_socket)
            await assert_still_open(bearer_socket)
        await session_socket.disconnect()
        await bearer_socket.disconnect()

    run(scenario)


# --- Sockets per user -------------------------------------------------------------------------------


def test_the_socket_beyond_the_per_user_limit_is_closed_with_4429() -> None:
    assert django_settings.LIVE_MAX_SOCKETS_PER_USER == 20
    user, other = UserFactory.create(), UserFactory.create()

    async def scenario() -> None:
        sockets = [(await open_socket(bearer(user)))[0] for _ in range(20)]
        connected, extra = await handshake(bearer(user))
        assert connected
        messages, code = await closed_with(extra)
        assert code == live_protocol.CLOSE_FLOOD == 4429
        assert [(m["type"], m["code"]) for m in messages] == [("error", "too_many_connections")]
        assert "20" in messages[0]["message"]
        # another user is not affected; a place freed is taken again
        someone, _ = await open_socket(bearer(other))
        await someone.disconnect()
        await sockets.pop().disconnect()
        again, _ = await open_socket(bearer(user))
        await again.disconnect()
        for socket in sockets:
            await socket.disconnect()

    run(scenario)


# --- Redis down ---------------------------------------------------------------------------------------


@pytest.fixture
def redis_down(settings: Any) -> str:
    """Every Redis the live path uses points to a loopback port nobody listens on."""
    url = f"redis://127.0.0.1:{free_port()}/0"
    settings.CACHES = {
        "default": {
            "BACKEND": "django_redis.cache.RedisCache",
            "LOCATION": url,
            "KEY_PREFIX": settings.REDIS_KEY_PREFIX,
            "OPTIONS": {"SOCKET_CONNECT_TIMEOUT": 1, "SOCKET_TIMEOUT": 1},
        }
    }
    settings.CHANNEL_LAYERS = {
        "default": {
            "BACKEND": "channels_redis.pubsub.RedisPubSubChannelLayer",
            "CONFIG": {"hosts": [{"address": url, "socket_timeout": 1}], "prefix": f"{settings.REDIS_KEY_PREFIX}:asgi"},
        }
    }
    settings.REDIS_URL = url
    return url


def test_the_ticket_endpoint_answers_503_while_redis_is_down(redis_down: str) -> None:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {AccessToken.for_user(UserFactory.create())}")

    response = client.post("/api/v1/live/ticket/")

    assert response.status_code == 503
    body = response.json()
    assert body["error"]["code"] == "unavailable"
    assert body["error"]["message"]


@pytest.mark.parametrize("credential", ["bearer", "ticket"])
def test_a_handshake_while_redis_is_down_is_closed_with_1013(
    credential: str, settings: Any, request: pytest.FixtureRequest
) -> None:
    user = UserFactory.create()
    path = WS_PATH
    headers = bearer(user)
    if credential == "ticket":
        path, headers = f"{WS_PATH}?ticket={ticket_for(user)['ticket']}", []
    request.getfixturevalue("redis_down")

    async def scenario() -> tuple[bool, list[dict[str, Any]], int]:
        communicator = WebsocketCommunicator(application, path, headers=headers)
        # Generous: the Redis client retries the connection a few times, with backoff, first.
        connected, _ = await communicator.connect(timeout=REDIS_RETRIES_TIMEOUT)
        messages, code = await closed_with(communicator) if connected else ([], 0)
        return connected, messages, code

    connected, messages, code = run(scenario)
    assert connected
    assert code == live_protocol.CLOSE_TRY_AGAIN_LATER == 1013
    assert [(m["type"], m["code"]) for m in messages] == [("error", "unavailable")]
    assert json.dumps(messages)  # the frame is the documented JSON
