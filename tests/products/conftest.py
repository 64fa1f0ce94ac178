"""Fixtures for the products tests: a product whose deals endpoint is a real HTTP server on
127.0.0.1 (pytest-httpserver), one poll run the way a worker runs it, and the ``deals_changed``
hook's calls. Every test starts with closed circuit breakers (their state lives in Redis when
REDIS_URL is set, and would otherwise carry over from test to test)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest
from pytest_httpserver import HTTPServer

from products.breakers import backend_breakers_close_all
from products.hooks import deals_changed
from products.models import Product
from products.tasks import deals_poll
from tests.factories import ProductFactory
from tests.products.deals_backend import DEALS_PATH


@pytest.fixture(autouse=True)
def closed_breakers() -> Iterator[None]:
    backend_breakers_close_all()
    yield
    backend_breakers_close_all()


@pytest.fixture
def backend(httpserver_ipv4: HTTPServer) -> Iterator[HTTPServer]:
    """A product backend on 127.0.0.1 (pytest-httpserver's IPv4 server)."""
    yield httpserver_ipv4
    httpserver_ipv4.clear()


@pytest.fixture
def product(backend: HTTPServer) -> Product:
    return ProductFactory.create(slug="mobile", deals_endpoint=backend.url_for(DEALS_PATH))


@pytest.fixture
def hook_calls() -> Iterator[list[str]]:
    """Product slugs ``deals_changed`` was sent for."""
    calls: list[str] = []

    def receiver(sender: Any, product_slug: str, **kwargs: Any) -> None:
        calls.append(product_slug)

    deals_changed.connect(receiver, weak=False, dispatch_uid="test_deals_poll")
    yield calls
    deals_changed.disconnect(dispatch_uid="test_deals_poll")


@pytest.fixture
def poll(django_capture_on_commit_callbacks: Any) -> Callable[[Product], str]:
    """Run one poll of a product the way a worker does (retries included: eagerly, without the
    backoff's wait), with its after-commit hooks."""

    def run(product: Product) -> str:
        with django_capture_on_commit_callbacks(execute=True):
            result: str = deals_poll.apply(args=(product.pk,)).get()
        return result

    return run
