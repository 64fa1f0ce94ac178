"""Throttles and the failed-login lockout (homeservice/throttling.py, homeservice/auth_api.py;
docs/api.md "Throttling"): a refused request is a 429 with ``Retry-After`` and the error body
``throttled`` whose ``details.retry_after`` is the same number of seconds.

The counts are cleared after every test (tests/conftest.py); these tests set small rates of their
own, or keep the project's defaults where the finding was made with them.
"""

from __future__ import annotations

from typing import Any

import pytest
from django.contrib.auth.models import User
from django.test import Client
from rest_framework.test import APIClient
from rest_framework_simplejwt.tokens import AccessToken

from homeservice import throttling
from tests.factories import UserFactory
from tests.recommendations.conftest import embedded_redis_url  # noqa: F401  # a fixture

pytestmark = pytest.mark.django_db

TOKEN_URL = "/api/v1/auth/token/"
REFRESH_URL = "/api/v1/auth/token/refresh/"
LOGOUT_URL = "/api/v1/auth/logout/"
ADMIN_LOGIN_URL = "/admin/login/"
PASSWORD = "pw-123456"  # UserFactory's
HIGH = "1000/minute"


def rates(settings: Any, **scopes: str) -> None:
    settings.THROTTLE_RATES = {**settings.THROTTLE_RATES, **scopes}


def assert_throttled(response: Any, *, at_most: int) -> int:
    """A 429 in the API's error shape whose Retry-After and details agree; returns the wait."""
    assert response.status_code == 429, (response.status_code, response.content)
    assert response["Content-Type"] == "application/json"
    wait = int(response["Retry-After"])
    assert 1 <= wait <= at_most
    error = response.json()["error"]
    assert error["code"] == "throttled"
    assert error["details"] == {"retry_after": wait}
    assert f"{wait} second" in error["message"]
    return wait


def obtain(client: APIClient, username: str, password: str, **extra: Any) -> Any:
    return client.post(TOKEN_URL, {"username": username, "password": password}, format="json", **extra)


# --- token obtain: the finding, the rate, the lockout ---------------------------------------------


def test_fifty_wrong_passwords_then_the_right_one_is_refused(api_client: APIClient) -> None:
    UserFactory.create(username="alice")

    wrong = [obtain(api_client, "alice", f"guess-{n}").status_code for n in range(50)]
    right = obtain(api_client, "alice", PASSWORD)

    assert wrong[0] == 401
    assert set(wrong[1:]) <= {401, 429}
    assert 429 in wrong
    assert_throttled(right, at_most=15 * 60)
    assert "access" not in right.content.decode()


def test_logins_per_address_are_throttled_even_with_the_right_password(api_client: APIClient, settings) -> None:
    rates(settings, login="3/minute")
    UserFactory.create(username="alice")

    answers = [obtain(api_client, "alice", PASSWORD) for _ in range(3)]
    refused = obtain(api_client, "alice", PASSWORD)
    elsewhere = obtain(api_client, "alice", PASSWORD, REMOTE_ADDR="10.0.0.2")

    assert [a.status_code for a in answers] == [200, 200, 200]
    assert_throttled(refused, at_most=60)
    assert elsewhere.status_code == 200  # counted per address


def test_a_username_is_locked_out_from_an_address_after_five_failures(api_client: APIClient, settings) -> None:
    rates(settings, login=HIGH)  # the lockout alone
    UserFactory.create(username="alice")
    UserFactory.create(username="bob")

    failures = [obtain(api_client, "alice", "nope").status_code for _ in range(5)]
    right = obtain(api_client, "alice", PASSWORD)

    assert failures == [401, 401, 401, 401, 429]  # the fifth failure locks
    assert assert_throttled(right, at_most=settings.AXES_COOLOFF_TIME.total_seconds()) == 15 * 60
    assert "Too many failed logins" in right.json()["error"]["message"]
    # neither another username from this address, nor this username from elsewhere, is locked
    assert obtain(api_client, "bob", PASSWORD).status_code == 200
    assert obtain(api_client, "alice", PASSWORD, REMOTE_ADDR="10.0.0.2").status_code == 200


def test_the_lockout_ends_after_its_cool_off(api_client: APIClient, settings) -> None:
    from datetime import timedelta

    from axes.models import AccessAttempt

    rates(settings, login=HIGH)
    UserFactory.create(username="alice")
    for _ in range(5):
        obtain(api_client, "alice", "nope")
    assert obtain(api_client, "alice", PASSWORD).status_code == 429

    AccessAttempt.objects.update(attempt_time=AccessAttempt.objects.get().attempt_time - timedelta(minutes=16))

    assert obtain(api_client, "alice", PASSWORD).status_code == 200


# --- the admin login ---------------------------------------------------------------------------------


@pytest.fixture
def staff(db: None) -> User:
    return UserFactory.create(username="root", is_staff=True, is_superuser=True)


def admin_login(client: Client, password: str, **extra: Any) -> Any:
    return client.post(ADMIN_LOGIN_URL, {"username": "root", "password": password, "next": "/admin/"}, **extra)


def test_the_admin_login_locks_out_after_five_failures(staff: User, settings) -> None:
    rates(settings, login=HIGH)
    client = Client()

    failures = [admin_login(client, "nope") for _ in range(5)]
    right = admin_login(client, PASSWORD)

    assert [f.status_code for f in failures[:4]] == [200, 200, 200, 200]  # the form again, with an error
    assert_throttled(failures[4], at_most=15 * 60)
    assert assert_throttled(right, at_most=15 * 60) == 15 * 60
    assert "_auth_user_id" not in client.session
    assert admin_login(Client(), PASSWORD, REMOTE_ADDR="10.0.0.2").status_code == 302  # from elsewhere


def test_admin_login_posts_are_throttled_per_address(staff: User, settings) -> None:
    rates(settings, login="2/minute")
    client = Client()

    first, second = admin_login(client, "nope"), admin_login(client, "nope")
    third = admin_login(client, PASSWORD)

    assert (first.status_code, second.status_code) == (200, 200)
    assert_throttled(third, at_most=60)
    assert client.get(ADMIN_LOGIN_URL).status_code == 200  # the form itself is not counted


def test_the_admin_login_still_logs_in(staff: User) -> None:
    client = Client()

    response = admin_login(client, PASSWORD)

    assert response.status_code == 302
    assert client.get("/admin/").status_code == 200


# --- token refresh and logout ------------------------------------------------------------------------


def test_refresh_and_logout_are_throttled_per_address(api_client: APIClient, settings) -> None:
    rates(settings, token="2/minute")
    UserFactory.create(username="alice")
    refresh = obtain(api_client, "alice", PASSWORD).json()["refresh"]

    renewed = api_client.post(REFRESH_URL, {"refresh": refresh}, format="json")
    logout = api_client.post(LOGOUT_URL, {"refresh": renewed.json()["refresh"]}, format="json")
    third = api_client.post(REFRESH_URL, {"refresh": "anything"}, format="json")

    assert (renewed.status_code, logout.status_code) == (200, 204)
    assert_throttled(third, at_most=60)


# --- the client endpoints, per user ------------------------------------------------------------------

ENDPOINTS: list[tuple[str, str, Any]] = [
    ("live_ticket", "/api/v1/live/ticket/", None),
    ("events", "/api/v1/events/", {"events": []}),
    ("plans_filter", "/api/v1/plans/filter/", {"answers": {}}),
    ("plans_select", "/api/v1/plans/select/", {"plan_id": 999_999}),
]


def client_of(user: User) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {AccessToken.for_user(user)}")
    return client


@pytest.mark.parametrize(("scope", "url", "body"), ENDPOINTS, ids=[e[0] for e in ENDPOINTS])
def test_client_endpoints_are_throttled_per_user(scope: str, url: str, body: Any, settings) -> None:
    rates(settings, **{scope: "2/minute"})
    alice, bob = UserFactory.create(), UserFactory.create()
    client = client_of(alice)

    allowed = [client.post(url, body, format="json") for _ in range(2)]
    refused = client.post(url, body, format="json")
    other_user = client_of(bob).post(url, body, format="json")

    assert all(a.status_code != 429 for a in allowed), [a.content for a in allowed]
    assert_throttled(refused, at_most=60)
    assert other_user.status_code != 429


@pytest.mark.parametrize(("scope", "url", "body"), ENDPOINTS, ids=[e[0] for e in ENDPOINTS])
def test_an_anonymous_request_is_refused_before_it_is_counted(scope: str, url: str, body: Any, settings) -> None:
    rates(settings, **{scope: "1/minute"})

    answers = [APIClient().post(url, body, format="json").status_code for _ in range(3)]

    assert answers == [401, 401, 401]


def test_a_scope_with_an_empty_rate_is_not_throttled(settings) -> None:
    rates(settings, live_ticket="")
    client = client_of(UserFactory.create())

    answers = {client.post("/api/v1/live/ticket/").status_code for _ in range(40)}

    assert answers == {201}


def test_the_default_rates_let_a_busy_client_through(settings) -> None:
    """The defaults are generous for a person using the app: a ticket, a batch of events and a plan
    filter request every two seconds for a minute."""
    client = client_of(UserFactory.create())

    for _ in range(30):
        assert client.post("/api/v1/live/ticket/").status_code == 201
        assert client.post("/api/v1/events/", {"events": []}, format="json").status_code != 429
        assert client.post("/api/v1/plans/filter/", {"answers": {}}, format="json").status_code != 429


# --- Redis -------------------------------------------------------------------------------------------


def test_counts_are_redis_keys_when_the_cache_is_redis(settings, request: pytest.FixtureRequest) -> None:
    """With django-redis as the cache, the counts are Redis keys under this run's prefix, which
    every server process sees (embedded mode: on an embedded Redis-protocol server, as `make run`)."""
    import redis

    url = settings.REDIS_URL or request.getfixturevalue("embedded_redis_url")
    settings.CACHES = {"default": {"BACKEND": "django_redis.cache.RedisCache", "LOCATION": url}}
    rates(settings, live_ticket="1/minute")
    user = UserFactory.create()

    first = throttling.wait_seconds("live_ticket", throttling.user_identity(user.pk))
    second = throttling.wait_seconds("live_ticket", throttling.user_identity(user.pk))

    assert first is None
    assert second is not None
    assert 1 <= second <= 60
    server = redis.Redis.from_url(url)
    keys = [k.decode() for k in server.scan_iter(f"{settings.REDIS_KEY_PREFIX}:throttle:*")]
    assert len(keys) == 1
    assert f"live_ticket/user:{user.pk}/" in keys[0]
    assert 0 < server.ttl(keys[0]) <= 60
    throttling.reset()
    assert list(server.scan_iter(f"{settings.REDIS_KEY_PREFIX}:throttle:*")) == []


def test_when_redis_fails_requests_are_let_through(settings, caplog: pytest.LogCaptureFixture) -> None:
    from tests.e2e.harness import free_port

    settings.CACHES = {
        "default": {"BACKEND": "django_redis.cache.RedisCache", "LOCATION": f"redis://127.0.0.1:{free_port()}/0"}
    }
    rates(settings, live_ticket="1/minute")

    waits = [throttling.wait_seconds("live_ticket", "user:1") for _ in range(3)]

    assert waits == [None, None, None]
    assert "Redis failed; the request is let through" in caplog.text
