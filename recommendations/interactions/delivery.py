"""The outbound adapter of the outbox: one signed POST of a message to a product's events endpoint.

Through the project's SSRF rules (products/outbound_guard.py: allowed hosts, checked addresses,
the connection made to exactly those), httpx with the outbound timeouts and no redirects, and the
product's circuit breaker (products/breakers.py). Signed with the Standard Webhooks library
(``standardwebhooks``) with the product's newest active webhook secret; ``webhook-id`` is the
message's id, the same on every attempt, so a backend can deduplicate.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import httpx
import orjson
from django.conf import settings
from standardwebhooks.webhooks import Webhook

from products.backend_errors import BackendError, TransientBackendError
from products.breakers import BreakerError, backend_breaker
from products.outbound_guard import OutboundRefused, OutboundUnresolvable, outbound_target
from products.webhooks import webhook_secrets_active

from .models import OutboxMessage

# Answers worth another attempt besides 5xx: timeout, conflict, too early, too many requests.
RETRIABLE_4XX = frozenset({408, 409, 425, 429})


@dataclass(frozen=True)
class SendResult:
    status_code: int


def _post(*, url: str, body: bytes, headers: dict[str, str]) -> SendResult:
    try:
        target = outbound_target(url)
    except OutboundRefused as exc:
        raise BackendError(f"events endpoint refused: {exc}") from exc
    except OutboundUnresolvable as exc:
        raise TransientBackendError(f"events endpoint unreachable: {exc}") from exc
    headers = {**headers, "Host": target.url.netloc.decode("ascii")}
    extensions = {"sni_hostname": target.url.host} if target.url.scheme == "https" else {}
    timeout = httpx.Timeout(settings.OUTBOUND_READ_TIMEOUT, connect=settings.OUTBOUND_CONNECT_TIMEOUT)
    last_error: Exception | None = None
    with httpx.Client(timeout=timeout, follow_redirects=False) as client:
        for address in target.addresses:
            request = client.build_request(
                "POST", target.url_for(address), content=body, headers=headers, extensions=extensions
            )
            try:
                response = client.send(request)
            except httpx.ConnectError as exc:
                last_error = exc
                continue
            except httpx.TransportError as exc:
                raise TransientBackendError(f"events endpoint unreachable: {exc.__class__.__name__}: {exc}") from exc
            except httpx.HTTPError as exc:
                raise BackendError(f"events endpoint failed: {exc.__class__.__name__}: {exc}") from exc
            status = response.status_code
            if 200 <= status < 300:
                return SendResult(status_code=status)
            if status >= 500 or status in RETRIABLE_4XX:
                raise TransientBackendError(f"events endpoint answered HTTP {status}")
            raise BackendError(f"events endpoint answered HTTP {status}")
    raise TransientBackendError(f"events endpoint unreachable: {last_error or 'no address to connect to'}")


def message_body(message: OutboxMessage) -> bytes:
    """The JSON body of a message (docs/product-backends.md, "Events we send you")."""
    envelope = {
        "specversion": "1.0",
        "id": message.webhook_id,
        "source": "home-service",
        "type": message.event_type,
        "time": message.created_at.isoformat().replace("+00:00", "Z"),
        "data": message.payload,
    }
    return orjson.dumps(envelope)


def message_send(*, message: OutboxMessage, now: datetime) -> SendResult:
    """POST ``message`` to its product's events endpoint, signed; raises ``BackendError`` (final)
    or ``TransientBackendError`` (worth another attempt)."""
    product = message.product
    if not product.events_endpoint:
        raise BackendError(f"product {product.slug!r} has no events endpoint")
    secrets = webhook_secrets_active(product=product)
    if not secrets:
        raise BackendError(f"product {product.slug!r} has no active webhook secret to sign with")
    body = message_body(message)
    text = body.decode()
    headers = {
        "Content-Type": "application/json",
        "webhook-id": message.webhook_id,
        "webhook-timestamp": str(int(now.timestamp())),
        "webhook-signature": Webhook(secrets[0].secret).sign(message.webhook_id, now, text),
    }
    try:
        result: SendResult = backend_breaker(product_slug=product.slug).call(
            _post, url=product.events_endpoint, body=body, headers=headers
        )
    except BreakerError as exc:
        raise TransientBackendError(f"events endpoint not called: circuit breaker open ({exc})") from exc
    return result
