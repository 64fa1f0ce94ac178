"""Fixtures for the interactions tests: a product backend on 127.0.0.1 (pytest-httpserver) that
receives our signed outbound events and checks their signatures with standardwebhooks."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import orjson
import pytest
from pytest_httpserver import HTTPServer
from standardwebhooks.webhooks import Webhook
from werkzeug import Request, Response

from products.breakers import backend_breakers_close_all
from products.models import Product
from products.webhooks import webhook_secret_create
from tests.factories import ProductFactory

EVENTS_PATH = "/home-service/events"


@dataclass
class Received:
    """What the backend received, verified: envelopes by ``webhook-id``, in arrival order."""

    secret: str
    deliveries: list[tuple[str, dict[str, Any]]] = field(default_factory=list)
    bad_signatures: int = 0

    @property
    def ids(self) -> list[str]:
        return [webhook_id for webhook_id, _ in self.deliveries]

    def handler(self, status: int = 204) -> Any:
        def handle(request: Request) -> Response:
            body = request.get_data()
            headers = {k.lower(): v for k, v in request.headers.items()}
            try:
                Webhook(self.secret).verify(body, headers)
            except Exception:
                self.bad_signatures += 1
                return Response("bad signature", status=401)
            self.deliveries.append((headers["webhook-id"], orjson.loads(body)))
            return Response("", status=status)

        return handle


@pytest.fixture(autouse=True)
def closed_breakers() -> Iterator[None]:
    backend_breakers_close_all()
    yield
    backend_breakers_close_all()


@pytest.fixture
def backend(httpserver_ipv4: HTTPServer) -> Iterator[HTTPServer]:
    yield httpserver_ipv4
    httpserver_ipv4.clear()


@pytest.fixture
def product(backend: HTTPServer) -> Product:
    return ProductFactory.create(slug="mobile", events_endpoint=backend.url_for(EVENTS_PATH))


@pytest.fixture
def received(product: Product, backend: HTTPServer) -> Received:
    """The backend answering 204 to every correctly signed delivery."""
    _, secret = webhook_secret_create(product=product)
    got = Received(secret=secret)
    backend.expect_request(EVENTS_PATH, method="POST").respond_with_handler(got.handler())
    return got


from tests.recommendations.conftest import embedded_redis_url, feed_client, feed_doc_redis  # noqa: E402, F401  (shared fixtures)
