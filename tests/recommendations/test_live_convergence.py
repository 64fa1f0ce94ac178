"""No lost updates: clients whose connections drop mid-stream converge to ``GET /api/v1/home/``.

A stream of changes (offers for the users, generic deals of the products) runs while clients
drop their connections at random and come back with ``resume``; at the end every client's
document (built only from what the socket sent, applied as docs/websocket.md says) equals the
REST feed, version and sections.
"""

from __future__ import annotations

import asyncio
import random
from typing import Any

import pytest
from asgiref.sync import sync_to_async
from django.utils import timezone

from products.services import deals_record
from recommendations.services import offer_upsert
from tests.factories import DealSnapshotFactory, ProductFactory, UserFactory, deal

from .live_clients import LiveClient
from .test_consumer import _clean_in_memory_layer, bearer, offer_payload, rest_feed, run  # noqa: F401

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_clients_that_drop_mid_stream_converge_to_the_rest_feed(seed: int) -> None:
    rng = random.Random(seed)
    products = [
        ProductFactory.create(slug=slug, rank_weight=w) for slug, w in (("mobile", 3), ("tv", 2), ("energy", 1))
    ]
    for product in products:
        DealSnapshotFactory.create(product=product, deals=[deal(f"{product.slug}-0", "Opening deal")])
    users = [UserFactory.create() for _ in range(12)]
    clients = [LiveClient(headers=bearer(user)) for user in users]

    async def scenario() -> None:
        for client in clients:
            await client.connect()
        for step in range(60):
            # A change...
            if rng.random() < 0.7:
                index = rng.randrange(len(users))
                product = rng.choice(products)
                await sync_to_async(offer_upsert)(
                    user=users[index],
                    product=product,
                    payload=offer_payload(
                        f"o-{index}-{product.slug}", f"Offer {step} for user {index}", version=step + 1
                    ),
                )
            else:
                product = rng.choice(products)
                deals = [] if rng.random() < 0.2 else [deal(f"{product.slug}-{step}", f"Deal {step}")]
                await sync_to_async(deals_record)(product=product, deals=deals, etag="", fetched_at=timezone.now())
            # ...while some clients read, some drop, some come back.
            for client in clients:
                if client.socket is None:
                    if rng.random() < 0.5:
                        await client.connect()
                elif rng.random() < 0.1:
                    await client.drop()
                else:
                    await client.drain()
            await asyncio.sleep(0)
        for client in clients:
            if client.socket is None:
                await client.connect()
        for client in clients:
            await client.settle()
        for client in clients:
            assert client.socket is not None
            await client.socket.disconnect()

    run(scenario)
    for user, client in zip(users, clients, strict=True):
        expected: dict[str, Any] = rest_feed(user)
        assert client.version == expected["version"]
        assert client.sections == expected["sections"]
    # The stream did reach the clients over the sockets, not only through resume.
    assert sum(1 for c in clients for m in c.received if m["type"] == "feed.updated") > len(clients)
