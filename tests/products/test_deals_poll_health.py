"""Each product's deals poll health (last success, last error, breaker, next poll, staleness) in
the admin and at /metrics, after real polls of a real HTTP server."""

from __future__ import annotations

from datetime import timedelta
from typing import Any
from unittest import mock

import pytest
from django.contrib.auth.models import User
from django.core.cache import cache
from django.test import Client
from django.utils import timezone
from prometheus_client.parser import text_string_to_metric_families

from products import tasks
from products.breakers import backend_breaker_status
from products.models import DealSnapshot, DealsPollState, Product
from products.poll_health import deals_poll_health
from tests.factories import ProductFactory
from tests.products.deals_backend import DEALS_PATH, serve, state_of

pytestmark = pytest.mark.django_db


@pytest.fixture
def admin_client() -> Client:
    client = Client()
    client.force_login(User.objects.create_superuser("root", password="pw-123456"))
    return client


def open_the_breaker(backend: Any, product: Product, poll: Any, settings: Any) -> None:
    settings.BACKEND_BREAKER_FAIL_MAX = 2
    settings.DEALS_POLL_MAX_RETRIES = 1
    backend.expect_request(DEALS_PATH).respond_with_data("down", status=503)
    poll(product)
    assert backend_breaker_status(product_slug=product.slug).state == "open"


def metric_samples(body: bytes) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(body.decode())
        if family.name.startswith("homeservice_deals_")
        for s in family.samples
    }


# --- the health record -----------------------------------------------------------------------------


def test_health_after_a_good_poll(backend, product, poll):
    serve(backend)
    poll(product)
    now = timezone.now()

    [health] = deals_poll_health(now=now)

    state = state_of(product)
    assert state.last_polled_at is not None
    assert health.product_slug == "mobile"
    assert health.last_success_at == state.last_success_at
    assert health.last_error == ""
    assert health.breaker.state == "closed"
    assert health.next_poll_at == state.last_polled_at + timedelta(seconds=product.poll_interval_seconds)
    assert health.deals_as_of == DealSnapshot.objects.get().fetched_at
    assert health.stale is False


def test_health_when_the_backend_is_down_for_longer_than_stale_after(backend, product, poll, settings):
    serve(backend)
    poll(product)
    long_ago = timezone.now() - settings.DEALS_STALE_AFTER - timedelta(minutes=1)
    DealSnapshot.objects.update(fetched_at=long_ago)
    DealsPollState.objects.update(last_success_at=long_ago)
    backend.clear()
    open_the_breaker(backend, product, poll, settings)

    [health] = deals_poll_health(now=timezone.now())

    assert health.stale is True
    assert health.deals_as_of == long_ago
    assert "HTTP 503" in health.last_error
    assert health.breaker.state == "open"
    assert health.breaker.trial_after is not None


def test_a_product_never_polled_is_due_and_an_inactive_one_is_not_polled():
    ProductFactory.create(slug="new", deals_endpoint="http://127.0.0.1:9/deals/")
    ProductFactory.create(slug="off", active=False, deals_endpoint="http://127.0.0.1:9/deals/")
    ProductFactory.create(slug="none", deals_endpoint="")
    now = timezone.now()

    health = {h.product_slug: h for h in deals_poll_health(now=now)}

    assert set(health) == {"new", "off"}
    assert health["new"].next_poll_at == now
    assert health["off"].next_poll_at is None
    assert health["new"].deals_as_of is None


# --- the admin -------------------------------------------------------------------------------------


def test_the_products_list_shows_each_products_poll_health(admin_client, backend, product, poll, settings):
    open_the_breaker(backend, product, poll, settings)

    response = admin_client.get("/admin/products/product/")

    assert response.status_code == 200
    body = response.content.decode()
    for heading in ("Last success", "Last error", "Circuit breaker", "Next poll"):
        assert heading in body
    assert "deals endpoint answered HTTP 503 (circuit breaker opened)" in body
    assert "open (trial call after" in body


def test_the_poll_states_list_and_page_show_the_health(admin_client, backend, product, poll):
    serve(backend)
    poll(product)
    state = state_of(product)

    listing = admin_client.get("/admin/products/dealspollstate/")
    page = admin_client.get(f"/admin/products/dealspollstate/{state.pk}/change/")

    assert listing.status_code == 200
    assert "closed" in listing.content.decode()
    assert page.status_code == 200
    assert "Circuit breaker" in page.content.decode()


def test_the_admin_can_poll_now_and_close_the_breaker(
    admin_client, backend, product, poll, settings, django_capture_on_commit_callbacks
):
    open_the_breaker(backend, product, poll, settings)
    cache.delete(tasks.deals_poll_queued_key(product.pk))

    with (
        mock.patch.object(tasks.deals_poll, "apply_async") as enqueue,
        django_capture_on_commit_callbacks(execute=True),
    ):
        polled = admin_client.post(
            "/admin/products/product/", {"action": "poll_deals_now", "_selected_action": [product.pk]}
        )
    closed = admin_client.post(
        "/admin/products/product/", {"action": "close_breaker", "_selected_action": [product.pk]}
    )

    assert polled.status_code == 302
    enqueue.assert_called_once_with(args=(product.pk,), expires=tasks.POLL_SOON_EXPIRES_SECONDS)
    assert closed.status_code == 302
    assert backend_breaker_status(product_slug="mobile").state == "closed"
    cache.delete(tasks.deals_poll_queued_key(product.pk))


# --- /metrics --------------------------------------------------------------------------------------


def test_metrics_show_a_failing_product_with_its_breaker_open(backend, product, poll, settings):
    serve(backend)
    poll(product)
    last_success = state_of(product).last_success_at
    assert last_success is not None
    backend.clear()
    open_the_breaker(backend, product, poll, settings)

    response = Client().get("/metrics", REMOTE_ADDR="127.0.0.1")

    assert response.status_code == 200
    samples = metric_samples(response.content)
    mobile = (("product", "mobile"),)
    assert samples[("homeservice_deals_poll_health_up", ())] == 1
    assert samples[("homeservice_deals_failing", mobile)] == 1
    assert samples[("homeservice_deals_stale", mobile)] == 0
    assert samples[("homeservice_deals_last_success_timestamp_seconds", mobile)] == last_success.timestamp()
    assert ("homeservice_deals_last_error_timestamp_seconds", mobile) in samples
    assert ("homeservice_deals_next_poll_timestamp_seconds", mobile) in samples
    assert samples[("homeservice_deals_breaker_state", (("product", "mobile"), ("state", "open")))] == 1
    assert samples[("homeservice_deals_breaker_state", (("product", "mobile"), ("state", "closed")))] == 0
    assert samples[("homeservice_deals_breaker_failures", mobile)] >= 2


def test_metrics_show_recovery_after_a_good_poll(backend, product, poll, settings):
    open_the_breaker(backend, product, poll, settings)
    backend.clear()
    serve(backend)
    settings.BACKEND_BREAKER_RESET_SECONDS = 0
    assert poll(product) == "changed"

    samples = metric_samples(Client().get("/metrics", REMOTE_ADDR="127.0.0.1").content)

    mobile = (("product", "mobile"),)
    assert samples[("homeservice_deals_failing", mobile)] == 0
    assert samples[("homeservice_deals_breaker_state", (("product", "mobile"), ("state", "closed")))] == 1
    assert samples[("homeservice_deals_breaker_failures", mobile)] == 0


def test_the_product_pages_show_the_health_and_the_add_page_still_works(admin_client, backend, product, poll):
    serve(backend)
    poll(product)

    change = admin_client.get(f"/admin/products/product/{product.pk}/change/")
    add = admin_client.get("/admin/products/product/add/")

    assert change.status_code == 200
    assert "Circuit breaker" in change.content.decode()
    assert add.status_code == 200
