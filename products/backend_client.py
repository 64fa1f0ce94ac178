"""The outbound client for product backends: deals, and a user's offers (``offers.invalidated``).

Every call to a product backend goes through here: only allowed hosts on public addresses
(outbound_guard.py, SSRF), httpx with connect, read and total timeouts, no redirects, a response
size limit, conditional GET by ETag, and validation of the body's shape. Failures worth retrying
raise ``TransientBackendError``; the deals poller retries them and counts them in the product's
circuit breaker (deals_poller.py, breakers.py).
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

import httpx
import orjson
from django.conf import settings
from jsonschema import Draft202012Validator
from jsonschema.exceptions import best_match

from .backend_errors import BackendError, TransientBackendError
from .breakers import BreakerError, backend_breaker
from .outbound_guard import OutboundRefused, OutboundUnresolvable, outbound_target


@dataclass(frozen=True)
class OffersFetch:
    offers: list[dict[str, Any]]


@dataclass(frozen=True)
class DealsFetch:
    not_modified: bool
    deals: list[dict[str, Any]]
    etag: str


def _timeout() -> httpx.Timeout:
    return httpx.Timeout(settings.OUTBOUND_READ_TIMEOUT, connect=settings.OUTBOUND_CONNECT_TIMEOUT)


def _read_limited(response: httpx.Response, limit: int, deadline: float) -> bytes:
    declared = response.headers.get("content-length")
    if declared and declared.isdigit() and int(declared) > limit:
        raise BackendError(f"response of {declared} bytes exceeds the limit of {limit}")
    body = bytearray()
    for chunk in response.iter_bytes():
        body.extend(chunk)
        if len(body) > limit:
            raise BackendError(f"response exceeds the limit of {limit} bytes")
        if time.monotonic() > deadline:
            raise TransientBackendError(
                f"response not complete within OUTBOUND_TOTAL_TIMEOUT ({settings.OUTBOUND_TOTAL_TIMEOUT} s)"
            )
    return bytes(body)


_TEXT = {"type": "string", "maxLength": 2000}
DEALS_SCHEMA: dict[str, Any] = {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "title": "Deals document (docs/product-backends.md)",
    "type": "object",
    "required": ["deals"],
    "properties": {
        "deals": {
            "type": "array",
            "maxItems": 100,
            "items": {
                "type": "object",
                "required": ["id", "title"],
                "properties": {
                    "id": {"type": "string", "minLength": 1, "maxLength": 200},
                    "title": {"type": "string", "minLength": 1, "maxLength": 200},
                    "description": _TEXT,
                    "url": _TEXT,
                    "price": {
                        "type": ["object", "null"],
                        "required": ["amount", "currency"],
                        "properties": {
                            "amount": {"type": "string", "pattern": r"^-?\d{1,9}(\.\d{1,2})?$"},
                            "currency": {"type": "string", "pattern": "^[A-Z]{3}$"},
                            "period": {"type": "string", "maxLength": 20},
                        },
                    },
                },
            },
        }
    },
}
_deals_validator = Draft202012Validator(DEALS_SCHEMA)


def _validated_list(validator: Draft202012Validator, document: Any, key: str) -> list[dict[str, Any]]:
    """``document[key]`` once ``document`` passes ``validator``; the error names the JSON path at fault."""
    error = best_match(validator.iter_errors(document))
    if error is not None:
        raise BackendError(f"{key} body invalid at {error.json_path}: {error.message}")
    items: list[dict[str, Any]] = document[key]
    return items


def validate_deals_document(document: Any) -> list[dict[str, Any]]:
    """Check a deals body against ``DEALS_SCHEMA``."""
    return _validated_list(_deals_validator, document, "deals")


@dataclass(frozen=True)
class _JSONGet:
    not_modified: bool
    document: Any
    etag: str


def _status_error(what: str, response: httpx.Response) -> BackendError:
    status = response.status_code
    if status >= 500 or status == 429:
        return TransientBackendError(f"{what} endpoint answered HTTP {status}")
    location = response.headers.get("location")
    if 300 <= status < 400 and location:
        return BackendError(f"{what} endpoint answered HTTP {status}, a redirect to {location} (not followed)")
    return BackendError(f"{what} endpoint answered HTTP {status}")


def _unreachable(what: str, exc: Exception) -> TransientBackendError:
    return TransientBackendError(f"{what} endpoint unreachable: {exc.__class__.__name__}: {exc}")


def _get_json(*, url: str, what: str, etag: str = "") -> _JSONGet:
    """The one GET to a product backend: an allowed host on a checked address, timeouts, no
    redirects, a size limit, conditional by ``etag`` (a 304 gives ``not_modified``), a JSON body.
    ``what`` names the endpoint in errors. Each checked address is tried in turn until one connects.
    """
    try:
        target = outbound_target(url)
    except OutboundRefused as exc:
        raise BackendError(f"{what} endpoint refused: {exc}") from exc
    except OutboundUnresolvable as exc:
        raise TransientBackendError(f"{what} endpoint unreachable: {exc}") from exc
    headers = {"Accept": "application/json", "Host": target.url.netloc.decode("ascii")}
    if etag:
        headers["If-None-Match"] = etag
    extensions = {"sni_hostname": target.url.host} if target.url.scheme == "https" else {}
    deadline = time.monotonic() + settings.OUTBOUND_TOTAL_TIMEOUT
    connect_error: httpx.ConnectError | None = None
    with httpx.Client(timeout=_timeout(), follow_redirects=False) as client:
        for address in target.addresses:
            request = client.build_request("GET", target.url_for(address), headers=headers, extensions=extensions)
            try:
                response = client.send(request, stream=True)
            except httpx.ConnectError as exc:
                connect_error = exc
                continue
            except httpx.TransportError as exc:
                raise _unreachable(what, exc) from exc
            except httpx.HTTPError as exc:
                raise BackendError(f"{what} endpoint failed: {exc.__class__.__name__}: {exc}") from exc
            try:
                if etag and response.status_code == 304:
                    return _JSONGet(not_modified=True, document=None, etag=etag)
                if response.status_code != 200:
                    raise _status_error(what, response)
                body = _read_limited(response, settings.OUTBOUND_MAX_BODY_BYTES, deadline)
                new_etag = response.headers.get("etag", "")
            except httpx.TransportError as exc:
                raise _unreachable(what, exc) from exc
            except httpx.HTTPError as exc:  # e.g. a body that does not decode as its Content-Encoding says
                raise BackendError(f"{what} body unreadable: {exc.__class__.__name__}: {exc}") from exc
            finally:
                response.close()
            try:
                document = orjson.loads(body)
            except orjson.JSONDecodeError as exc:
                raise BackendError(f"{what} body is not JSON: {exc}") from exc
            return _JSONGet(not_modified=False, document=document, etag=new_etag)
    raise _unreachable(what, connect_error or httpx.ConnectError("no address to connect to"))


def deals_fetch(*, url: str, etag: str = "") -> DealsFetch:
    """GET a product's deals; ``etag`` makes it conditional (a 304 gives ``not_modified``)."""
    got = _get_json(url=url, what="deals", etag=etag)
    if got.not_modified:
        return DealsFetch(not_modified=True, deals=[], etag=etag)
    return DealsFetch(not_modified=False, deals=validate_deals_document(got.document), etag=got.etag)


_URL = {"type": "string", "maxLength": 200, "pattern": "^https?://"}
_DATETIME = {"type": ["string", "null"], "maxLength": 40}
OFFER_SCHEMA: dict[str, Any] = {
    "title": "An offer (docs/webhooks.md): pushed in events and served by the per-user offers endpoint",
    "type": "object",
    "required": ["title"],
    "anyOf": [{"required": ["id"]}, {"required": ["external_id"]}],
    "properties": {
        "id": {"type": "string", "minLength": 1, "maxLength": 200},
        "external_id": {"type": "string", "minLength": 1, "maxLength": 200},
        "title": {"type": "string", "minLength": 1, "maxLength": 200},
        "body": {"type": "string", "maxLength": 5000},
        "image_url": {"anyOf": [_URL, {"const": ""}]},
        "price": {
            "type": ["object", "null"],
            "required": ["amount", "currency"],
            "properties": {
                "amount": {"type": "string", "pattern": r"^-?\d{1,8}(\.\d{1,2})?$"},
                "currency": {"type": "string", "pattern": "^[A-Z]{3}$"},
                "period": {"type": "string", "maxLength": 20},
            },
        },
        "cta_label": {"type": "string", "minLength": 1, "maxLength": 80},
        "cta_url": {"anyOf": [_URL, {"const": ""}]},
        "priority": {"type": "integer", "minimum": -1_000_000, "maximum": 1_000_000},
        "expires_at": _DATETIME,
        "data": {"type": "object"},
    },
}
OFFERS_DOCUMENT_SCHEMA: dict[str, Any] = {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "title": "A user's offers (docs/webhooks.md, offers.invalidated)",
    "type": "object",
    "required": ["offers"],
    "properties": {"offers": {"type": "array", "maxItems": 100, "items": OFFER_SCHEMA}},
}
_offers_validator = Draft202012Validator(OFFERS_DOCUMENT_SCHEMA)


def validate_offers_document(document: Any) -> list[dict[str, Any]]:
    """Check an offers body against ``OFFERS_DOCUMENT_SCHEMA``."""
    return _validated_list(_offers_validator, document, "offers")


def offers_fetch(*, url: str, product_slug: str | None = None) -> OffersFetch:
    """GET one user's offers (the product's offers endpoint with ``{user}`` already filled in).

    With ``product_slug`` the call goes through that product's circuit breaker (breakers.py);
    while it is open this raises ``TransientBackendError`` without calling the backend.
    """
    if product_slug is None:
        return OffersFetch(offers=validate_offers_document(_get_json(url=url, what="offers").document))
    try:
        got = backend_breaker(product_slug=product_slug).call(_get_json, url=url, what="offers")
    except BreakerError as exc:
        raise TransientBackendError(f"offers endpoint not called: circuit breaker open ({exc})") from exc
    return OffersFetch(offers=validate_offers_document(got.document))
