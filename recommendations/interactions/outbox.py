"""The outbox: events owed to product backends, written in the transaction of what caused them.

``enqueue`` inserts an ``OutboxMessage`` inside the caller's transaction (so the message exists
exactly when its cause does) and, once that commits, queues the ``outbox_deliver`` task. Delivery
(``outbox_deliver_message``) locks the row (``select_for_update(skip_locked=True)``: two workers
never hold the same message), sends it, and records the outcome in the same transaction:

- a 2xx: ``delivered`` (never sent again);
- a transient failure (unreachable, timeout, 5xx, 408/409/425/429, breaker open): another attempt
  after a random wait up to ``min(OUTBOX_BACKOFF_MAX_SECONDS, OUTBOX_BACKOFF_SECONDS * 2^n)``
  (Celery's exponential backoff with full jitter), until ``OUTBOX_MAX_ATTEMPTS``;
- any other answer (4xx, a refused host, no endpoint or secret), or the last attempt failing:
  ``dead`` — a dead letter, listed in the admin with a "retry" action (``outbox_retry``).

Beat's ``outbox_sweep`` re-queues pending messages whose next attempt is overdue (a task lost
with a worker, a broker outage at commit time). Guarantee: at least once, exactly once for a
backend that acknowledged (the row is marked delivered in the transaction that holds its lock);
the one window left — a process dying after the 2xx but before its commit — sends the message
again with the same ``webhook-id``, which the backend uses to deduplicate.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Literal

from celery.utils.time import get_exponential_backoff_interval
from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils import timezone

from products.backend_errors import BackendError, TransientBackendError
from products.models import Product

from .delivery import message_send
from .models import OutboxMessage

logger = logging.getLogger(__name__)

Outcome = Literal["delivered", "retry", "dead", "skipped"]


def enqueue(
    *, product: Product, event_type: str, payload: dict[str, Any], idempotency_key: str
) -> OutboxMessage | None:
    """Owe ``product``'s backend an event; call inside the transaction of its cause.

    Idempotent by ``idempotency_key`` (a second call returns the first message). Returns ``None``
    when the product has no events endpoint (nothing is owed: documented for product teams).
    Delivery is queued after commit; nothing happens if the transaction rolls back.
    """
    if not product.events_endpoint:
        return None
    with transaction.atomic():
        existing = OutboxMessage.objects.filter(idempotency_key=idempotency_key).first()
        if existing is not None:
            return existing
        try:
            with transaction.atomic():
                message = OutboxMessage.objects.create(
                    product=product,
                    event_type=event_type,
                    payload=payload,
                    idempotency_key=idempotency_key,
                    next_attempt_at=timezone.now(),
                )
        except IntegrityError:  # the same key enqueued concurrently
            return OutboxMessage.objects.get(idempotency_key=idempotency_key)
    message_id = str(message.pk)
    transaction.on_commit(lambda: _queue_delivery(message_id))
    return message


def _queue_delivery(message_id: str, countdown: float = 0) -> None:
    from .tasks import outbox_deliver

    try:
        outbox_deliver.apply_async(args=(message_id,), countdown=countdown)
    except Exception:  # the broker is down: the sweep sends it later
        logger.warning("outbox: could not queue delivery of %s; the sweep will", message_id, exc_info=True)


def retry_delay(attempts: int) -> float:
    """Seconds before attempt ``attempts + 1`` (attempts made so far ≥ 1)."""
    return float(
        get_exponential_backoff_interval(
            factor=settings.OUTBOX_BACKOFF_SECONDS,
            retries=max(attempts - 1, 0),
            maximum=settings.OUTBOX_BACKOFF_MAX_SECONDS,
            full_jitter=True,
        )
    )


@dataclass(frozen=True)
class DeliveryResult:
    outcome: Outcome
    retry_in: float = 0.0


def outbox_deliver_message(*, message_id: str, now: datetime | None = None) -> DeliveryResult:
    """Make one delivery attempt of a pending message (see the module's docstring)."""
    with transaction.atomic():
        message = (
            OutboxMessage.objects.select_for_update(skip_locked=True)
            .select_related("product")
            .filter(pk=message_id, status=OutboxMessage.Status.PENDING)
            .first()
        )
        if message is None:  # delivered, dead, gone, or another worker has it right now
            return DeliveryResult("skipped")
        now = now or timezone.now()
        message.attempts += 1
        try:
            sent = message_send(message=message, now=now)
        except TransientBackendError as exc:
            return _failed(message, str(exc), final=message.attempts >= settings.OUTBOX_MAX_ATTEMPTS, now=now)
        except BackendError as exc:
            return _failed(message, str(exc), final=True, now=now)
        message.status = OutboxMessage.Status.DELIVERED
        message.delivered_at = now
        message.last_status_code = sent.status_code
        message.last_error = ""
        message.save(
            update_fields=["status", "attempts", "delivered_at", "last_status_code", "last_error", "updated_at"]
        )
    return DeliveryResult("delivered")


def _failed(message: OutboxMessage, error: str, *, final: bool, now: datetime) -> DeliveryResult:
    message.last_error = error[:2000]
    if final:
        message.status = OutboxMessage.Status.DEAD
        logger.warning("outbox: %s to %s is a dead letter: %s", message.event_type, message.product.slug, error)
        result = DeliveryResult("dead")
    else:
        delay = retry_delay(message.attempts)
        message.next_attempt_at = now + timedelta(seconds=delay)
        result = DeliveryResult("retry", retry_in=delay)
    message.save(update_fields=["status", "attempts", "last_error", "next_attempt_at", "updated_at"])
    return result


def outbox_due(*, now: datetime, limit: int = 500) -> list[str]:
    """Ids of pending messages whose next attempt is more than ``OUTBOX_SWEEP_GRACE_SECONDS``
    overdue (their own task is presumably lost), oldest first."""
    overdue = now - timedelta(seconds=settings.OUTBOX_SWEEP_GRACE_SECONDS)
    return [
        str(pk)
        for pk in OutboxMessage.objects.filter(status=OutboxMessage.Status.PENDING, next_attempt_at__lte=overdue)
        .order_by("next_attempt_at")
        .values_list("pk", flat=True)[:limit]
    ]


def outbox_sweep(*, now: datetime | None = None) -> int:
    """Queue a delivery of every overdue pending message, and delete delivered messages older
    than ``OUTBOX_KEEP_DELIVERED_DAYS``; returns how many were queued. Dead letters stay until
    they are retried and delivered."""
    now = now or timezone.now()
    due = outbox_due(now=now)
    for message_id in due:
        _queue_delivery(message_id)
    OutboxMessage.objects.filter(
        status=OutboxMessage.Status.DELIVERED,
        delivered_at__lt=now - timedelta(days=settings.OUTBOX_KEEP_DELIVERED_DAYS),
    ).delete()
    return len(due)


def outbox_retry(*, message_ids: list[str]) -> int:
    """Give dead letters (or pending messages) a fresh start: attempts reset, delivered now.
    Delivered messages are left alone. Returns how many were reset."""
    with transaction.atomic():
        ids = [
            str(pk)
            for pk in OutboxMessage.objects.select_for_update()
            .filter(pk__in=message_ids)
            .exclude(status=OutboxMessage.Status.DELIVERED)
            .values_list("pk", flat=True)
        ]
        OutboxMessage.objects.filter(pk__in=ids).update(
            status=OutboxMessage.Status.PENDING, attempts=0, next_attempt_at=timezone.now(), updated_at=timezone.now()
        )
        for message_id in ids:
            transaction.on_commit(lambda message_id=message_id: _queue_delivery(message_id))  # type: ignore[misc]
    return len(ids)
