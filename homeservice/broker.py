"""The Celery broker transport: kombu's Redis transport, safe to close after a lost connection.

When its connection to Redis breaks, the worker closes the broken connection twice: first with
``Connection.collect()``, which also releases the transport (``transport.client = None``), then
with ``Connection.close()``. kombu's Redis ``Channel.close()`` stops at the first broker error
(the pending BRPOP's reply, a fanout queue's deletion, restoring unacknowledged messages) and the
transport stops closing channels at the first one that fails, so a channel can be left open. The
second close then needed connection parameters from the released transport: with a late-ack task
still unacknowledged it raised ``AttributeError: 'NoneType' object has no attribute 'hostname'``,
which nothing handles, and the worker exited. The same error from a channel closed after its
transport was released was reported upstream (celery/kombu#582; restoring unacknowledged
messages on close: celery/kombu#970).

Here a channel whose transport is gone raises a connection error instead: kombu and Celery
handle it as what it is, an unreachable broker, and the worker reconnects. The messages it held
stay in Redis's unacknowledged index and are delivered again after the visibility timeout
(docs/operations.md, "Supervision and broker reconnects"). The settings select this transport
for every ``redis://`` broker URL (``CELERY_BROKER_TRANSPORT``).
"""

from __future__ import annotations

from typing import Any

from kombu.transport import redis as kombu_redis
from redis.exceptions import ConnectionError as RedisConnectionError


class Channel(kombu_redis.Channel):
    def _connparams(self, asynchronous: bool = False) -> dict[str, Any]:
        transport: Any = self.connection  # None once the channel was closed
        if transport is None or transport.client is None:
            raise RedisConnectionError("the broker connection of this channel is closed")
        parent: Any = super()  # the stubs do not declare this private method
        params: dict[str, Any] = parent._connparams(asynchronous=asynchronous)
        return params


class Transport(kombu_redis.Transport):
    Channel = Channel
