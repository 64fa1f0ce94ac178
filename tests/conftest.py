"""Shared fixtures (settings for tests: tests/settings.py)."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from pathlib import Path

import pytest
from django.contrib.auth.models import User
from django.db import connection, connections
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


@pytest.fixture
def racing_database(transactional_db: None, tmp_path: Path) -> Iterator[None]:
    """For tests that race requests in threads, each with its own connection. PostgreSQL: the
    test database. SQLite: a file copy of the (migrated, empty) in-memory test database, used by
    every connection until the test ends (the in-memory one cannot take concurrent writers)."""
    if connection.vendor != "sqlite":
        yield
        return
    memory = connections["default"]
    memory.ensure_connection()
    path = tmp_path / "race.sqlite3"
    with sqlite3.connect(path) as copy:
        memory.connection.backup(copy)
    copy.close()
    file_settings = {**memory.settings_dict, "NAME": str(path)}
    connections.settings["default"] = file_settings
    connections["default"] = connections.create_connection("default")
    try:
        yield
    finally:
        connections["default"].close()
        connections.settings["default"] = memory.settings_dict
        connections["default"] = memory
