"""The outbound client for product backends (first version: deals).

Every call to a product backend goes through here: httpx with connect and read timeouts, no
redirects, a response size limit, conditional GET by ETag, and validation of the body's shape.
Retries, the circuit breaker and host allow-listing come with the resilient poller.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import httpx
import orjson
from django.conf import settings


class BackendError(Exception):
    """A product backend could not be reached or answered something we cannot use."""


@dataclass(frozen=True)
class DealsFetch:
    not_modified: bool
    deals: list[dict[str, Any]]
    etag: str


def _timeout() -> httpx.Timeout:
    return httpx.Timeout(settings.OUTBOUND_READ_TIMEOUT, connect=settings.OUTBOUND_CONNECT_TIMEOUT)


def _read_limited(response: httpx.Response, limit: int) -> bytes:
    declared = response.headers.get("content-length")
    if declared and declared.isdigit() and int(declared) > limit:
        raise BackendError(f"response of {declared} bytes exceeds the limit of {limit}")
    body = bytearray()
    for chunk in response.iter_bytes():
        body.extend(chunk)
        if len(body) > limit:
            raise BackendError(f"response exceeds the limit of {limit} bytes")
    return bytes(body)


def validate_deals_document(document: Any) -> list[dict[str, Any]]:
    """Check a deals body: ``{"deals": [{"id": str, "title": str, ...}, ...]}``."""
    if not isinstance(document, dict) or not isinstance(document.get("deals"), list):
        raise BackendError("deals body must be an object with a 'deals' list")
    deals = document["deals"]
    for index, deal in enumerate(deals):
        if not isinstance(deal, dict):
            raise BackendError(f"deals[{index}] must be an object")
        for field in ("id", "title"):
            if not isinstance(deal.get(field), str) or not deal[field]:
                raise BackendError(f"deals[{index}].{field} must be a non-empty string")
    return deals


def deals_fetch(*, url: str, etag: str = "") -> DealsFetch:
    """GET a product's deals; ``etag`` makes it conditional (a 304 gives ``not_modified``)."""
    headers = {"Accept": "application/json"}
    if etag:
        headers["If-None-Match"] = etag
    try:
        with (
            httpx.Client(timeout=_timeout(), follow_redirects=False) as client,
            client.stream("GET", url, headers=headers) as response,
        ):
            if response.status_code == 304:
                return DealsFetch(not_modified=True, deals=[], etag=etag)
            if response.status_code != 200:
                raise BackendError(f"deals endpoint answered HTTP {response.status_code}")
            body = _read_limited(response, settings.OUTBOUND_MAX_BODY_BYTES)
            new_etag = response.headers.get("etag", "")
    except httpx.HTTPError as exc:
        raise BackendError(f"deals endpoint unreachable: {exc.__class__.__name__}: {exc}") from exc
    try:
        document = orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise BackendError(f"deals body is not JSON: {exc}") from exc
    return DealsFetch(not_modified=False, deals=validate_deals_document(document), etag=new_etag)
