"""A product-backend simulator for the demo and the tests (mounted at /simulator/ when enabled).

``GET  /simulator/products/<slug>/deals/`` serves the product's deals with an ETag (304 on match).
Unless a test or a person has set the deals, a "deal of the moment" changes its price every
``SIMULATOR_ROTATE_SECONDS``, so a newcomer sees a live update within a minute.
``PUT`` the same URL with ``{"deals": [...]}`` to set them; ``DELETE`` to go back to rotating.
``PUT  /simulator/products/<slug>/outage/`` with ``{"status": 503}`` (any 5xx, or 429) makes the
deals endpoint answer that status, as a backend that is down would; ``DELETE`` ends the outage.
``GET  /simulator/products/<slug>/users/<username>/offers/`` serves a user's offers (what an
``offers.invalidated`` event makes the service fetch): the same for each (product, user), with an ETag.
``POST /simulator/products/<slug>/events/`` receives the events the service sends product backends
(interactions, plan selections; docs/product-backends.md): it checks the Standard Webhooks
signature against the product's active secrets (401 if none matches), answers 204, and keeps the
newest ``SIMULATOR_EVENTS_KEPT`` deliveries, once per ``webhook-id`` (a repeated delivery is
acknowledged and not kept again); ``GET`` the same URL lists them, newest first.
State lives in the Django cache, so with Redis every process sees the same deals.
"""

from __future__ import annotations

import binascii
import hashlib
import time
from copy import deepcopy
from decimal import Decimal
from typing import Any

import orjson
from django.conf import settings
from django.core.cache import cache
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_http_methods
from standardwebhooks.webhooks import Webhook, WebhookVerificationError

from homeservice.errors import error_body

from .backend_client import BackendError, validate_deals_document
from .demo_catalogue import demo_product
from .models import Product
from .webhooks import webhook_secrets_active

SIMULATOR_EVENTS_KEPT = 100


def _override_key(slug: str) -> str:
    return f"simulator:deals:{slug}"


def rotating_deals(slug: str, *, now: float | None = None) -> list[dict[str, Any]]:
    product = demo_product(slug)
    if product is None:
        return []
    deals = deepcopy(product["deals"])
    if deals:
        bucket = int((now if now is not None else time.time()) // max(1, settings.SIMULATOR_ROTATE_SECONDS))
        first = deals[0]
        discount = Decimal(bucket % 4)
        first["price"]["amount"] = str(Decimal(first["price"]["amount"]) - discount)
        first["title"] = f"{first['title']} (deal of the moment)" if discount else first["title"]
    return deals


def _outage_key(slug: str) -> str:
    return f"simulator:outage:{slug}"


def current_deals(slug: str) -> list[dict[str, Any]]:
    override = cache.get(_override_key(slug))
    return override if override is not None else rotating_deals(slug)


@csrf_exempt
@require_http_methods(["GET", "PUT", "DELETE"])
def deals_view(request: HttpRequest, slug: str) -> HttpResponse:
    if request.method == "PUT":
        try:
            document = orjson.loads(request.body)
            deals = validate_deals_document(document)
        except (orjson.JSONDecodeError, BackendError) as exc:
            return JsonResponse(error_body("invalid_deals", str(exc)), status=400)
        cache.set(_override_key(slug), deals, timeout=None)
        return HttpResponse(status=204)
    if request.method == "DELETE":
        cache.delete(_override_key(slug))
        return HttpResponse(status=204)
    if demo_product(slug) is None and cache.get(_override_key(slug)) is None:
        return JsonResponse(error_body("not_found", f"no simulated product {slug!r}"), status=404)
    outage = cache.get(_outage_key(slug))
    if outage is not None:
        return JsonResponse(error_body("outage", "simulated outage"), status=int(outage))
    return _json_with_etag(request, {"deals": current_deals(slug)})


@csrf_exempt
@require_http_methods(["PUT", "DELETE"])
def outage_view(request: HttpRequest, slug: str) -> HttpResponse:
    """Start (``PUT {"status": 503}``) or end (``DELETE``) a simulated outage of a deals endpoint."""
    if request.method == "DELETE":
        cache.delete(_outage_key(slug))
        return HttpResponse(status=204)
    try:
        status = orjson.loads(request.body).get("status")
    except (orjson.JSONDecodeError, AttributeError):
        status = None
    if not isinstance(status, int) or isinstance(status, bool) or not (500 <= status <= 599 or status == 429):
        return JsonResponse(error_body("invalid_outage", 'send {"status": <5xx or 429>}'), status=400)
    cache.set(_outage_key(slug), status, timeout=None)
    return HttpResponse(status=204)


def _json_with_etag(request: HttpRequest, document: dict[str, Any]) -> HttpResponse:
    body = orjson.dumps(document, option=orjson.OPT_SORT_KEYS)
    etag = f'"{hashlib.sha256(body).hexdigest()[:20]}"'
    if request.headers.get("If-None-Match") == etag:
        response = HttpResponse(status=304)
    else:
        response = HttpResponse(body, content_type="application/json")
    response["ETag"] = etag
    return response


def user_offers(slug: str, username: str) -> list[dict[str, Any]]:
    """A user's offers for a demo product: one or two, derived from (product, user) only."""
    product = demo_product(slug)
    if product is None:
        return []
    digest = hashlib.sha256(f"{slug}:{username}".encode()).digest()
    offers = []
    for index in range(1 + digest[0] % 2):
        price = 5 + digest[index + 1] % 40
        offers.append(
            {
                "id": f"sim-{slug}-{index}",
                "title": f"{product['name']} offer for {username}" + (" (bundle)" if index else ""),
                "body": f"Picked for {username} by the {product['name']} backend.",
                "price": {"amount": f"{price}.99", "currency": "EUR", "period": "month"},
                "cta_label": "See offer",
                "cta_url": f"https://example.com/{slug}/offers/{index}",
                "priority": 10 - index,
            }
        )
    return offers


@require_http_methods(["GET"])
def user_offers_view(request: HttpRequest, slug: str, username: str) -> HttpResponse:
    if demo_product(slug) is None:
        return JsonResponse(error_body("not_found", f"no simulated product {slug!r}"), status=404)
    return _json_with_etag(request, {"offers": user_offers(slug, username)})


def _events_key(slug: str) -> str:
    return f"simulator:events:{slug}"


def _signature_valid(product: Product, body: bytes, headers: dict[str, str]) -> bool:
    signed = {name: headers.get(name, "") for name in ("webhook-id", "webhook-timestamp", "webhook-signature")}
    for candidate in webhook_secrets_active(product=product):
        try:
            Webhook(candidate.secret).verify(body, signed, json_parse=False)
        except (WebhookVerificationError, ValueError, binascii.Error):
            continue
        return True
    return False


@csrf_exempt
@require_http_methods(["GET", "POST"])
def events_view(request: HttpRequest, slug: str) -> HttpResponse:
    """A product backend's events endpoint: verify, deduplicate by ``webhook-id``, keep."""
    product = Product.objects.filter(slug=slug).first()
    if product is None:
        return JsonResponse(error_body("not_found", f"no product {slug!r}"), status=404)
    if request.method == "GET":
        return JsonResponse({"events": cache.get(_events_key(slug)) or []})
    headers = {name.lower(): value for name, value in request.headers.items()}
    if not _signature_valid(product, request.body, headers):
        return JsonResponse(error_body("bad_signature", "not signed by an active secret of the product"), status=401)
    try:
        envelope = orjson.loads(request.body)
    except orjson.JSONDecodeError:
        return JsonResponse(error_body("invalid_json", "the body is not JSON"), status=400)
    if cache.add(f"simulator:event-seen:{slug}:{headers['webhook-id']}", 1, timeout=24 * 3600):
        kept = cache.get(_events_key(slug)) or []
        kept.insert(0, {"webhook_id": headers["webhook-id"], "envelope": envelope})
        cache.set(_events_key(slug), kept[:SIMULATOR_EVENTS_KEPT], timeout=None)
    return HttpResponse(status=204)
