"""Polling product deals (products/tasks.py) against a real HTTP server standing in for a backend.

The backend is pytest-httpserver bound to 127.0.0.1. ``deals_changed`` is sent after commit, so
polls run inside ``django_capture_on_commit_callbacks(execute=True)`` and a receiver counts it.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from datetime import datetime, timedelta
from typing import Any

import orjson
import pytest
from django.contrib.auth.models import User
from django.utils import timezone
from pytest_httpserver import HTTPServer
from rest_framework.test import APIClient
from rest_framework_simplejwt.tokens import AccessToken
from werkzeug import Request, Response

from homeservice.celery import app as celery_app
from products.models import DealSnapshot, DealsPollState, Product
from products.selectors import products_due_for_deals_poll
from products.tasks import deals_poll, deals_poll_due
from tests.factories import DealsPollStateFactory, ProductFactory, UserFactory, deal
from tests.products.deals_backend import DEALS, DEALS_PATH, serve, state_of

pytestmark = pytest.mark.django_db


def backdate_last_success(product: Product) -> datetime:
    """Move the last success an hour back, so that a poll that confirms the deals visibly moves it."""
    past = timezone.now() - timedelta(hours=1)
    DealsPollState.objects.filter(product=product).update(last_success_at=past, last_polled_at=past)
    return past


def home_for(user: User) -> dict[str, Any]:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {AccessToken.for_user(user)}")
    response = client.get("/api/v1/home/")
    assert response.status_code == 200
    feed: dict[str, Any] = response.json()
    return feed


# --- a working backend -----------------------------------------------------------------------------


def test_new_deals_are_stored_and_the_hook_is_sent_once(backend, product, poll, hook_calls):
    # given a backend serving deals with an ETag
    serve(backend, etag='"v1"')

    # when
    result = poll(product)

    # then
    assert result == "changed"
    snapshot = DealSnapshot.objects.get(product=product)
    assert snapshot.deals == DEALS
    assert snapshot.etag == '"v1"'
    state = state_of(product)
    assert state.etag == '"v1"'
    assert state.last_success_at == snapshot.fetched_at
    assert state.last_error == ""
    assert hook_calls == ["mobile"]
    # and the first poll was not conditional
    [(request, _)] = backend.log
    assert "If-None-Match" not in request.headers
    assert request.headers["Accept"] == "application/json"


def test_polling_through_celery_stores_the_deals(backend, product, django_capture_on_commit_callbacks):
    serve(backend)

    with django_capture_on_commit_callbacks(execute=True):
        result = deals_poll.apply(args=(product.pk,)).get()

    assert result == "changed"
    assert DealSnapshot.objects.filter(product=product).count() == 1


def test_new_deals_reach_the_home_feed(backend, product, poll):
    serve(backend)
    poll(product)

    [section] = home_for(UserFactory.create())["sections"]

    assert (section["product"], section["source"], section["stale"]) == ("mobile", "generic", False)
    assert "Unlimited 5G" in str(section["component"])


def test_the_same_deals_again_store_nothing_new_and_send_no_hook(backend, product, poll, hook_calls):
    # given deals already stored from a backend that sends no ETag
    serve(backend)
    poll(product)
    snapshot = DealSnapshot.objects.get(product=product)
    past = backdate_last_success(product)
    hook_calls.clear()

    # when the backend answers the same content again
    result = poll(product)

    # then
    assert result == "unchanged"
    assert list(DealSnapshot.objects.filter(product=product)) == [snapshot]
    assert hook_calls == []
    # but the deals are confirmed fresh
    last_success_at = state_of(product).last_success_at
    assert last_success_at is not None
    assert last_success_at > past


def test_changed_deals_make_a_new_snapshot_which_is_served(backend, product, poll, hook_calls):
    serve(backend)
    poll(product)

    serve(backend, [deal("d9", "Brand new deal")])
    result = poll(product)

    assert result == "changed"
    assert DealSnapshot.objects.filter(product=product).count() == 2
    assert hook_calls == ["mobile", "mobile"]
    assert "Brand new deal" in str(home_for(UserFactory.create())["sections"][0]["component"])


def test_a_304_for_the_stored_etag_only_confirms_the_deals(backend, product, poll, hook_calls):
    # given deals stored with ETag "v1"
    serve(backend, etag='"v1"')
    poll(product)
    snapshot_row = DealSnapshot.objects.filter(product=product).values().get()
    product_updated_at = Product.objects.get(pk=product.pk).updated_at
    past = backdate_last_success(product)
    hook_calls.clear()
    # and a backend that answers 304 to that ETag only
    backend.clear()
    backend.expect_request(DEALS_PATH, headers={"If-None-Match": '"v1"'}).respond_with_data("", status=304)

    # when
    result = poll(product)

    # then the request was conditional
    assert result == "not_modified"
    [(request, _)] = backend.log
    assert request.headers["If-None-Match"] == '"v1"'
    # and only the poll state moved
    assert list(DealSnapshot.objects.filter(product=product).values()) == [snapshot_row]
    assert Product.objects.get(pk=product.pk).updated_at == product_updated_at
    state = state_of(product)
    assert state.last_success_at is not None
    assert state.last_success_at > past
    assert state.etag == '"v1"'
    assert state.last_error == ""
    assert state.last_error_at is None
    assert hook_calls == []


def test_a_304_keeps_old_deals_from_turning_stale(backend, product, poll, settings):
    # given deals fetched long ago, then confirmed by a 304
    serve(backend, etag='"v1"')
    poll(product)
    long_ago = timezone.now() - settings.DEALS_STALE_AFTER - timedelta(minutes=5)
    DealSnapshot.objects.update(fetched_at=long_ago)
    DealsPollState.objects.update(last_success_at=long_ago)
    assert home_for(UserFactory.create(username="before"))["sections"][0]["stale"] is True
    backend.clear()
    backend.expect_request(DEALS_PATH).respond_with_data("", status=304)

    # when
    poll(product)

    # then
    assert home_for(UserFactory.create(username="after"))["sections"][0]["stale"] is False


# --- a backend that fails --------------------------------------------------------------------------


def _then_the_poll_failed(product: Product, result: str, *, error_contains: str, snapshots: int = 0) -> None:
    assert result == "failed"
    state = state_of(product)
    assert error_contains in state.last_error
    assert state.last_error_at is not None
    assert state.last_polled_at == state.last_error_at
    assert DealSnapshot.objects.filter(product=product).count() == snapshots


def test_a_500_is_recorded_and_the_last_good_deals_are_still_served(backend, product, poll, hook_calls):
    # given good deals from an earlier poll
    serve(backend)
    poll(product)
    last_success = state_of(product).last_success_at
    hook_calls.clear()
    # and a backend that now fails
    backend.clear()
    backend.expect_request(DEALS_PATH).respond_with_data("oops", status=500)

    # when
    result = poll(product)

    # then
    _then_the_poll_failed(product, result, error_contains="HTTP 500", snapshots=1)
    assert state_of(product).last_success_at == last_success
    assert hook_calls == []
    [section] = home_for(UserFactory.create())["sections"]
    assert section["source"] == "generic"
    assert "Unlimited 5G" in str(section["component"])


def test_a_backend_failing_for_longer_than_stale_after_serves_the_last_deals_marked_stale(
    backend, product, poll, settings
):
    # given good deals last confirmed longer ago than DEALS_STALE_AFTER
    serve(backend)
    poll(product)
    long_ago = timezone.now() - settings.DEALS_STALE_AFTER - timedelta(minutes=1)
    DealSnapshot.objects.update(fetched_at=long_ago)
    DealsPollState.objects.update(last_success_at=long_ago)
    backend.clear()
    backend.expect_request(DEALS_PATH).respond_with_data("down", status=503)

    # when
    poll(product)

    # then
    [section] = home_for(UserFactory.create())["sections"]
    assert (section["source"], section["stale"]) == ("generic", True)
    assert "Unlimited 5G" in str(section["component"])


def test_a_backend_that_is_down_is_recorded(product, poll):
    # given an endpoint where nothing listens
    Product.objects.filter(pk=product.pk).update(deals_endpoint="http://127.0.0.1:1/deals/")

    result = poll(product)

    _then_the_poll_failed(product, result, error_contains="unreachable: ConnectError")


@pytest.mark.parametrize(
    "body", [b"{not json", b"", b"<html>maintenance</html>", b'{"deals": [}'], ids=["broken", "empty", "html", "cut"]
)
def test_a_body_that_is_not_json_fails_the_poll(backend, product, poll, body):
    backend.expect_request(DEALS_PATH).respond_with_data(body, content_type="application/json")

    result = poll(product)

    _then_the_poll_failed(product, result, error_contains="not JSON")


@pytest.mark.parametrize(
    ("document", "path"),
    [
        ({"deals": [{"title": "No id"}]}, "$.deals[0]"),
        ({"deals": [{"id": "d1"}]}, "$.deals[0]"),
        ({"deals": [{"id": "d1", "title": ""}]}, "$.deals[0].title"),
        ({"deals": [{"id": 7, "title": "Numeric id"}]}, "$.deals[0].id"),
        (
            {"deals": [deal("d1"), {"id": "d2", "title": "T", "price": {"amount": "1", "currency": "euro"}}]},
            "$.deals[1]",
        ),
        ({"deals": {"d1": "not a list"}}, "$.deals"),
        ({"offers": []}, "$"),
        ([], "$"),
    ],
    ids=["no-id", "no-title", "empty-title", "numeric-id", "bad-currency", "not-a-list", "no-deals", "array"],
)
def test_a_deals_body_of_the_wrong_shape_fails_the_poll_naming_where(backend, product, poll, document, path):
    # given good deals stored before
    serve(backend)
    poll(product)
    backend.clear()
    backend.expect_request(DEALS_PATH).respond_with_json(document)

    # when
    result = poll(product)

    # then
    _then_the_poll_failed(product, result, error_contains=f"invalid at {path}", snapshots=1)
    assert DealSnapshot.objects.get().deals == DEALS


def test_a_body_over_the_size_limit_fails_the_poll(backend, product, poll, settings):
    # given a limit smaller than the body, which declares its length
    settings.OUTBOUND_MAX_BODY_BYTES = 100
    serve(backend, [deal(f"d{i}") for i in range(5)])

    result = poll(product)

    _then_the_poll_failed(product, result, error_contains="exceeds the limit of 100")


def test_a_body_over_the_size_limit_without_a_declared_length_fails_the_poll(backend, product, poll, settings):
    # given a body streamed with no Content-Length
    settings.OUTBOUND_MAX_BODY_BYTES = 100
    chunks = [b'{"deals": [', *[orjson.dumps(deal(f"d{i}")) + b"," for i in range(20)], b"{}]}"]
    backend.expect_request(DEALS_PATH).respond_with_handler(
        lambda request: Response(iter(chunks), content_type="application/json")
    )

    result = poll(product)

    _then_the_poll_failed(product, result, error_contains="exceeds the limit of 100 bytes")
    assert "Content-Length" not in backend.log[0][1].headers


def test_a_redirect_to_another_host_fails_the_poll_and_is_not_followed(backend, product, poll):
    # given a second server (another origin) that would serve valid deals
    other = HTTPServer(host="127.0.0.1", port=0)
    other.expect_request(DEALS_PATH).respond_with_json({"deals": DEALS})
    other.start()
    try:
        backend.expect_request(DEALS_PATH).respond_with_data(
            "", status=302, headers={"Location": other.url_for(DEALS_PATH)}
        )

        # when
        result = poll(product)

        # then
        _then_the_poll_failed(product, result, error_contains="HTTP 302")
        assert other.log == []
    finally:
        other.clear()
        other.stop()


def test_a_backend_slower_than_the_read_timeout_fails_the_poll(backend, product, poll, settings):
    # given a backend that does not answer within the read timeout
    settings.OUTBOUND_READ_TIMEOUT = 0.2
    released = threading.Event()

    def slow(request: Request) -> Response:
        released.wait(timeout=10)
        return Response(orjson.dumps({"deals": DEALS}), content_type="application/json")

    backend.expect_request(DEALS_PATH).respond_with_handler(slow)

    # when
    try:
        result = poll(product)
    finally:
        released.set()

    # then
    _then_the_poll_failed(product, result, error_contains="ReadTimeout")


def test_a_good_poll_after_failures_stores_the_deals(backend, product, poll, hook_calls):
    backend.expect_request(DEALS_PATH).respond_with_data("oops", status=500)
    assert poll(product) == "failed"

    serve(backend)
    result = poll(product)

    assert result == "changed"
    state = state_of(product)
    assert state.last_success_at is not None
    assert state.last_error_at is not None
    assert state.last_success_at > state.last_error_at
    assert hook_calls == ["mobile"]


# --- what is polled --------------------------------------------------------------------------------


@pytest.mark.parametrize("change", [{"active": False}, {"deals_endpoint": ""}], ids=["inactive", "no-endpoint"])
def test_inactive_products_and_products_without_an_endpoint_are_skipped(backend, product, poll, change):
    Product.objects.filter(pk=product.pk).update(**change)

    assert poll(product) == "skipped"
    assert backend.log == []
    assert not DealsPollState.objects.exists()


def test_products_due_for_a_poll_are_the_active_ones_with_an_endpoint_whose_interval_passed():
    # given
    now = timezone.now()

    def make(slug: str, *, polled_ago: int | None, **fields: Any) -> Product:
        product = ProductFactory.create(
            slug=slug, deals_endpoint=fields.pop("deals_endpoint", f"http://127.0.0.1:9/{slug}/"), **fields
        )
        if polled_ago is not None:
            DealsPollStateFactory.create(product=product, last_polled_at=now - timedelta(seconds=polled_ago))
        return product

    make("never-polled", polled_ago=None)
    make("interval-passed", polled_ago=31, poll_interval_seconds=30)
    make("interval-just-reached", polled_ago=30, poll_interval_seconds=30)
    make("polled-recently", polled_ago=10, poll_interval_seconds=30)
    make("inactive", polled_ago=None, active=False)
    make("no-endpoint", polled_ago=None, deals_endpoint="")

    # when
    due = products_due_for_deals_poll(now=now)

    # then
    assert sorted(p.slug for p in due) == ["interval-just-reached", "interval-passed", "never-polled"]


@pytest.fixture
def eager_celery() -> Iterator[None]:
    previous = celery_app.conf.task_always_eager
    celery_app.conf.task_always_eager = True
    yield
    celery_app.conf.task_always_eager = previous


@pytest.mark.usefixtures("eager_celery")
def test_the_beat_tick_polls_exactly_the_products_that_are_due(backend, django_capture_on_commit_callbacks):
    # given products whose endpoints are paths on the backend
    now = timezone.now()
    for slug in ("due", "never", "recent", "inactive"):
        backend.expect_request(f"/{slug}/deals/").respond_with_json({"deals": DEALS})
    for slug, polled_ago, active in [
        ("due", 600, True),
        ("never", None, True),
        ("recent", 5, True),
        ("inactive", None, False),
    ]:
        product = ProductFactory.create(
            slug=slug, active=active, poll_interval_seconds=300, deals_endpoint=backend.url_for(f"/{slug}/deals/")
        )
        if polled_ago is not None:
            DealsPollStateFactory.create(product=product, last_polled_at=now - timedelta(seconds=polled_ago))
    ProductFactory.create(slug="unpolled", deals_endpoint="")

    # when
    with django_capture_on_commit_callbacks(execute=True):
        enqueued = deals_poll_due()

    # then exactly the due products were polled, and stored their deals
    assert enqueued == 2
    assert sorted(request.path for request, _ in backend.log) == ["/due/deals/", "/never/deals/"]
    assert sorted(DealSnapshot.objects.values_list("product__slug", flat=True)) == ["due", "never"]

    # and right after, nothing is due any more
    backend.clear_log()
    assert deals_poll_due() == 0
    assert backend.log == []
