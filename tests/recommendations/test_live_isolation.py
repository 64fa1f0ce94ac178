"""Isolation: with hundreds of users connected and updates for many of them at once, no socket
ever carries another user's offer (docs/websocket.md: a socket is one user's).

Every offer's title names its owner, so a frame holding ``Private offer of user <n>`` for the
wrong user is a leak, whichever message it came in (snapshot, update, resume answer).
"""

from __future__ import annotations

import asyncio
import json
import random
import re

import pytest
from asgiref.sync import sync_to_async
from django.db import connection
from django.utils import timezone

from products.services import deals_record
from recommendations.services import offer_upsert
from tests.factories import DealSnapshotFactory, ProductFactory, UserFactory, deal

from .live_clients import LiveClient
from .test_consumer import _clean_in_memory_layer, bearer, offer_payload, rest_feed, run  # noqa: F401

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.timeout(300)]

USERS = 200
UPDATES = 400
OWNER = re.compile(r"Private offer of user (\d+)\b")


def test_no_socket_ever_receives_another_users_offer() -> None:
    rng = random.Random(5)
    products = [
        ProductFactory.create(slug=slug, rank_weight=w) for slug, w in (("mobile", 3), ("tv", 2), ("energy", 1))
    ]
    for product in products:
        DealSnapshotFactory.create(product=product, deals=[deal(f"{product.slug}-0", "Everyone's deal")])
    users = [UserFactory.create() for _ in range(USERS)]
    clients = {user.pk: LiveClient(headers=bearer(user)) for user in users}
    # SQLite takes one writer at a time; PostgreSQL gets the writes from several threads at once.
    concurrent_writes = connection.vendor != "sqlite"

    def write(step: int) -> None:
        try:
            change(step)
        finally:
            if concurrent_writes:
                connection.close()  # this worker thread's own connection

    def change(step: int) -> None:
        user = rng.choice(users)
        product = rng.choice(products)
        if step % 25 == 0:
            deals_record(
                product=product,
                deals=[deal(f"{product.slug}-{step}", f"Deal {step}")],
                etag="",
                fetched_at=timezone.now(),
            )
        else:
            offer_upsert(
                user=user,
                product=product,
                payload=offer_payload(f"o-{step}", f"Private offer of user {user.pk} #{step}", version=1),
            )

    async def scenario() -> None:
        for client in clients.values():
            await client.connect()
        writer = sync_to_async(write, thread_sensitive=not concurrent_writes)
        for start in range(0, UPDATES, 20):
            await asyncio.gather(*(writer(step) for step in range(start, start + 20)))
            for client in rng.sample(list(clients.values()), 20):
                await client.drain()
        for client in clients.values():
            await client.settle()
            assert client.socket is not None
            await client.socket.disconnect()

    run(scenario)

    delivered = 0
    for user_id, client in clients.items():
        for message in client.received:
            owners = {int(owner) for owner in OWNER.findall(json.dumps(message))}
            assert owners <= {user_id}, f"user {user_id} received offers of {owners - {user_id}}"
            delivered += message["type"] == "feed.updated" and bool(owners)
    # The offers did flow (to their owners), and each client ends where REST is.
    assert delivered > USERS / 2
    for user in rng.sample(users, 20):
        assert clients[user.pk].version == rest_feed(user)["version"]
