"""Cross-instance L1 invalidation over Redis pub/sub, against a redis-server of this test's own.

The subscriber of "another process" is a second ``Subscriber`` with its own L1. The server is
started on a free loopback port and stopped by PID (never the shared Redis).
"""

from __future__ import annotations

import shutil
import subprocess
import time
from collections.abc import Callable, Iterator

import pytest
import redis

from recommendations.fragments import metrics
from recommendations.fragments.invalidation import Invalidation, Subscriber
from recommendations.fragments.l1 import L1Cache
from tests.e2e.harness import free_port

pytestmark = [
    pytest.mark.timeout(60),
    pytest.mark.skipif(shutil.which("redis-server") is None, reason="needs the redis-server binary"),
]

CHANNEL = "hs-test:fragments:invalidate"


class OwnRedis:
    def __init__(self) -> None:
        self.port = free_port()
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        self.process = subprocess.Popen(
            ["redis-server", "--port", str(self.port), "--save", "", "--appendonly", "no", "--bind", "127.0.0.1"],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        wait_for(self._answers, "redis-server to answer")

    def _answers(self) -> bool:
        try:
            return bool(redis.Redis.from_url(self.url, socket_connect_timeout=0.5).ping())
        except redis.ConnectionError:
            return False

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()  # this test's own server, by its PID
            self.process.wait(timeout=10)

    def publish(self, invalidation: Invalidation) -> None:
        client = redis.Redis.from_url(self.url)
        client.publish(CHANNEL, invalidation.encode())
        client.close()


def wait_for(condition: Callable[[], bool], what: str, timeout: float = 15) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.05)


@pytest.fixture
def own_redis() -> Iterator[OwnRedis]:
    server = OwnRedis()
    server.start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def other_process(own_redis: OwnRedis) -> Iterator[Subscriber]:
    subscriber = Subscriber(url=own_redis.url, channel=CHANNEL, l1=L1Cache(maxsize=100, ttl=60), max_backoff=0.5)
    subscriber.start()
    try:
        assert subscriber.subscribed.wait(10)
        yield subscriber
    finally:
        subscriber.stop()


def test_a_published_invalidation_drops_the_matching_entries_of_another_processs_l1(own_redis, other_process):
    l1 = other_process.l1
    l1.set("frag:u:7:mobile:n:abc", {"id": "product-mobile"})
    l1.set("frag:u:7:tv:n:abc", {"id": "product-tv"})
    l1.set("frag:u:8:mobile:n:abc", {"id": "product-mobile"})
    l1.set("frag:g:mobile:n:abc", {"id": "product-mobile"})

    own_redis.publish(Invalidation(user_id=7, product_slug="mobile"))
    wait_for(lambda: l1.get("frag:u:7:mobile:n:abc") is None, "the entry to be dropped")
    assert l1.get("frag:u:7:tv:n:abc") is not None
    assert l1.get("frag:u:8:mobile:n:abc") is not None

    own_redis.publish(Invalidation(product_slug="mobile"))
    wait_for(lambda: l1.get("frag:g:mobile:n:abc") is None, "the generic entry to be dropped")
    assert len(l1) == 2

    own_redis.publish(Invalidation())
    wait_for(lambda: len(l1) == 0, "everything to be dropped")


def test_a_malformed_message_is_ignored(own_redis, other_process):
    other_process.l1.set("frag:g:tv:n:abc", {"id": "product-tv"})
    client = redis.Redis.from_url(own_redis.url)
    client.publish(CHANNEL, b"not json")
    client.close()
    own_redis.publish(Invalidation(product_slug="other"))
    time.sleep(0.3)
    assert other_process.l1.get("frag:g:tv:n:abc") is not None


def test_losing_the_subscription_clears_l1_and_it_resubscribes_when_redis_returns(own_redis, other_process):
    l1 = other_process.l1
    reconnects = metrics.SUBSCRIBER_RECONNECTS._value.get()
    l1.set("frag:g:tv:n:abc", {"id": "product-tv"})

    own_redis.stop()
    wait_for(lambda: len(l1) == 0, "L1 to be cleared")
    assert not other_process.subscribed.is_set()
    assert metrics.SUBSCRIBER_RECONNECTS._value.get() > reconnects

    own_redis.start()  # same port
    wait_for(other_process.subscribed.is_set, "the subscriber to resubscribe")
    l1.set("frag:g:tv:n:abc", {"id": "product-tv"})
    own_redis.publish(Invalidation(product_slug="tv"))
    wait_for(lambda: len(l1) == 0, "invalidations to arrive again")
