"""The product simulator's events endpoint (/simulator/products/<slug>/events/) receives what the
outbox sends, checks the signature, and keeps each delivery once (by webhook-id)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import orjson
import pytest
from django.core.cache import cache
from django.test import Client
from django.urls import include, path
from standardwebhooks.webhooks import Webhook

from homeservice import urls as project_urls
from products.webhooks import webhook_secret_create
from recommendations.interactions import outbox
from recommendations.interactions.models import OutboxMessage
from tests.factories import ProductFactory

urlpatterns = [*project_urls.urlpatterns, path("simulator/", include("products.simulator_urls"))]
handler404 = project_urls.handler404

pytestmark = pytest.mark.urls(__name__)


@pytest.fixture(autouse=True)
def _clean_simulator_state() -> Iterator[None]:
    yield
    cache.delete("simulator:events:sim")


def _signed(secret: str, body: bytes, msg_id: str) -> dict[str, Any]:
    now = datetime.now(tz=UTC)
    return {
        "HTTP_WEBHOOK_ID": msg_id,
        "HTTP_WEBHOOK_TIMESTAMP": str(int(now.timestamp())),
        "HTTP_WEBHOOK_SIGNATURE": Webhook(secret).sign(msg_id, now, body.decode()),
    }


@pytest.mark.django_db
def test_verifies_keeps_once_and_refuses_bad_signatures(client: Client) -> None:
    product = ProductFactory.create(slug="sim")
    _, secret = webhook_secret_create(product=product)
    url = "/simulator/products/sim/events/"
    body = orjson.dumps({"id": "msg_1", "type": "interactions.recorded", "data": {"events": []}})

    assert client.post(url, body, content_type="application/json", **_signed(secret, body, "msg_1")).status_code == 204
    assert client.post(url, body, content_type="application/json", **_signed(secret, body, "msg_1")).status_code == 204
    forged = _signed("whsec_" + "A" * 44, body, "msg_2")
    assert client.post(url, body, content_type="application/json", **forged).status_code == 401

    kept = client.get(url).json()["events"]
    assert [event["webhook_id"] for event in kept] == ["msg_1"]
    assert client.post("/simulator/products/nope/events/", body, content_type="application/json").status_code == 404


@pytest.mark.django_db(transaction=True)
def test_the_outbox_delivers_to_the_simulator(live_server: Any) -> None:
    product = ProductFactory.create(slug="sim", events_endpoint=f"{live_server.url}/simulator/products/sim/events/")
    webhook_secret_create(product=product)
    message = outbox.enqueue(product=product, event_type="plan.selected", payload={"plan": "x"}, idempotency_key="k")
    assert message is not None  # outside a transaction: delivered at once (eager Celery)
    message.refresh_from_db()
    assert message.status == OutboxMessage.Status.DELIVERED
    kept = cache.get("simulator:events:sim")
    assert [event["webhook_id"] for event in kept] == [message.webhook_id]
    assert kept[0]["envelope"]["data"] == {"plan": "x"}
