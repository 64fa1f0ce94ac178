"""Webhook secrets: created, rotated, revoked (services, the management command, the admin) and
the verification of Standard Webhooks signatures against every active secret."""

from __future__ import annotations

import io
from datetime import UTC, datetime, timedelta

import pytest
from django.contrib.auth.models import User
from django.core.management import CommandError, call_command
from django.test import Client
from django.utils import timezone
from standardwebhooks.webhooks import Webhook

from products.models import WebhookSecret
from products.webhooks import (
    WebhookSignatureError,
    webhook_secret_create,
    webhook_secret_revoke,
    webhook_signature_verify,
)
from tests.factories import ProductFactory

pytestmark = pytest.mark.django_db

BODY = b'{"id": "e1"}'


def signed_headers(secret: str, *, msg_id: str = "msg-1", at: datetime | None = None, body: bytes = BODY) -> dict:
    at = at or datetime.now(tz=UTC)
    return {
        "webhook-id": msg_id,
        "webhook-timestamp": str(int(at.timestamp())),
        "webhook-signature": Webhook(secret).sign(msg_id, at, body.decode()),
    }


def test_a_new_secret_is_whsec_and_stored_with_a_fingerprint() -> None:
    product = ProductFactory.create()
    record, secret = webhook_secret_create(product=product)
    assert secret.startswith("whsec_")
    assert record.active
    assert record.fingerprint
    assert record.fingerprint not in secret  # a hash, not a prefix of the secret
    assert secret not in str(record)


def test_a_signature_by_any_active_secret_is_valid_and_marks_it_used() -> None:
    product = ProductFactory.create()
    old, old_secret = webhook_secret_create(product=product)
    new, new_secret = webhook_secret_create(product=product)
    assert webhook_signature_verify(product=product, body=BODY, headers=signed_headers(old_secret)) == old
    assert webhook_signature_verify(product=product, body=BODY, headers=signed_headers(new_secret)) == new
    old.refresh_from_db()
    assert old.last_used_at is not None


def test_several_signatures_in_one_header_match_if_one_does() -> None:
    product = ProductFactory.create()
    _, secret = webhook_secret_create(product=product)
    headers = signed_headers(secret)
    other = signed_headers("whsec_" + "A" * 43)["webhook-signature"]
    headers["webhook-signature"] = f"{other} {headers['webhook-signature']}"
    webhook_signature_verify(product=product, body=BODY, headers=headers)


def test_a_revoked_secret_no_longer_verifies() -> None:
    product = ProductFactory.create()
    record, secret = webhook_secret_create(product=product)
    webhook_secret_create(product=product)
    assert webhook_secret_revoke(secret=record)
    assert not webhook_secret_revoke(secret=record)
    with pytest.raises(WebhookSignatureError, match="not valid"):
        webhook_signature_verify(product=product, body=BODY, headers=signed_headers(secret))


def test_another_products_secret_does_not_verify() -> None:
    product, other = ProductFactory.create(), ProductFactory.create()
    webhook_secret_create(product=product)
    _, other_secret = webhook_secret_create(product=other)
    with pytest.raises(WebhookSignatureError):
        webhook_signature_verify(product=product, body=BODY, headers=signed_headers(other_secret))


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"webhook-signature": ""}, "missing header"),
        ({"webhook-id": ""}, "missing header"),
        ({"webhook-signature": "v1,not base64!"}, "v1,<base64>"),
        ({"webhook-signature": "garbage"}, "v1,<base64>"),
        ({"webhook-timestamp": "yesterday"}, "timestamp"),
        ({"webhook-id": "another-id"}, "not valid"),
    ],
)
def test_bad_headers_are_refused_saying_why(change: dict, message: str) -> None:
    product = ProductFactory.create()
    _, secret = webhook_secret_create(product=product)
    headers = {**signed_headers(secret), **change}
    with pytest.raises(WebhookSignatureError, match=message):
        webhook_signature_verify(product=product, body=BODY, headers=headers)


@pytest.mark.parametrize("offset", [timedelta(minutes=-6), timedelta(minutes=6)])
def test_a_timestamp_outside_five_minutes_is_refused(offset: timedelta) -> None:
    product = ProductFactory.create()
    _, secret = webhook_secret_create(product=product)
    headers = signed_headers(secret, at=datetime.now(tz=UTC) + offset)
    with pytest.raises(WebhookSignatureError, match="timestamp"):
        webhook_signature_verify(product=product, body=BODY, headers=headers)


def test_a_tampered_body_is_refused() -> None:
    product = ProductFactory.create()
    _, secret = webhook_secret_create(product=product)
    with pytest.raises(WebhookSignatureError):
        webhook_signature_verify(product=product, body=b'{"id": "e2"}', headers=signed_headers(secret))


def test_a_product_without_secrets_verifies_nothing() -> None:
    product = ProductFactory.create()
    with pytest.raises(WebhookSignatureError, match="no active webhook secret"):
        webhook_signature_verify(product=product, body=BODY, headers=signed_headers("whsec_" + "B" * 43))


# --- manage.py webhook_secret ----------------------------------------------------------------------


def run_command(*args: str) -> str:
    out = io.StringIO()
    call_command("webhook_secret", *args, stdout=out, stderr=io.StringIO())
    return out.getvalue()


def test_rotate_prints_the_new_secret_once_and_list_never_shows_it() -> None:
    product = ProductFactory.create(slug="mobile")
    secret = run_command("mobile", "--rotate").strip()
    assert secret.startswith("whsec_")
    record = WebhookSecret.objects.get(product=product)
    webhook_signature_verify(product=product, body=BODY, headers=signed_headers(secret))
    listing = run_command("mobile", "--list")
    assert secret not in listing
    assert secret.removeprefix("whsec_")[:12] not in listing
    assert str(record.pk) in listing
    assert record.fingerprint in listing
    assert "active" in listing


def test_revoke_by_id() -> None:
    ProductFactory.create(slug="mobile")
    run_command("mobile", "--rotate")
    record = WebhookSecret.objects.get()
    assert "Revoked" in run_command("mobile", "--revoke", str(record.pk))
    record.refresh_from_db()
    assert not record.active
    assert "already revoked" in run_command("mobile", "--revoke", str(record.pk))
    assert "revoked" in run_command("mobile", "--list")


def test_command_errors_name_what_is_wrong() -> None:
    ProductFactory.create(slug="mobile")
    with pytest.raises(CommandError, match="no product 'nope'"):
        run_command("nope", "--list")
    with pytest.raises(CommandError, match="no webhook secret 999"):
        run_command("mobile", "--revoke", "999")


# --- admin -------------------------------------------------------------------------------------------


@pytest.fixture
def admin_client(db: None) -> Client:
    client = Client()
    client.force_login(User.objects.create_superuser("root", "root@example.com", "pw-123456"))
    return client


def test_admin_rotation_shows_the_secret_once_then_only_its_fingerprint(admin_client: Client) -> None:
    product = ProductFactory.create(slug="mobile")
    response = admin_client.post(
        "/admin/products/product/",
        {"action": "rotate_webhook_secret", "_selected_action": [product.pk]},
    )
    assert response.status_code == 200
    assert "no-store" in response["Cache-Control"]
    record = WebhookSecret.objects.get(product=product)
    assert record.secret in response.content.decode()
    listing = admin_client.get("/admin/products/webhooksecret/").content.decode()
    detail = admin_client.get(f"/admin/products/webhooksecret/{record.pk}/change/").content.decode()
    assert record.fingerprint in listing
    assert record.secret not in listing
    assert record.secret not in detail
    assert admin_client.get("/admin/products/webhooksecret/add/").status_code == 403


def test_admin_revokes_selected_secrets(admin_client: Client) -> None:
    product = ProductFactory.create()
    record, _ = webhook_secret_create(product=product)
    response = admin_client.post(
        "/admin/products/webhooksecret/", {"action": "revoke", "_selected_action": [record.pk]}, follow=True
    )
    assert "Revoked 1 webhook secret" in response.content.decode()
    record.refresh_from_db()
    assert record.revoked_at is not None
    assert record.revoked_at <= timezone.now()
