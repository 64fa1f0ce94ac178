"""Two workers never deliver the same message: the row is locked with
``select_for_update(skip_locked=True)`` for the whole attempt (PostgreSQL), and a message is
attempted only while pending."""

from __future__ import annotations

import threading
from typing import Any

import pytest
from django.db import connection, connections, transaction

from products.models import Product
from recommendations.interactions import outbox
from recommendations.interactions.models import OutboxMessage
from tests.interactions.conftest import Received


@pytest.mark.django_db(transaction=True)
def test_a_message_held_by_another_worker_is_skipped(
    product: Product, received: Received, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(outbox, "_queue_delivery", lambda message_id: None)  # attempts made by hand
    message = outbox.enqueue(product=product, event_type="t", payload={}, idempotency_key="k")
    assert message is not None
    if connection.vendor != "postgresql":
        # SQLite has no row locks (select_for_update is a no-op there); what still holds is that
        # a message is attempted only while pending, so sequential attempts deliver it once.
        assert outbox.outbox_deliver_message(message_id=str(message.pk)).outcome == "delivered"
        assert outbox.outbox_deliver_message(message_id=str(message.pk)).outcome == "skipped"
        assert len(received.deliveries) == 1
        return

    locked, release = threading.Event(), threading.Event()

    def other_worker() -> None:
        try:
            with transaction.atomic():
                OutboxMessage.objects.select_for_update().get(pk=message.pk)
                locked.set()
                release.wait(timeout=30)
        finally:
            connections.close_all()

    thread = threading.Thread(target=other_worker)
    thread.start()
    try:
        assert locked.wait(timeout=30)
        result: Any = outbox.outbox_deliver_message(message_id=str(message.pk))
        assert result.outcome == "skipped"
        assert received.deliveries == []
    finally:
        release.set()
        thread.join()
    assert outbox.outbox_deliver_message(message_id=str(message.pk)).outcome == "delivered"
    assert len(received.deliveries) == 1
