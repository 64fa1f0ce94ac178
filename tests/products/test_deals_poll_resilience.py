"""A product backend that is down, slow or broken never hurts the feed: retries of transient
failures only, the circuit breaker per product (opening, and closing again), SSRF-safe calls,
snapshot pruning, a deduplicated immediate poll, and the health record.

The backend is a real HTTP server (pytest-httpserver on 127.0.0.1); polls run the way a worker
runs them, with retries applied at once (Celery's eager mode skips the backoff's wait).
"""

from __future__ import annotations

import contextlib
import socket
from collections.abc import Callable, Iterator
from typing import Any
from unittest import mock

import pybreaker
import pytest
import redis
from django.core.cache import cache
from django.db import transaction
from django.utils import timezone
from pytest_httpserver import HTTPServer

from homeservice.embedded_redis import EmbeddedRedis
from products import tasks
from products.backend_client import BackendError, deals_fetch
from products.breakers import backend_breaker_status, breaker_namespace
from products.models import DealSnapshot, DealsPollState, Product
from products.tasks import deals_poll_due, deals_poll_soon
from tests.factories import ProductFactory, deal
from tests.products.deals_backend import DEALS, DEALS_PATH, serve, state_of

pytestmark = pytest.mark.django_db

Poll = Callable[[Product], str]


def requests_made(backend: HTTPServer) -> int:
    return len(backend.log)


# --- retries: transient failures only --------------------------------------------------------------


@pytest.mark.parametrize("status", [500, 502, 503, 429])
def test_a_transient_answer_is_retried_then_recorded_as_failed(backend, product, poll, settings, status):
    # given a backend that keeps failing, and two retries allowed
    settings.DEALS_POLL_MAX_RETRIES = 2
    backend.expect_request(DEALS_PATH).respond_with_data("busy", status=status)

    result = poll(product)

    assert result == "failed"
    assert requests_made(backend) == 3  # the first attempt and two retries
    assert f"HTTP {status}" in state_of(product).last_error


def test_a_transient_failure_then_a_good_answer_stores_the_deals_on_the_retry(backend, product, poll, hook_calls):
    # given a backend that fails once, then answers
    backend.expect_ordered_request(DEALS_PATH).respond_with_data("oops", status=500)
    backend.expect_ordered_request(DEALS_PATH).respond_with_json({"deals": DEALS})

    result = poll(product)

    assert result == "changed"
    assert requests_made(backend) == 2
    assert DealSnapshot.objects.get(product=product).deals == DEALS
    assert hook_calls == ["mobile"]
    state = state_of(product)
    assert state.last_error == ""  # the retry's success cleared the first attempt's error
    assert state.last_error_at is not None


def test_retries_wait_an_exponential_backoff_with_full_jitter(backend, product, poll, settings):
    settings.DEALS_POLL_MAX_RETRIES = 3
    settings.DEALS_POLL_RETRY_BACKOFF_SECONDS = 2
    settings.DEALS_POLL_RETRY_BACKOFF_MAX_SECONDS = 5
    backend.expect_request(DEALS_PATH).respond_with_data("oops", status=503)

    with mock.patch.object(tasks, "get_exponential_backoff_interval", return_value=0) as backoff:
        poll(product)

    assert [c.kwargs for c in backoff.call_args_list] == [
        {"factor": 2, "retries": n, "maximum": 5, "full_jitter": True} for n in range(3)
    ]


@pytest.mark.parametrize(
    "respond",
    [
        lambda b: b.expect_request(DEALS_PATH).respond_with_data("no", status=404),
        lambda b: b.expect_request(DEALS_PATH).respond_with_data("no", status=401),
        lambda b: b.expect_request(DEALS_PATH).respond_with_data("{not json", content_type="application/json"),
        lambda b: b.expect_request(DEALS_PATH).respond_with_json({"deals": [{"title": "no id"}]}),
        lambda b: b.expect_request(DEALS_PATH).respond_with_data(
            "", status=302, headers={"Location": "http://127.0.0.1:1/elsewhere/"}
        ),
    ],
    ids=["404", "401", "malformed-json", "wrong-shape", "redirect"],
)
def test_a_permanent_failure_is_not_retried(backend, product, poll, respond):
    respond(backend)

    assert poll(product) == "failed"
    assert requests_made(backend) == 1


def test_a_redirect_is_reported_with_where_it_pointed(backend, product, poll):
    backend.expect_request(DEALS_PATH).respond_with_data(
        "", status=301, headers={"Location": "http://other.example/deals/"}
    )

    poll(product)

    assert "redirect to http://other.example/deals/ (not followed)" in state_of(product).last_error


def test_a_body_that_keeps_trickling_fails_at_the_total_timeout(backend, product, poll, settings):
    # given a total timeout already used up when the first chunk arrives (no waiting involved)
    settings.OUTBOUND_TOTAL_TIMEOUT = -1
    settings.DEALS_POLL_MAX_RETRIES = 0
    serve(backend)

    assert poll(product) == "failed"
    assert "OUTBOUND_TOTAL_TIMEOUT" in state_of(product).last_error


# --- the circuit breaker ---------------------------------------------------------------------------


def test_the_breaker_opens_after_fail_max_failures_and_then_spares_the_backend(backend, product, poll, settings):
    # given a breaker that opens after 3 failures, and more retries than that
    settings.BACKEND_BREAKER_FAIL_MAX = 3
    settings.DEALS_POLL_MAX_RETRIES = 5
    backend.expect_request(DEALS_PATH).respond_with_data("down", status=503)

    # when
    result = poll(product)

    # then the retries stopped when the breaker opened
    assert result == "failed"
    assert requests_made(backend) == 3
    assert state_of(product).last_error == "deals endpoint answered HTTP 503 (circuit breaker opened)"
    assert backend_breaker_status(product_slug="mobile").state == "open"

    # and the next poll does not call the backend at all
    backend.clear_log()
    assert poll(product) == "breaker_open"
    assert requests_made(backend) == 0
    assert state_of(product).last_error.startswith("not polled: circuit breaker open")


def _open_breaker(backend: HTTPServer, product: Product, poll: Poll, settings: Any) -> None:
    settings.BACKEND_BREAKER_FAIL_MAX = 2
    settings.DEALS_POLL_MAX_RETRIES = 1
    backend.expect_request(DEALS_PATH).respond_with_data("down", status=503)
    poll(product)
    assert backend_breaker_status(product_slug=product.slug).state == "open"
    backend.clear()


def test_after_the_reset_timeout_a_good_trial_call_closes_the_breaker(backend, product, poll, settings, hook_calls):
    # given an open breaker and a backend that has recovered
    _open_breaker(backend, product, poll, settings)
    serve(backend)
    # while the reset timeout has not passed, the backend is spared
    assert poll(product) == "breaker_open"
    assert requests_made(backend) == 0

    # when the reset timeout has passed (0: the next poll is the trial call)
    settings.BACKEND_BREAKER_RESET_SECONDS = 0
    result = poll(product)

    # then the trial call went through and closed the breaker
    assert result == "changed"
    assert requests_made(backend) == 1
    assert backend_breaker_status(product_slug="mobile").state == "closed"
    assert state_of(product).last_error == ""
    assert hook_calls == ["mobile"]


def test_after_the_reset_timeout_a_failed_trial_call_opens_the_breaker_again(backend, product, poll, settings):
    _open_breaker(backend, product, poll, settings)
    backend.expect_request(DEALS_PATH).respond_with_data("still down", status=500)
    settings.BACKEND_BREAKER_RESET_SECONDS = 0

    result = poll(product)

    assert result == "failed"
    assert requests_made(backend) == 1  # one trial call, no retries
    settings.BACKEND_BREAKER_RESET_SECONDS = 60
    assert backend_breaker_status(product_slug="mobile").state == "open"


def test_permanent_failures_do_not_open_the_breaker(backend, product, poll, settings):
    settings.BACKEND_BREAKER_FAIL_MAX = 2
    backend.expect_request(DEALS_PATH).respond_with_json({"offers": []})

    for _ in range(3):
        assert poll(product) == "failed"

    assert requests_made(backend) == 3
    assert backend_breaker_status(product_slug="mobile").state == "closed"


def test_one_products_open_breaker_leaves_the_others_polled(backend, product, poll, settings):
    _open_breaker(backend, product, poll, settings)
    tv = ProductFactory.create(slug="tv", deals_endpoint=backend.url_for("/tv/deals/"))
    backend.expect_request("/tv/deals/").respond_with_json({"deals": DEALS})

    assert poll(tv) == "changed"
    assert poll(product) == "breaker_open"


@pytest.fixture
def redis_url(settings: Any) -> Iterator[str]:
    """The Redis the breakers use: the suite's REDIS_URL, or else an embedded Redis-protocol server
    started for this test (the one ``make run`` uses in embedded mode)."""
    if settings.REDIS_URL:
        yield settings.REDIS_URL
        return
    server = EmbeddedRedis().start()
    settings.REDIS_URL = server.url
    try:
        yield server.url
    finally:
        server.stop()


def test_the_breaker_state_is_kept_in_redis_for_every_process(backend, product, poll, settings, redis_url):
    # when one process's polls open the breaker
    _open_breaker(backend, product, poll, settings)

    # then what another process reads from Redis is the open breaker
    client = redis.Redis.from_url(redis_url)
    try:
        other = pybreaker.CircuitRedisStorage("closed", client, namespace=breaker_namespace("mobile"))
        assert other.state == "open"
        assert other.opened_at is not None
    finally:
        client.close()


# --- SSRF-safe outbound calls ----------------------------------------------------------------------


def test_a_private_address_is_refused_unless_allowed(backend, product, poll, settings):
    settings.OUTBOUND_ALLOW_PRIVATE_ADDRESSES = False

    result = poll(product)

    assert result == "failed"
    assert requests_made(backend) == 0
    assert "127.0.0.1, a non-public address" in state_of(product).last_error


def test_a_host_that_is_not_allowed_is_refused(backend, product, poll, settings):
    settings.OUTBOUND_ALLOWED_HOSTS = ["deals.example.com"]

    assert poll(product) == "failed"
    assert requests_made(backend) == 0
    assert "host 127.0.0.1 is not an allowed product backend host" in state_of(product).last_error


def test_a_products_endpoint_never_makes_its_host_allowed(backend, product, poll, settings):
    # given production's default (nothing allowed), and a product an admin pointed at 127.0.0.1
    settings.OUTBOUND_ALLOWED_HOSTS = []

    assert poll(product) == "failed"
    assert requests_made(backend) == 0
    assert "OUTBOUND_ALLOWED_HOSTS is empty" in state_of(product).last_error


def test_only_the_configured_hosts_may_be_called(backend, settings):
    # 127.0.0.2 is the same machine as the allowed 127.0.0.1, but not a configured name
    settings.OUTBOUND_ALLOWED_HOSTS = ["127.0.0.1"]
    other = backend.url_for(DEALS_PATH).replace("127.0.0.1", "127.0.0.2")

    with pytest.raises(BackendError, match=r"host 127\.0\.0\.2 is not an allowed"):
        deals_fetch(url=other)
    assert requests_made(backend) == 0


@pytest.mark.parametrize("url", ["file:///etc/passwd", "ftp://127.0.0.1/deals", "http:///deals"])
def test_only_http_urls_with_a_host_are_called(url, settings):
    settings.OUTBOUND_ALLOWED_HOSTS = ["127.0.0.1"]

    with pytest.raises(BackendError, match="refused"):
        deals_fetch(url=url)


def _resolving(mapping: dict[str, list[str]]) -> Any:
    real = socket.getaddrinfo

    def getaddrinfo(host: str, port: Any, *args: Any, **kwargs: Any) -> Any:
        if host in mapping:
            return [
                (socket.AF_INET6 if ":" in a else socket.AF_INET, socket.SOCK_STREAM, 6, "", (a, port))
                for a in mapping[host]
            ]
        return real(host, port, *args, **kwargs)

    return mock.patch("products.outbound_guard.socket.getaddrinfo", getaddrinfo)


@pytest.mark.parametrize(
    "addresses",
    [["93.184.215.14", "10.0.0.7"], ["169.254.169.254"], ["::1"], ["::ffff:127.0.0.1"], ["100.64.0.1"]],
    ids=["one-of-several-private", "link-local-metadata", "ipv6-loopback", "ipv4-mapped", "shared"],
)
def test_every_resolved_address_must_be_public(settings, addresses):
    settings.OUTBOUND_ALLOWED_HOSTS = ["deals.example.com"]
    settings.OUTBOUND_ALLOW_PRIVATE_ADDRESSES = False

    with _resolving({"deals.example.com": addresses}), pytest.raises(BackendError, match="resolves to"):
        deals_fetch(url="http://deals.example.com/deals/")


def test_the_call_goes_to_the_checked_address_with_the_hosts_name(backend, settings):
    # given a host name that resolves (once, when checked) to the backend's address
    settings.OUTBOUND_ALLOWED_HOSTS = ["deals.example.com"]
    backend.expect_request(DEALS_PATH).respond_with_json({"deals": DEALS})
    url = f"http://deals.example.com:{backend.port}{DEALS_PATH}"

    with _resolving({"deals.example.com": ["127.0.0.1"]}) as _:
        fetched = deals_fetch(url=url)

    assert fetched.deals == DEALS
    [(request, _)] = backend.log
    assert request.headers["Host"] == f"deals.example.com:{backend.port}"


# --- snapshots: history kept and pruned ------------------------------------------------------------


def test_snapshot_history_keeps_the_newest_n_per_product(backend, product, poll, settings):
    # given a history of 2 and another product's snapshot
    settings.DEALS_SNAPSHOTS_KEEP = 2
    other = ProductFactory.create(slug="tv")
    DealSnapshot.objects.create(product=other, deals=DEALS, content_hash="x", fetched_at=timezone.now())

    # when the deals change four times
    for n in range(4):
        serve(backend, [deal(f"d{n}", f"Deal {n}")])
        assert poll(product) == "changed"

    # then the newest two remain, the newest first, and the other product's is untouched
    kept = [s.deals[0]["id"] for s in DealSnapshot.objects.filter(product=product)]
    assert kept == ["d3", "d2"]
    assert DealSnapshot.objects.filter(product=other).count() == 1


def test_unchanged_deals_prune_nothing(backend, product, poll, settings):
    settings.DEALS_SNAPSHOTS_KEEP = 1
    serve(backend)
    poll(product)
    first = DealSnapshot.objects.get(product=product)

    poll(product)

    assert list(DealSnapshot.objects.filter(product=product)) == [first]


# --- health: the last error is cleared by a success ------------------------------------------------


def test_a_304_after_a_failure_clears_the_last_error(backend, product, poll):
    serve(backend, etag='"v1"')
    poll(product)
    backend.clear()
    backend.expect_ordered_request(DEALS_PATH).respond_with_data("no", status=404)
    backend.expect_ordered_request(DEALS_PATH).respond_with_data("", status=304)
    assert poll(product) == "failed"
    assert state_of(product).last_error

    assert poll(product) == "not_modified"

    state = state_of(product)
    assert state.last_error == ""
    assert state.last_error_at is not None


# --- tasks: one queued poll at a time --------------------------------------------------------------


@pytest.fixture
def nothing_queued(product: Product) -> Iterator[None]:
    cache.delete(tasks.deals_poll_queued_key(product.pk))
    yield
    cache.delete(tasks.deals_poll_queued_key(product.pk))


@pytest.mark.usefixtures("nothing_queued")
def test_a_burst_of_poll_requests_enqueues_one_poll(backend, product, django_capture_on_commit_callbacks):
    serve(backend)

    # when five deals.changed notices arrive before the poll starts
    with (
        mock.patch.object(tasks.deals_poll, "apply_async") as enqueue,
        django_capture_on_commit_callbacks(execute=True),
    ):
        for _ in range(5):
            deals_poll_soon(product=product)

    # then one poll was enqueued
    enqueue.assert_called_once_with(args=(product.pk,), expires=tasks.POLL_SOON_EXPIRES_SECONDS)

    # and once that poll has started, a new notice enqueues another, so no change is missed
    poll_and_request = django_capture_on_commit_callbacks
    with poll_and_request(execute=True):
        tasks.deals_poll.apply(args=(product.pk,))
        deals_poll_soon(product=product)
    assert requests_made(backend) == 2  # the first poll, and the one the new notice enqueued


@pytest.mark.usefixtures("nothing_queued")
def test_a_poll_requested_in_a_transaction_that_rolls_back_is_not_enqueued_and_blocks_nothing(
    backend, product, django_capture_on_commit_callbacks
):
    serve(backend)
    with django_capture_on_commit_callbacks(execute=True), contextlib.suppress(RuntimeError), transaction.atomic():
        deals_poll_soon(product=product)
        raise RuntimeError("rolled back")
    assert requests_made(backend) == 0

    with django_capture_on_commit_callbacks(execute=True):
        deals_poll_soon(product=product)
    assert requests_made(backend) == 1


def test_a_poll_waiting_in_the_queue_is_not_enqueued_again_by_the_next_tick(backend, product):
    with mock.patch.object(tasks.deals_poll, "apply_async") as enqueue:
        assert deals_poll_due() == 1
        assert deals_poll_due() == 0
    enqueue.assert_called_once_with(args=(product.pk,), expires=product.poll_interval_seconds)
    assert DealsPollState.objects.get(product=product).last_polled_at is not None
