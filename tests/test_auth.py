"""JWT auth for app clients: POST /api/v1/auth/token/ and /api/v1/auth/token/refresh/ (docs/api.md)."""

from __future__ import annotations

from typing import Any

import pytest
from django.contrib.auth.models import User
from rest_framework.test import APIClient

from tests.factories import UserFactory

pytestmark = pytest.mark.django_db

TOKEN_URL = "/api/v1/auth/token/"
REFRESH_URL = "/api/v1/auth/token/refresh/"
HOME_URL = "/api/v1/home/"
PASSWORD = "pw-123456"  # UserFactory's


def obtain(client: APIClient, username: str, password: str) -> Any:
    return client.post(TOKEN_URL, {"username": username, "password": password}, format="json")


def home_with(access: str) -> Any:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {access}")
    return client.get(HOME_URL)


def test_good_credentials_give_an_access_and_a_refresh_token_that_work(api_client):
    # given
    UserFactory.create(username="alice")

    # when
    response = obtain(api_client, "alice", PASSWORD)

    # then
    assert response.status_code == 200
    body = response.json()
    assert set(body) == {"access", "refresh"}
    assert home_with(body["access"]).status_code == 200


def test_the_refresh_token_is_not_an_access_token(api_client):
    UserFactory.create(username="alice")
    refresh = obtain(api_client, "alice", PASSWORD).json()["refresh"]

    response = home_with(refresh)

    assert response.status_code == 401
    assert response.json()["error"]["code"] == "token_not_valid"


@pytest.mark.parametrize(("username", "password"), [("alice", "wrong-password"), ("nobody", PASSWORD)])
def test_wrong_credentials_are_401_json(api_client, username, password):
    # given
    UserFactory.create(username="alice")

    # when
    response = obtain(api_client, username, password)

    # then
    assert response.status_code == 401
    assert response["Content-Type"] == "application/json"
    error = response.json()["error"]
    assert set(error) == {"code", "message", "details"}
    assert error["code"] == "no_active_account"
    assert "access" not in response.content.decode()


def test_an_inactive_user_gets_no_token(api_client):
    user: User = UserFactory.create(username="alice")
    user.is_active = False
    user.save()

    response = obtain(api_client, "alice", PASSWORD)

    assert response.status_code == 401
    assert response.json()["error"]["code"] == "no_active_account"


def test_refresh_gives_a_new_access_token_for_the_same_user(api_client):
    # given alice's tokens
    UserFactory.create(username="alice")
    refresh = obtain(api_client, "alice", PASSWORD).json()["refresh"]

    # when
    response = api_client.post(REFRESH_URL, {"refresh": refresh}, format="json")

    # then
    assert response.status_code == 200
    access = response.json()["access"]
    assert home_with(access).status_code == 200


@pytest.mark.parametrize("refresh", ["garbage", ""])
def test_refresh_with_a_bad_token_is_refused_with_json(api_client, refresh):
    response = api_client.post(REFRESH_URL, {"refresh": refresh}, format="json")

    assert response.status_code in (400, 401)
    assert set(response.json()["error"]) == {"code", "message", "details"}


def test_an_access_token_cannot_be_used_to_refresh(api_client):
    UserFactory.create(username="alice")
    access = obtain(api_client, "alice", PASSWORD).json()["access"]

    response = api_client.post(REFRESH_URL, {"refresh": access}, format="json")

    assert response.status_code == 401
    assert response.json()["error"]["code"] == "token_not_valid"


# --- refresh-token rotation and logout (homeservice/auth_api.py) ---------------------------------

LOGOUT_URL = "/api/v1/auth/logout/"


def test_refresh_rotates_the_refresh_token_and_the_old_one_is_refused(api_client):
    # given alice's tokens, refreshed once
    UserFactory.create(username="alice")
    first = obtain(api_client, "alice", PASSWORD).json()["refresh"]
    renewed = api_client.post(REFRESH_URL, {"refresh": first}, format="json")
    assert renewed.status_code == 200
    second = renewed.json()["refresh"]
    assert second != first

    # when the first refresh token is used again
    reused = api_client.post(REFRESH_URL, {"refresh": first}, format="json")

    # then it is refused, and the new one works (once)
    assert reused.status_code == 401
    assert reused.json()["error"]["code"] == "token_not_valid"
    assert "access" not in reused.content.decode()
    again = api_client.post(REFRESH_URL, {"refresh": second}, format="json")
    assert again.status_code == 200
    assert home_with(again.json()["access"]).status_code == 200
    assert api_client.post(REFRESH_URL, {"refresh": second}, format="json").status_code == 401


def test_logout_revokes_the_refresh_token(api_client):
    UserFactory.create(username="alice")
    tokens = obtain(api_client, "alice", PASSWORD).json()

    response = api_client.post(LOGOUT_URL, {"refresh": tokens["refresh"]}, format="json")

    assert response.status_code == 204
    assert response.content == b""
    refused = api_client.post(REFRESH_URL, {"refresh": tokens["refresh"]}, format="json")
    assert refused.status_code == 401
    assert refused.json()["error"]["code"] == "token_not_valid"
    # the access token already issued lives on until it expires (JWT_ACCESS_TTL_SECONDS)
    assert home_with(tokens["access"]).status_code == 200


def test_logout_of_a_rotated_token_revokes_the_new_one(api_client):
    UserFactory.create(username="alice")
    first = obtain(api_client, "alice", PASSWORD).json()["refresh"]
    second = api_client.post(REFRESH_URL, {"refresh": first}, format="json").json()["refresh"]

    assert api_client.post(LOGOUT_URL, {"refresh": second}, format="json").status_code == 204

    assert api_client.post(REFRESH_URL, {"refresh": second}, format="json").status_code == 401


@pytest.mark.parametrize("case", ["twice", "garbage", "access token", "missing"])
def test_logout_with_a_bad_token_is_refused_with_json(api_client, case):
    UserFactory.create(username="alice")
    tokens = obtain(api_client, "alice", PASSWORD).json()
    body = {
        "twice": {"refresh": tokens["refresh"]},
        "garbage": {"refresh": "garbage"},
        "access token": {"refresh": tokens["access"]},
        "missing": {},
    }[case]
    if case == "twice":
        assert api_client.post(LOGOUT_URL, body, format="json").status_code == 204

    response = api_client.post(LOGOUT_URL, body, format="json")

    assert response.status_code == (400 if case == "missing" else 401)
    error = response.json()["error"]
    assert set(error) == {"code", "message", "details"}
    assert error["code"] == ("invalid" if case == "missing" else "token_not_valid")
    if case == "missing":
        assert "refresh" in error["details"]


def test_the_fast_paths_still_run_with_these_auth_settings():
    """Rotation, the blacklist and the lockout middleware leave access tokens as the fast paths
    read them (homeservice/fast_path.py): they keep answering."""
    from homeservice.fast_path import settings_why_not

    assert settings_why_not() == ""


@pytest.mark.django_db(transaction=True)
@pytest.mark.usefixtures("racing_database")
def test_of_concurrent_refreshes_with_one_token_one_gets_a_new_token():
    """The blacklist entry is unique: of requests racing with one refresh token, one rotates it."""
    import threading
    from concurrent.futures import ThreadPoolExecutor

    from django.db import connection

    UserFactory.create(username="alice")
    refresh = obtain(APIClient(), "alice", PASSWORD).json()["refresh"]
    barrier = threading.Barrier(8)

    def attempt(_: int) -> int:
        barrier.wait()
        try:
            return int(APIClient().post(REFRESH_URL, {"refresh": refresh}, format="json").status_code)
        finally:
            connection.close()

    with ThreadPoolExecutor(8) as pool:
        answers = sorted(pool.map(attempt, range(8)))

    assert answers == [200] + [401] * 7
