"""Shared fixtures (settings for tests: tests/settings.py)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from django.contrib.auth.models import User
from rest_framework.test import APIClient

from homeservice import throttling
from tests.factories import UserFactory


@pytest.fixture(autouse=True)
def throttle_counts_cleared() -> Iterator[None]:
    """Each test starts with no request counted by the throttles (homeservice/throttling.py): the
    suite logs in and posts from one address as the same few user ids, far more than the rates."""
    yield
    throttling.reset()


@pytest.fixture
def api_client() -> APIClient:
    return APIClient()


@pytest.fixture
def user(db: None) -> User:
    return UserFactory.create()


@pytest.fixture
def auth_client(user: User) -> APIClient:
    from rest_framework_simplejwt.tokens import AccessToken

    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {AccessToken.for_user(user)}")
    return client
