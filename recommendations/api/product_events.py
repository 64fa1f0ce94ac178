"""``POST /api/v1/products/<slug>/events/``: product backends push events (docs/webhooks.md).

A thin adapter: the checks run cheapest first (product, content type, size, signature, rate
limit, body), then recommendations/ingestion.py applies the events in one transaction before
the 200 is sent.
"""

from __future__ import annotations

import logging
from typing import Any

from django.conf import settings
from django.http import HttpRequest
from django_ratelimit.core import get_usage
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiExample, OpenApiParameter, OpenApiResponse, extend_schema, inline_serializer
from rest_framework import exceptions, serializers
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from homeservice.errors import ApplicationError
from products.models import Product
from products.webhooks import WebhookSignatureError, webhook_signature_verify

from ..ingestion import check_events, check_events_body, events_apply

logger = logging.getLogger(__name__)

CONTENT_TYPES = ("application/json", "application/cloudevents+json", "application/cloudevents-batch+json")


def check_content_type(request: HttpRequest) -> None:
    media_type = request.content_type or ""
    if media_type not in CONTENT_TYPES:
        raise ApplicationError(
            "unsupported_media_type",
            f"Content-Type must be application/json, not {media_type or 'missing'!r}.",
            status_code=415,
        )


def read_body(request: HttpRequest, limit: int) -> bytes:
    """The raw body (it is signed as bytes), refusing more than ``limit`` bytes with a 413.

    Read from the stream, not ``request.body``, so Django's DATA_UPLOAD_MAX_MEMORY_SIZE (a 400)
    does not answer first: this endpoint's own limit applies, declared or actual.
    """
    too_large = ApplicationError(
        "body_too_large", f"The body exceeds {limit} bytes; send smaller batches.", status_code=413
    )
    declared = request.META.get("CONTENT_LENGTH") or ""
    if declared.isdigit() and int(declared) > limit:
        raise too_large
    body = request.read(limit + 1)
    if len(body) > limit:
        raise too_large
    return body


def check_rate_limit(request: HttpRequest, product: Product) -> None:
    """At most WEBHOOK_RATE_LIMIT_PER_MINUTE signed requests per product and minute (a 429)."""
    try:
        usage = get_usage(
            request,
            group="product-events",
            key=lambda group, request: product.slug,
            rate=f"{settings.WEBHOOK_RATE_LIMIT_PER_MINUTE}/m",
            increment=True,
        )
    except Exception:
        # The counter lives in the cache (Redis): without it events are still taken, not refused.
        logger.warning("webhook rate limit unavailable for %s", product.slug, exc_info=True)
        return
    if usage is not None and usage["should_limit"]:
        wait = max(1, usage["time_left"])
        raise exceptions.Throttled(
            wait=wait,
            detail=f"More than {settings.WEBHOOK_RATE_LIMIT_PER_MINUTE} requests a minute for "
            f"{product.slug}; retry in {wait} s.",
        )


_EVENT_EXAMPLE = {
    "specversion": "1.0",
    "id": "evt-7f3a",
    "source": "https://mobile.example.com",
    "type": "offer.upserted",
    "time": "2026-11-23T12:00:00Z",
    "subject": "alice",
    "sequence": 42,
    "data": {
        "id": "upgrade-5g",
        "title": "Upgrade to 5G",
        "body": "50 GB more for the same price.",
        "price": {"amount": "19.99", "currency": "EUR", "period": "month"},
        "cta_label": "Upgrade",
        "cta_url": "https://mobile.example.com/upgrade",
        "priority": 10,
        "expires_at": "2026-12-31T23:59:59Z",
    },
}
_SIGNATURE_HEADERS = [
    OpenApiParameter("webhook-id", OpenApiTypes.STR, OpenApiParameter.HEADER, required=True),
    OpenApiParameter(
        "webhook-timestamp",
        OpenApiTypes.INT,
        OpenApiParameter.HEADER,
        required=True,
        description="Unix seconds; refused outside ±5 minutes of our clock.",
    ),
    OpenApiParameter(
        "webhook-signature",
        OpenApiTypes.STR,
        OpenApiParameter.HEADER,
        required=True,
        description="Space-separated `v1,<base64 HMAC-SHA256>` signatures (one per secret during a rotation).",
    ),
]
_ERROR = OpenApiTypes.OBJECT


class ProductEventsApi(APIView):
    """Product backends push offer events here, signed per Standard Webhooks (docs/webhooks.md)."""

    authentication_classes = []  # the signature is the authentication
    permission_classes = []
    throttle_classes = []

    @extend_schema(
        operation_id="product_events",
        summary="Push product events (signed; one event or a batch of up to 500)",
        description=(
            "CloudEvents-1.0-shaped events signed per Standard Webhooks. Applied and committed before "
            "the 200; idempotent by event id (a repeat answers `duplicate`); ordered by the per-(user, "
            "product) `sequence` (an event not newer than the last applied one answers `stale`). A batch "
            "is checked whole: one bad event refuses it all (400 listing each bad event's index and field). "
            "See docs/webhooks.md."
        ),
        parameters=_SIGNATURE_HEADERS,
        request={"application/json": OpenApiTypes.OBJECT},
        responses={
            200: inline_serializer(
                "ProductEventsResult",
                {
                    "accepted_at": serializers.DateTimeField(
                        help_text="When the events' transaction committed (UTC); live clients are told right after."
                    ),
                    "received": serializers.IntegerField(),
                    "duplicates": serializers.IntegerField(),
                    "results": serializers.ListField(child=serializers.DictField()),
                },
            ),
            400: OpenApiResponse(_ERROR, description="Malformed JSON or an invalid event (details name them)."),
            401: OpenApiResponse(_ERROR, description="Missing or invalid signature, or a timestamp too old/new."),
            404: OpenApiResponse(_ERROR, description="No active product with this slug."),
            413: OpenApiResponse(_ERROR, description="Body over 1 MiB."),
            415: OpenApiResponse(_ERROR, description="Not application/json."),
            429: OpenApiResponse(_ERROR, description="Over the product's rate limit; see Retry-After."),
        },
        examples=[
            OpenApiExample("One event: offer.upserted", value=_EVENT_EXAMPLE, request_only=True),
            OpenApiExample(
                "A batch",
                value=[
                    _EVENT_EXAMPLE,
                    {
                        "id": "evt-7f3b",
                        "source": "https://mobile.example.com",
                        "type": "offer.withdrawn",
                        "subject": "bob",
                        "sequence": 7,
                        "data": {"id": "roaming-pack"},
                    },
                    {
                        "id": "evt-7f3c",
                        "source": "https://mobile.example.com",
                        "type": "offers.replaced",
                        "subject": "carol",
                        "sequence": 3,
                        "data": {"offers": [{"id": "family", "title": "Family plan"}]},
                    },
                    {
                        "id": "evt-7f3d",
                        "source": "https://mobile.example.com",
                        "type": "offers.invalidated",
                        "subject": "dave",
                        "sequence": 12,
                    },
                    {"id": "evt-7f3e", "source": "https://mobile.example.com", "type": "deals.changed"},
                ],
                request_only=True,
            ),
            OpenApiExample(
                "Accepted",
                value={
                    "received": 1,
                    "duplicates": 0,
                    "results": [{"index": 0, "id": "evt-7f3a", "outcome": "applied", "duplicate": False}],
                },
                response_only=True,
                status_codes=["200"],
            ),
            OpenApiExample(
                "Refused batch",
                value={
                    "error": {
                        "code": "invalid_events",
                        "message": "1 event(s) invalid; nothing was applied. First: [3].data.title: "
                        "'title' is a required property",
                        "details": {
                            "errors": [{"index": 3, "field": "data.title", "message": "'title' is a required property"}]
                        },
                    }
                },
                response_only=True,
                status_codes=["400"],
            ),
        ],
    )
    def post(self, request: Request, slug: str) -> Response:
        product = Product.objects.filter(slug=slug, active=True).first()
        if product is None:
            raise ApplicationError("product_not_found", f"No active product {slug!r}.", status_code=404)
        raw: HttpRequest = request._request
        check_content_type(raw)
        body = read_body(raw, settings.WEBHOOK_MAX_BODY_BYTES)
        try:
            body.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise ApplicationError("malformed_json", "The body is not UTF-8.", details={"field": "(body)"}) from exc
        try:
            webhook_signature_verify(product=product, body=body, headers=raw.headers)
        except WebhookSignatureError as exc:
            raise ApplicationError("invalid_signature", str(exc), status_code=401) from exc
        check_rate_limit(raw, product)
        events, _ = check_events_body(body=body)
        applied = events_apply(product=product, events=check_events(product=product, events=events))
        results = applied.results
        payload: dict[str, Any] = {
            "accepted_at": applied.committed_at.isoformat().replace("+00:00", "Z"),
            "received": len(results),
            "duplicates": sum(r.outcome == "duplicate" for r in results),
            "results": [r.as_dict() for r in results],
        }
        return Response(payload)
