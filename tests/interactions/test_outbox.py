"""The outbox: enqueued in the caller's transaction, delivered signed after commit, retried with
backoff, dead letters after OUTBOX_MAX_ATTEMPTS, retriable in the admin, never delivered twice."""

from __future__ import annotations

from typing import Any

import pytest
from django.db import transaction
from django.test import Client
from django.urls import reverse
from pytest_httpserver import HTTPServer

from products.models import Product
from products.webhooks import webhook_secret_create
from recommendations.interactions import outbox
from recommendations.interactions.models import OutboxMessage
from recommendations.interactions.tasks import outbox_deliver
from tests.factories import ProductFactory
from tests.interactions.conftest import EVENTS_PATH, Received

pytestmark = pytest.mark.django_db


def _enqueue(product: Product, key: str = "k1", **payload: Any) -> OutboxMessage:
    message = outbox.enqueue(
        product=product, event_type="interactions.recorded", payload=payload or {"n": 1}, idempotency_key=key
    )
    assert message is not None
    return message


def test_delivered_after_commit_signed_with_the_message_id(
    product: Product, received: Received, django_capture_on_commit_callbacks: Any
) -> None:
    with django_capture_on_commit_callbacks(execute=False) as callbacks, transaction.atomic():
        message = _enqueue(product, user="alice")
    # Durable before anything is sent: the row exists, nothing reached the backend yet.
    assert OutboxMessage.objects.get().status == OutboxMessage.Status.PENDING
    assert received.deliveries == []

    for callback in callbacks:
        callback()

    assert received.bad_signatures == 0
    assert received.ids == [message.webhook_id]
    envelope = received.deliveries[0][1]
    assert envelope["type"] == "interactions.recorded"
    assert envelope["id"] == message.webhook_id
    assert envelope["data"] == {"user": "alice"}
    message.refresh_from_db()
    assert (message.status, message.attempts, message.last_status_code) == ("delivered", 1, 204)


def test_rolled_back_cause_sends_nothing(
    product: Product, received: Received, django_capture_on_commit_callbacks: Any
) -> None:
    with django_capture_on_commit_callbacks(execute=True), pytest.raises(RuntimeError), transaction.atomic():  # noqa: PT012
        _enqueue(product)
        raise RuntimeError("the cause failed")
    assert not OutboxMessage.objects.exists()
    assert received.deliveries == []


def test_idempotent_by_key(product: Product, django_capture_on_commit_callbacks: Any) -> None:
    with django_capture_on_commit_callbacks(execute=False):
        first = _enqueue(product, key="same")
        second = _enqueue(product, key="same")
    assert first.pk == second.pk
    assert OutboxMessage.objects.count() == 1


def test_product_without_events_endpoint_is_owed_nothing() -> None:
    product = ProductFactory.create(events_endpoint="")
    assert outbox.enqueue(product=product, event_type="x", payload={}, idempotency_key="k") is None
    assert not OutboxMessage.objects.exists()


def test_a_delivered_message_is_never_sent_again(
    product: Product, received: Received, django_capture_on_commit_callbacks: Any
) -> None:
    with django_capture_on_commit_callbacks(execute=True):
        message = _enqueue(product)
    assert len(received.deliveries) == 1
    # A redelivered task, the sweep and an admin retry all leave a delivered message alone.
    assert outbox.outbox_deliver_message(message_id=str(message.pk)).outcome == "skipped"
    outbox_deliver.apply(args=(str(message.pk),))
    with django_capture_on_commit_callbacks(execute=True):
        assert outbox.outbox_retry(message_ids=[str(message.pk)]) == 0
    assert outbox.outbox_sweep() == 0
    assert len(received.deliveries) == 1


def test_transient_failures_are_retried_with_growing_backoff_then_delivered(
    product: Product, backend: HTTPServer, django_capture_on_commit_callbacks: Any, settings: Any
) -> None:
    settings.OUTBOX_MAX_ATTEMPTS = 5
    _, secret = webhook_secret_create(product=product)
    got = Received(secret=secret)
    backend.expect_ordered_request(EVENTS_PATH, method="POST").respond_with_data("down", status=503)
    backend.expect_ordered_request(EVENTS_PATH, method="POST").respond_with_data("slow down", status=429)
    backend.expect_ordered_request(EVENTS_PATH, method="POST").respond_with_handler(got.handler())
    with django_capture_on_commit_callbacks(execute=False):
        message = _enqueue(product)

    first = outbox.outbox_deliver_message(message_id=str(message.pk))
    message.refresh_from_db()
    assert first.outcome == "retry"
    assert (message.status, message.attempts) == ("pending", 1)
    assert "503" in message.last_error
    assert message.next_attempt_at > message.created_at

    second = outbox.outbox_deliver_message(message_id=str(message.pk))
    assert second.outcome == "retry"
    third = outbox.outbox_deliver_message(message_id=str(message.pk))
    assert third.outcome == "delivered"
    assert got.ids == [message.webhook_id]  # the same id on every attempt


def test_backoff_grows_exponentially_up_to_the_maximum(settings: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    settings.OUTBOX_BACKOFF_SECONDS = 2
    settings.OUTBOX_BACKOFF_MAX_SECONDS = 100
    monkeypatch.setattr("random.randrange", lambda n: n - 1)  # full jitter's upper end
    assert [outbox.retry_delay(n) for n in (1, 2, 3, 4, 10)] == [2, 4, 8, 16, 100]


def test_the_task_retries_until_the_message_is_a_dead_letter(
    product: Product, backend: HTTPServer, django_capture_on_commit_callbacks: Any, settings: Any
) -> None:
    settings.OUTBOX_MAX_ATTEMPTS = 3
    webhook_secret_create(product=product)
    backend.expect_request(EVENTS_PATH, method="POST").respond_with_data("down", status=500)
    with django_capture_on_commit_callbacks(execute=True):  # eager Celery: retries run at once
        message = _enqueue(product)
    message.refresh_from_db()
    assert (message.status, message.attempts) == ("dead", 3)
    assert len(backend.log) == 3
    assert outbox.outbox_sweep() == 0  # dead letters are not swept


def test_a_refusal_is_a_dead_letter_at_once(
    product: Product, backend: HTTPServer, django_capture_on_commit_callbacks: Any
) -> None:
    webhook_secret_create(product=product)
    backend.expect_request(EVENTS_PATH, method="POST").respond_with_data("bad", status=400)
    with django_capture_on_commit_callbacks(execute=True):
        message = _enqueue(product)
    message.refresh_from_db()
    assert (message.status, message.attempts) == ("dead", 1)
    assert "HTTP 400" in message.last_error


def test_no_secret_to_sign_with_is_a_dead_letter(
    product: Product, backend: HTTPServer, django_capture_on_commit_callbacks: Any
) -> None:
    with django_capture_on_commit_callbacks(execute=True):
        message = _enqueue(product)
    message.refresh_from_db()
    assert message.status == "dead"
    assert "no active webhook secret" in message.last_error
    assert backend.log == []


def test_signed_with_the_newest_active_secret(
    product: Product, backend: HTTPServer, django_capture_on_commit_callbacks: Any
) -> None:
    webhook_secret_create(product=product)  # older
    _, newest = webhook_secret_create(product=product)
    got = Received(secret=newest)
    backend.expect_request(EVENTS_PATH, method="POST").respond_with_handler(got.handler())
    with django_capture_on_commit_callbacks(execute=True):
        _enqueue(product)
    assert (len(got.deliveries), got.bad_signatures) == (1, 0)


def test_a_host_not_allowed_is_refused_and_not_called(
    product: Product, received: Received, backend: HTTPServer, settings: Any, django_capture_on_commit_callbacks: Any
) -> None:
    settings.OUTBOUND_ALLOWED_HOSTS = ["backend.example.com"]
    with django_capture_on_commit_callbacks(execute=True):
        message = _enqueue(product)
    message.refresh_from_db()
    assert message.status == "dead"
    assert "not an allowed product backend host" in message.last_error
    assert backend.log == []


def test_admin_retry_delivers_a_dead_letter_once(
    product: Product, backend: HTTPServer, admin_client: Client, django_capture_on_commit_callbacks: Any, settings: Any
) -> None:
    settings.OUTBOX_MAX_ATTEMPTS = 1
    _, secret = webhook_secret_create(product=product)
    got = Received(secret=secret)
    backend.expect_ordered_request(EVENTS_PATH, method="POST").respond_with_data("down", status=503)
    backend.expect_ordered_request(EVENTS_PATH, method="POST").respond_with_handler(got.handler())
    with django_capture_on_commit_callbacks(execute=True):
        message = _enqueue(product)
    message.refresh_from_db()
    assert message.status == "dead"

    listing = admin_client.get(reverse("admin:interactions_outboxmessage_changelist") + "?status__exact=dead")
    assert listing.status_code == 200
    assert str(message.pk) in listing.content.decode()
    detail = admin_client.get(reverse("admin:interactions_outboxmessage_change", args=[message.pk]))
    assert detail.status_code == 200
    assert "HTTP 503" in detail.content.decode()  # the last error, for the operator

    with django_capture_on_commit_callbacks(execute=True):
        response = admin_client.post(
            reverse("admin:interactions_outboxmessage_changelist"),
            {"action": "retry", "_selected_action": [str(message.pk)]},
        )
    assert response.status_code == 302
    message.refresh_from_db()
    assert (message.status, message.attempts) == ("delivered", 1)
    assert got.ids == [message.webhook_id]


def test_sweep_sends_overdue_pending_messages(
    product: Product, received: Received, django_capture_on_commit_callbacks: Any, settings: Any
) -> None:
    settings.OUTBOX_SWEEP_GRACE_SECONDS = 0
    with django_capture_on_commit_callbacks(execute=False):  # the task was never queued (broker down)
        message = _enqueue(product)
    assert outbox.outbox_sweep() == 1
    message.refresh_from_db()
    assert message.status == "delivered"
    assert received.ids == [message.webhook_id]


def test_sweep_ignores_recent_pending_messages(
    product: Product, django_capture_on_commit_callbacks: Any, settings: Any
) -> None:
    settings.OUTBOX_SWEEP_GRACE_SECONDS = 3600
    with django_capture_on_commit_callbacks(execute=False):
        _enqueue(product)
    assert outbox.outbox_sweep() == 0


def test_the_sweep_deletes_old_delivered_messages_only(
    product: Product, django_capture_on_commit_callbacks: Any, settings: Any
) -> None:
    from datetime import timedelta

    from django.utils import timezone

    settings.OUTBOX_KEEP_DELIVERED_DAYS = 7
    with django_capture_on_commit_callbacks(execute=False):
        old, recent, dead = (_enqueue(product, key=k) for k in ("old", "recent", "dead"))
    now = timezone.now()
    OutboxMessage.objects.filter(pk=old.pk).update(status="delivered", delivered_at=now - timedelta(days=8))
    OutboxMessage.objects.filter(pk=recent.pk).update(status="delivered", delivered_at=now - timedelta(days=6))
    OutboxMessage.objects.filter(pk=dead.pk).update(status="dead", next_attempt_at=now - timedelta(days=30))
    outbox.outbox_sweep(now=now)
    assert set(OutboxMessage.objects.values_list("idempotency_key", flat=True)) == {"recent", "dead"}
