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
