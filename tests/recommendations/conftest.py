"""Fixtures of the recommendations tests: the feed's clients (feed_clients.py)."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from typing import Any

import pytest
import redis
from django.contrib.auth.models import User
from rest_framework_simplejwt.tokens import AccessToken

from homeservice.embedded_redis import EmbeddedRedis
from recommendations.fragments import documents
from tests.recommendations.feed_clients import FastPathClient, ViewClient


@pytest.fixture(scope="session")
def embedded_redis_url() -> Iterator[str]:
    """An embedded Redis-protocol server for tests that need one when the suite has no REDIS_URL."""
    server = EmbeddedRedis().start()
    yield server.url
    server.stop()


@pytest.fixture
def feed_doc_redis(settings: Any, request: pytest.FixtureRequest) -> Iterator[redis.Redis]:
    """The Redis of the feed documents: the suite's (REDIS_URL), else an embedded one; this run's
    document keys are deleted before and after."""
    if not settings.REDIS_URL:
        settings.FEED_DOC_REDIS_URL = request.getfixturevalue("embedded_redis_url")
    client = redis.Redis.from_url(settings.FEED_DOC_REDIS_URL)

    def clean() -> None:
        documents.reset()
        for key in client.scan_iter(f"{settings.REDIS_KEY_PREFIX}:feed*"):
            client.delete(key)

    clean()
    yield client
    clean()
    client.close()


@pytest.fixture(params=["view", "fast path"])
def feed_client(request: pytest.FixtureRequest, transactional_db: None) -> Iterator[Any]:
    """Make a client of the home feed (with ``user``'s token if given): the view, or the fast
    path checked against the view (committed data: feed_clients.py says why)."""
    made: list[FastPathClient] = []
    loop = None
    if request.param == "fast path":
        request.getfixturevalue("feed_doc_redis")
        loop = asyncio.new_event_loop()

    def make(user: User | None = None) -> ViewClient | FastPathClient:
        client: ViewClient | FastPathClient
        if loop is None:
            client = ViewClient()
        else:
            client = FastPathClient(loop=loop)
            made.append(client)
        if user is not None:
            client.credentials(HTTP_AUTHORIZATION=f"Bearer {AccessToken.for_user(user)}")
        return client

    yield make
    for client in made:
        client.close()
    if loop is not None:
        loop.close()
