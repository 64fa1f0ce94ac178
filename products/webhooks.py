"""Each product's webhook secrets and the verification of its signatures (Standard Webhooks).

Signing and verifying is the ``standardwebhooks`` library's work (HMAC-SHA256 over
``<webhook-id>.<webhook-timestamp>.<body>``, a ±5 minute timestamp tolerance, a space-separated
list of ``v1,<base64>`` signatures). What is ours: storing the secrets, several active per product
during a rotation, and trying each active one until one matches. docs/webhooks.md is the contract.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import secrets
from collections.abc import Mapping

from django.db import transaction
from django.utils import timezone
from standardwebhooks.webhooks import Webhook, WebhookVerificationError

from .models import Product, WebhookSecret

SECRET_PREFIX = "whsec_"  # noqa: S105 - the format's prefix, not a secret
SECRET_BYTES = 32
SIGNATURE_HEADERS = ("webhook-id", "webhook-timestamp", "webhook-signature")


class WebhookSignatureError(Exception):
    """The request is not signed by any active secret of the product (answered with a 401)."""


def webhook_secret_fingerprint(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()[:12]


def webhook_secret_create(*, product: Product) -> tuple[WebhookSecret, str]:
    """A new active secret for ``product``; returns it with the secret's text, to be shown once.

    The product's other secrets stay active (a rotation): revoke them once the backend signs
    with the new one.
    """
    secret = SECRET_PREFIX + base64.b64encode(secrets.token_bytes(SECRET_BYTES)).decode()
    record = WebhookSecret.objects.create(
        product=product, secret=secret, fingerprint=webhook_secret_fingerprint(secret)
    )
    return record, secret


def webhook_secret_revoke(*, secret: WebhookSecret) -> bool:
    """Revoke a secret (signatures made with it are refused from now on); False if it already was."""
    with transaction.atomic():
        updated = WebhookSecret.objects.filter(pk=secret.pk, revoked_at__isnull=True).update(revoked_at=timezone.now())
    return bool(updated)


def webhook_secrets_active(*, product: Product) -> list[WebhookSecret]:
    """The product's active secrets, newest first (the one a rotated backend most likely uses)."""
    return list(WebhookSecret.objects.filter(product=product, revoked_at__isnull=True).order_by("-created_at", "-id"))


def webhook_signature_verify(*, product: Product, body: bytes, headers: Mapping[str, str]) -> WebhookSecret:
    """Check the Standard Webhooks signature of a request against each active secret of ``product``.

    Returns the secret that matched (its ``last_used_at`` is updated); raises
    ``WebhookSignatureError`` saying what is wrong: a missing header, a timestamp outside the
    tolerance, or no matching signature. ``body`` must be UTF-8 (the caller checks).
    """
    lowered = {name.lower(): value for name, value in headers.items()}
    missing = [name for name in SIGNATURE_HEADERS if not lowered.get(name)]
    if missing:
        raise WebhookSignatureError(f"missing header(s): {', '.join(missing)}")
    candidates = webhook_secrets_active(product=product)
    if not candidates:
        raise WebhookSignatureError(f"product {product.slug!r} has no active webhook secret")
    signed = {name: lowered[name] for name in SIGNATURE_HEADERS}
    last_error = "no matching signature"
    for candidate in candidates:
        try:
            Webhook(candidate.secret).verify(body, signed, json_parse=False)
        except WebhookVerificationError as exc:
            message = str(exc)
            if "timestamp" in message.lower() or "headers" in message.lower():
                # The same for every secret: a timestamp outside ±5 minutes or not a number.
                raise WebhookSignatureError(f"webhook-timestamp rejected: {message}") from exc
            last_error = message
            continue
        except (ValueError, binascii.Error) as exc:
            # A signature list that is not "v1,<base64> ...": the library raises these as they come.
            raise WebhookSignatureError("webhook-signature is not a list of 'v1,<base64>' signatures") from exc
        WebhookSecret.objects.filter(pk=candidate.pk).update(last_used_at=timezone.now())
        return candidate
    raise WebhookSignatureError(f"signature not valid for any active secret ({last_error})")
