"""Helpers for tests that stand a real HTTP server (pytest-httpserver) in for a product backend."""

from __future__ import annotations

from typing import Any

from pytest_httpserver import HTTPServer

from products.models import DealsPollState, Product
from tests.factories import deal

DEALS_PATH = "/deals/"
DEALS = [deal("d1", "Unlimited 5G", "29.99"), {"id": "d2", "title": "No price, no description"}]


def serve(backend: HTTPServer, deals: Any = DEALS, *, etag: str = "") -> None:
    backend.clear()
    headers = {"ETag": etag} if etag else {}
    backend.expect_request(DEALS_PATH, method="GET").respond_with_json({"deals": deals}, headers=headers)


def state_of(product: Product) -> DealsPollState:
    return DealsPollState.objects.get(product=product)
