"""The home feed's fast path (recommendations/api/home_fast.py) and its documents
(recommendations/fragments/documents.py): when it answers, and that every change it must see
makes it stop answering the old document.

Every request below goes through ``FastPathClient``, which also asks the view and fails when the
two answers differ, or when the fast path does not answer a document the view just stored.
"""

from __future__ import annotations

import asyncio
import json
import time
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from celery import current_app
from django.contrib.auth.models import User
from django.test import Client
from django.utils import timezone
from rest_framework_simplejwt.tokens import AccessToken
from standardwebhooks.webhooks import Webhook

from products.models import Product
from products.services import deals_record
from products.webhooks import webhook_secret_create
from recommendations import live
from recommendations.api.home_fast import HomeFeedFastPath, fast_path_possible
from recommendations.feed_build import build_possible
from recommendations.fragments import documents
from recommendations.models import Offer
from recommendations.tasks import feed_warm, feed_warm_soon
from tests.factories import DealSnapshotFactory, DealsPollStateFactory, OfferFactory, ProductFactory, UserFactory
from tests.recommendations.feed_clients import FastPathClient, documents_missed, fast_path_outcomes

URL = "/api/v1/home/"

pytestmark = pytest.mark.django_db


@pytest.fixture
def loop(feed_doc_redis: Any, transactional_db: None) -> Any:
    """An event loop for the fast path; the data committed, for its builder (feed_clients.py)."""
    loop = asyncio.new_event_loop()
    yield loop
    loop.close()


@pytest.fixture
def client_of(loop: Any) -> Any:
    made: list[FastPathClient] = []

    def make(user: User) -> FastPathClient:
        client = FastPathClient(loop=loop)
        client.credentials(HTTP_AUTHORIZATION=f"Bearer {AccessToken.for_user(user)}")
        made.append(client)
        return client

    yield make
    for client in made:
        client.close()


@pytest.fixture
def alice(db: None) -> User:
    return UserFactory.create(username="alice")


@pytest.fixture
def mobile(db: None) -> Product:
    return ProductFactory.create(slug="mobile", name="Mobile", rank_weight=2)


def titles(document: dict[str, Any]) -> str:
    return json.dumps(document["sections"])


def stored_document(redis_client: Any, settings: Any, user: User) -> documents.Document:
    value = redis_client.get(documents.document_key(settings.REDIS_KEY_PREFIX, user.pk, None))
    assert value is not None
    document = documents.decode(value)
    assert document is not None
    return document


# --- it answers, and stops answering when the screen changes ----------------------------------------


def test_a_warm_request_is_answered_by_the_fast_path(client_of, alice, mobile):
    OfferFactory.create(user=alice, product=mobile, title="Half price")
    client = client_of(alice)
    before = fast_path_outcomes()

    first, second = client.get(URL), client.get(URL)

    assert first.served_by == "fast path"
    assert second.served_by == "fast path"
    assert "Half price" in second.content.decode()
    after = {outcome: count - before[outcome] for outcome, count in fast_path_outcomes().items()}
    if build_possible():  # the view built the first document (FastPathClient asked again), then 1 hit
        assert (after["miss"], after["built"], after["hit"]) == (1, 0, 2)
    else:  # the fast path built the first document itself
        assert (after["miss"], after["built"], after["hit"]) == (0, 1, 1)


def test_an_offer_pushed_by_a_product_replaces_the_document(
    client_of, alice, mobile, django_capture_on_commit_callbacks
):
    # given alice's screen with an offer, answered by the fast path
    client = client_of(alice)
    OfferFactory.create(user=alice, product=mobile, external_id="o-1", title="Old offer")
    assert "Old offer" in client.get(URL).content.decode()

    # when mobile pushes a new offer for her through its signed webhook
    _, secret = webhook_secret_create(product=mobile)
    body = json.dumps(
        {
            "specversion": "1.0",
            "id": "evt-1",
            "source": "https://mobile.example.com",
            "type": "offer.upserted",
            "time": "2026-11-23T12:00:00Z",
            "subject": "alice",
            "sequence": 1,
            "data": {"id": "o-2", "title": "Brand new offer", "priority": 9},
        }
    )
    at = datetime.now(tz=UTC)
    with django_capture_on_commit_callbacks(execute=True):
        response = Client().post(
            f"/api/v1/products/{mobile.slug}/events/",
            data=body,
            content_type="application/json",
            headers={
                "webhook-id": "msg-1",
                "webhook-timestamp": str(int(at.timestamp())),
                "webhook-signature": Webhook(secret).sign("msg-1", at, body),
            },
        )
    assert response.status_code == 200, response.content

    # then a worker has rendered her feed again: the very next request is answered by the fast
    # path, from a document showing the new offer (and equal to what the view answers)
    before = fast_path_outcomes()
    after = client.get(URL)
    assert after.served_by == "fast path"
    assert "Brand new offer" in after.content.decode()
    assert documents_missed(before) == 0


def test_changed_generic_deals_replace_every_document(client_of, alice, mobile, django_capture_on_commit_callbacks):
    bob = UserFactory.create(username="bob")
    DealSnapshotFactory.create(product=mobile, deals=[{"id": "d-1", "title": "Old deal"}])
    clients = [client_of(alice), client_of(bob)]
    for client in clients:
        assert "Old deal" in client.get(URL).content.decode()

    with django_capture_on_commit_callbacks(execute=True):
        deals_record(product=mobile, deals=[{"id": "d-2", "title": "New deal"}], etag="", fetched_at=timezone.now())

    for client in clients:
        answer = client.get(URL).content.decode()
        assert "New deal" in answer
        assert "Old deal" not in answer


def test_a_template_publish_replaces_every_document(
    client_of, alice, mobile, feed_doc_redis, settings, django_capture_on_commit_callbacks
):
    OfferFactory.create(user=alice, product=mobile)
    client_of(alice).get(URL)
    before = stored_document(feed_doc_redis, settings, alice)
    user_generation = feed_doc_redis.get(documents.user_generation_key(settings.REDIS_KEY_PREFIX, alice.pk))
    shared_generation = feed_doc_redis.get(documents.shared_generation_key(settings.REDIS_KEY_PREFIX))
    assert documents.servable(before, user_generation=user_generation, shared_generation=shared_generation, now_ms=0)

    # what the receivers of template_published and template_unpublished do
    with django_capture_on_commit_callbacks(execute=True):
        live.feed_changed_for_all(reason="template.published")

    shared_after = feed_doc_redis.get(documents.shared_generation_key(settings.REDIS_KEY_PREFIX))
    assert shared_after != shared_generation
    assert not documents.servable(before, user_generation=user_generation, shared_generation=shared_after, now_ms=0)


def test_a_product_saved_in_the_admin_replaces_every_document(
    client_of, alice, mobile, django_capture_on_commit_callbacks
):
    DealSnapshotFactory.create(product=mobile)
    client = client_of(alice)
    assert [s["product"] for s in client.get(URL).json()["sections"]] == ["mobile"]

    mobile.active = False
    with django_capture_on_commit_callbacks(execute=True):
        mobile.save()

    assert client.get(URL).json()["sections"] == []


def test_a_deactivated_user_is_refused_at_once(client_of, alice, mobile, django_capture_on_commit_callbacks):
    OfferFactory.create(user=alice, product=mobile)
    client = client_of(alice)
    assert client.get(URL).status_code == 200

    alice.is_active = False
    with django_capture_on_commit_callbacks(execute=True):
        alice.save()

    response = client.get(URL)
    assert response.status_code == 401
    assert response.served_by == "view"


def test_an_offer_changed_without_announcement_is_not_served_from_a_document_built_before(
    client_of, alice, mobile, django_capture_on_commit_callbacks
):
    # a change made with a bulk update sends no signal and no announcement...
    OfferFactory.create(user=alice, product=mobile, external_id="o-1", title="Before")
    client = client_of(alice)
    client.get(URL)
    Offer.objects.filter(external_id="o-1").update(title="After", version=2)
    # ...until the service that made it announces it, as ingestion does
    with django_capture_on_commit_callbacks(execute=True):
        live.feed_changed_for_user(user_id=alice.pk, reason="offers.changed", product_slug="mobile")

    assert "After" in client.get(URL).content.decode()


def test_each_client_version_has_its_own_document(client_of, alice, mobile):
    OfferFactory.create(user=alice, product=mobile, expires_at=timezone.now() + timedelta(days=2))
    client = client_of(alice)

    newest = client.get(URL)
    oldest = client.get(URL, HTTP_X_SDUI_VERSION="1")
    newest_again = client.get(URL)

    assert newest_again.served_by == oldest.served_by == "fast path"
    assert newest["ETag"] == newest_again["ETag"] != oldest["ETag"]  # v1 gets the countdown's fallback
    assert '"countdown"' in newest.content.decode()
    assert '"countdown"' not in oldest.content.decode()


# --- valid until, and the race with changes ---------------------------------------------------------


def test_a_document_is_valid_until_its_first_offer_expires(client_of, alice, mobile, feed_doc_redis, settings):
    soon = timezone.now() + timedelta(minutes=5)
    OfferFactory.create(user=alice, product=mobile, expires_at=soon)
    OfferFactory.create(user=alice, product=mobile, expires_at=soon + timedelta(hours=1))

    client_of(alice).get(URL)

    document = stored_document(feed_doc_redis, settings, alice)
    assert document.valid_until_ms == int(soon.timestamp() * 1000)
    generations = (document.generations.user, document.generations.shared)
    just_before, at_expiry = document.valid_until_ms - 1, document.valid_until_ms
    assert documents.servable(
        document, user_generation=generations[0], shared_generation=generations[1], now_ms=just_before
    )
    assert not documents.servable(
        document, user_generation=generations[0], shared_generation=generations[1], now_ms=at_expiry
    )
    # and Redis forgets it by then
    assert 0 < feed_doc_redis.ttl(documents.document_key(settings.REDIS_KEY_PREFIX, alice.pk, None)) <= 5 * 60


def test_a_document_with_fresh_deals_is_valid_until_they_turn_stale(client_of, alice, mobile, feed_doc_redis, settings):
    confirmed = timezone.now() - timedelta(minutes=1)
    DealSnapshotFactory.create(product=mobile, fetched_at=confirmed)
    DealsPollStateFactory.create(product=mobile, last_success_at=confirmed, last_polled_at=confirmed)

    client_of(alice).get(URL)

    document = stored_document(feed_doc_redis, settings, alice)
    assert document.valid_until_ms == int((confirmed + settings.DEALS_STALE_AFTER).timestamp() * 1000)


def test_a_change_announced_while_the_view_builds_leaves_an_unservable_document(alice, feed_doc_redis, settings):
    # the view reads the generations, then builds; a change is announced meanwhile; then it stores
    read_before_building = documents.generations(user_id=alice.pk)
    assert read_before_building is not None
    documents.bump_user(user_id=alice.pk)
    documents.store(
        user_id=alice.pk,
        client_version=None,
        built_under=read_before_building,
        valid_until=None,
        etag="v",
        body=b"{}",
    )

    document = stored_document(feed_doc_redis, settings, alice)
    prefix = settings.REDIS_KEY_PREFIX
    assert not documents.servable(
        document,
        user_generation=feed_doc_redis.get(documents.user_generation_key(prefix, alice.pk)),
        shared_generation=feed_doc_redis.get(documents.shared_generation_key(prefix)),
        now_ms=0,
    )


def test_a_lost_generation_serves_nothing(client_of, alice, mobile, feed_doc_redis, settings):
    OfferFactory.create(user=alice, product=mobile)
    client = client_of(alice)
    client.get(URL)
    feed_doc_redis.delete(documents.shared_generation_key(settings.REDIS_KEY_PREFIX))  # evicted, say
    before = fast_path_outcomes()

    assert client.get(URL).status_code == 200  # built again (by the fast path, or by the view)

    assert documents_missed(before) == 1


def test_a_bump_that_fails_while_redis_is_down_is_made_later_as_a_bump_of_everything(
    alice, feed_doc_redis, settings, monkeypatch
):
    prefix = settings.REDIS_KEY_PREFIX
    assert documents.generations(user_id=alice.pk) is not None
    shared_before = feed_doc_redis.get(documents.shared_generation_key(prefix))
    good_url = settings.FEED_DOC_REDIS_URL

    settings.FEED_DOC_REDIS_URL = "redis://127.0.0.1:1/0"  # nothing listens there
    documents.bump_user(user_id=alice.pk)
    settings.FEED_DOC_REDIS_URL = good_url
    monkeypatch.setattr(documents, "_down_until", 0.0)  # past the pause after the error

    assert documents.generations(user_id=alice.pk) is not None
    assert feed_doc_redis.get(documents.shared_generation_key(prefix)) != shared_before


# --- what it leaves to the view ---------------------------------------------------------------------


def _bare_request(app: HomeFeedFastPath, loop: Any, *, headers: list[tuple[bytes, bytes]], **scope: Any) -> list[Any]:
    sent: list[Any] = []

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: Any) -> None:
        sent.append(message)

    full_scope = {
        "type": "http",
        "method": "GET",
        "scheme": "http",
        "path": URL,
        "query_string": b"",
        "headers": headers,
        **scope,
    }
    loop.run_until_complete(app(full_scope, receive, send))
    return sent


class Downstream:
    def __init__(self) -> None:
        self.calls = 0

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        self.calls += 1


@pytest.mark.parametrize(
    ("change", "headers", "scope"),
    [
        ("", [(b"host", b"evil.example")], {}),  # a host ALLOWED_HOSTS refuses: Django says 400
        ("", [], {"method": "HEAD"}),
        ("", [], {"path": "/api/v1/home"}),
        ("", [(b"x-sdui-version", b"two")], {}),  # Django says 400
        ("", [(b"authorization", b"Bearer x")], {}),  # a repeated header
        ("ssl", [], {}),  # SECURE_SSL_REDIRECT and plain HTTP: Django redirects
        ("off", [], {}),
        ("middleware", [], {}),
    ],
    ids=[
        "bad-host",
        "head",
        "other-path",
        "bad-client-version",
        "repeated-header",
        "ssl-redirect",
        "off",
        "middleware",
    ],
)
def test_requests_it_cannot_answer_as_the_view_would_go_to_django(
    client_of, alice, mobile, loop, settings, change, headers, scope
):
    OfferFactory.create(user=alice, product=mobile)
    client_of(alice).get(URL)  # a servable document exists
    if change == "ssl":
        settings.SECURE_SSL_REDIRECT = True
    elif change == "off":
        settings.FEED_FAST_PATH = False
    elif change == "middleware":
        settings.MIDDLEWARE = [*settings.MIDDLEWARE, "tests.some.OtherMiddleware"]
    downstream = Downstream()
    app = HomeFeedFastPath(downstream)
    base = [(b"host", b"testserver"), (b"authorization", f"Bearer {AccessToken.for_user(alice)}".encode())]
    names = {name for name, _ in headers}

    sent = _bare_request(
        app,
        loop,
        headers=[*(h for h in base if h[0] not in names or h[0] == b"authorization"), *headers],
        **scope,
    )

    assert downstream.calls == 1
    assert sent == []
    loop.run_until_complete(app.aclose())


def test_the_same_request_is_answered_when_nothing_stands_in_the_way(client_of, alice, mobile, loop):
    OfferFactory.create(user=alice, product=mobile)
    client_of(alice).get(URL)
    downstream = Downstream()
    app = HomeFeedFastPath(downstream)

    sent = _bare_request(
        app,
        loop,
        headers=[(b"host", b"testserver"), (b"authorization", f"Bearer {AccessToken.for_user(alice)}".encode())],
    )

    assert downstream.calls == 0
    assert sent[0]["status"] == 200
    loop.run_until_complete(app.aclose())


def test_with_redis_unreachable_the_view_answers(client_of, alice, mobile, loop, settings):
    OfferFactory.create(user=alice, product=mobile, title="Still here")
    settings.FEED_DOC_REDIS_URL = "redis://127.0.0.1:1/0"  # nothing listens there
    documents.reset()
    downstream = Downstream()
    app = HomeFeedFastPath(downstream)
    before = fast_path_outcomes()

    sent = _bare_request(
        app,
        loop,
        headers=[(b"host", b"testserver"), (b"authorization", f"Bearer {AccessToken.for_user(alice)}".encode())],
    )
    view = Client().get(URL, headers={"Authorization": f"Bearer {AccessToken.for_user(alice)}"})

    assert downstream.calls == 1
    assert sent == []
    assert fast_path_outcomes()["error"] - before["error"] == 1
    assert view.status_code == 200
    assert "Still here" in view.content.decode()
    loop.run_until_complete(app.aclose())


def test_the_fast_path_says_why_it_is_off(settings):
    settings.FEED_DOC_CACHE = False
    assert "document cache" in fast_path_possible()
    settings.FEED_DOC_CACHE = True
    settings.FEED_FAST_PATH = False
    assert "FEED_FAST_PATH" in fast_path_possible()


def test_the_metrics_count_its_outcomes(client_of, alice, mobile, settings):
    settings.DEBUG = True  # /metrics answers anyone under DEBUG
    OfferFactory.create(user=alice, product=mobile)
    client_of(alice).get(URL)

    exported = Client().get("/metrics").content.decode()

    assert 'homeservice_feed_fast_path_requests_total{outcome="hit"}' in exported


# --- tokens --------------------------------------------------------------------------------------


def test_a_token_that_expires_after_it_was_checked_is_refused(client_of, alice, mobile):
    # given a short-lived token the fast path has checked (and remembered)
    OfferFactory.create(user=alice, product=mobile)
    token = AccessToken.for_user(alice)
    token.set_exp(lifetime=timedelta(seconds=2))
    client = client_of(alice)
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {token}")
    assert client.get(URL).served_by == "fast path"

    # when it has expired
    time.sleep(max(0.0, float(token["exp"]) - time.time()) + 0.2)
    response = client.get(URL)

    # then the view refuses it and the fast path did not answer
    assert response.status_code == 401
    assert response.served_by == "view"


def test_a_checked_token_under_another_scheme_is_not_accepted(client_of, alice, mobile):
    OfferFactory.create(user=alice, product=mobile)
    token = AccessToken.for_user(alice)
    client = client_of(alice)
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {token}")
    assert client.get(URL).served_by == "fast path"

    client.credentials(HTTP_AUTHORIZATION=f"Basic {token}")
    response = client.get(URL)

    assert response.status_code == 401
    assert response.served_by == "view"


# --- warm-up after a push -------------------------------------------------------------------------


@pytest.fixture
def tasks_queued_not_run() -> Any:
    eager = current_app.conf.task_always_eager
    current_app.conf.task_always_eager = False
    yield
    current_app.conf.task_always_eager = eager
    current_app.control.purge()  # this run's queue only (the broker's keys carry the test prefix)


def test_a_burst_of_changes_queues_one_warm_up(alice, feed_doc_redis, tasks_queued_not_run):
    bob = UserFactory.create(username="bob")
    assert feed_warm_soon(user_ids=[alice.pk]) == [alice.pk]
    assert feed_warm_soon(user_ids=[alice.pk, bob.pk]) == [bob.pk]  # alice shares the queued one

    # once it starts, a later change queues another (so none is missed)
    assert feed_warm(user_ids=[alice.pk]) == "warmed 1 of 1"
    assert feed_warm_soon(user_ids=[alice.pk, bob.pk]) == [alice.pk]


def test_a_warm_up_stores_the_document_the_view_would_answer(client_of, alice, mobile, feed_doc_redis, settings):
    OfferFactory.create(user=alice, product=mobile, title="Warm offer")

    assert feed_warm(user_ids=[alice.pk]) == "warmed 1 of 1"

    document = stored_document(feed_doc_redis, settings, alice)
    assert b"Warm offer" in document.body
    assert client_of(alice).get(URL).served_by == "fast path"  # and equal to the view's answer


def test_no_warm_up_for_an_inactive_user(alice, feed_doc_redis, settings):
    User.objects.filter(pk=alice.pk).update(is_active=False)

    assert feed_warm(user_ids=[alice.pk]) == "warmed 0 of 1"
    assert feed_doc_redis.get(documents.document_key(settings.REDIS_KEY_PREFIX, alice.pk, None)) is None


def test_behind_a_tls_proxy_it_sends_the_views_security_headers(client_of, alice, mobile, settings):
    settings.SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    settings.SECURE_SSL_REDIRECT = True
    settings.SECURE_HSTS_SECONDS = 3600
    settings.SECURE_HSTS_INCLUDE_SUBDOMAINS = True
    settings.SECURE_HSTS_PRELOAD = False
    OfferFactory.create(user=alice, product=mobile)
    client = client_of(alice)

    client.get(URL, HTTP_X_FORWARDED_PROTO="https")
    response = client.get(URL, HTTP_X_FORWARDED_PROTO="https")  # compared with the view's, headers included

    assert response.served_by == "fast path"
    assert response["Strict-Transport-Security"] == "max-age=3600; includeSubDomains"


# --- accounts changed without a signal ------------------------------------------------------------


def test_a_user_deactivated_by_a_bulk_update_is_refused_within_a_second(client_of, alice, mobile, loop):
    # given a warm document the fast path answers from
    OfferFactory.create(user=alice, product=mobile)
    client = client_of(alice)
    assert client.get(URL).served_by == "fast path"

    # when the account is deactivated by a queryset update (no signal, no announcement)
    User.objects.filter(pk=alice.pk).update(is_active=False)
    loop.run_until_complete(asyncio.sleep(1.0))  # the server process runs for a second

    # then the fast path no longer answers from the document, and the view refuses the account
    response = client.get(URL)
    assert (response.status_code, response.served_by) == (401, "view")
