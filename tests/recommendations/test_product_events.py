"""``POST /api/v1/products/<slug>/events/`` through the real routing: signed, validated, applied
before the 200, idempotent by event id, ordered by sequence, and every bad input answered."""

from __future__ import annotations

import contextlib
import json
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any
from unittest import mock

import pytest
from django.contrib.auth.models import User
from django.test import Client
from django.test.utils import override_settings
from django.utils import timezone
from pytest_httpserver import HTTPServer
from standardwebhooks.webhooks import Webhook

from products.models import Product
from products.webhooks import webhook_secret_create
from recommendations.models import Offer, OfferStream, ReceivedEvent
from tests.factories import OfferFactory, ProductFactory, UserFactory

pytestmark = pytest.mark.django_db

URL = "/api/v1/products/{slug}/events/"


def offer_data(offer_id: str = "o-1", title: str = "Upgrade", **extra: Any) -> dict[str, Any]:
    return {
        "id": offer_id,
        "title": title,
        "body": "Just for you",
        "price": {"amount": "19.99", "currency": "EUR", "period": "month"},
        "cta_label": "Upgrade",
        "cta_url": "https://example.com/upgrade",
        "priority": 5,
        **extra,
    }


def event(
    event_id: str, event_type: str = "offer.upserted", *, subject: str = "alice", sequence: int = 1, data: Any = None
) -> dict[str, Any]:
    body: dict[str, Any] = {
        "specversion": "1.0",
        "id": event_id,
        "source": "https://mobile.example.com",
        "type": event_type,
        "time": "2026-11-23T12:00:00Z",
        "subject": subject,
        "sequence": sequence,
    }
    if data is not None:
        body["data"] = data
    elif event_type == "offer.upserted":
        body["data"] = offer_data()
    return body


class Sender:
    """A product backend: signs and posts bodies with its secret."""

    def __init__(self, product: Product, secret: str, on_commit: Any = None) -> None:
        self.product = product
        self.secret = secret
        self.client = Client()
        # The test's transaction never commits: run what waits for the commit (tasks, live updates).
        self.on_commit = on_commit

    def headers(self, body: bytes, *, msg_id: str = "msg-1", at: datetime | None = None) -> dict[str, str]:
        at = at or datetime.now(tz=UTC)
        return {
            "webhook-id": msg_id,
            "webhook-timestamp": str(int(at.timestamp())),
            "webhook-signature": Webhook(self.secret).sign(msg_id, at, body.decode()),
        }

    def post_raw(
        self,
        body: bytes,
        *,
        headers: dict[str, str] | None = None,
        content_type: str = "application/json",
        slug: str = "",
    ) -> Any:
        with self.on_commit(execute=True):
            return self.client.post(
                URL.format(slug=slug or self.product.slug),
                data=body,
                content_type=content_type,
                headers=headers if headers is not None else self.headers(body),
            )

    def post(self, payload: Any) -> Any:
        return self.post_raw(json.dumps(payload).encode())


@pytest.fixture
def alice(db: None) -> User:
    return UserFactory.create(username="alice")


@pytest.fixture
def mobile(db: None) -> Product:
    return ProductFactory.create(slug="mobile")


@pytest.fixture
def sender(mobile: Product, django_capture_on_commit_callbacks: Any) -> Sender:
    _, secret = webhook_secret_create(product=mobile)
    return Sender(mobile, secret, django_capture_on_commit_callbacks)


@pytest.fixture
def announced() -> Any:
    with mock.patch("recommendations.ingestion.live.feeds_changed_for_users") as announce:
        yield announce


def error_of(response: Any) -> dict[str, Any]:
    error: dict[str, Any] = response.json()["error"]
    return error


# --- Accepted events --------------------------------------------------------------------------------


def test_offer_upserted_is_stored_before_the_200(alice: User, sender: Sender, announced: Any) -> None:
    before = timezone.now()
    with mock.patch("recommendations.tasks.offer_expired.apply_async"):  # eager tasks ignore eta
        response = sender.post(event("e1", data=offer_data(expires_at="2030-01-01T00:00:00Z", data={"gb": 50})))
    assert response.status_code == 200
    answer = response.json()
    assert before <= datetime.fromisoformat(answer.pop("accepted_at")) <= timezone.now()
    assert answer == {
        "received": 1,
        "duplicates": 0,
        "results": [{"index": 0, "id": "e1", "outcome": "applied", "duplicate": False}],
    }
    offer = Offer.objects.get(user=alice, product=sender.product, external_id="o-1")
    assert offer.title == "Upgrade"
    assert offer.price_amount == Decimal("19.99")
    assert offer.price_currency == "EUR"
    assert offer.cta_label == "Upgrade"
    assert offer.priority == 5
    assert offer.data == {"gb": 50}
    assert offer.expires_at == datetime(2030, 1, 1, tzinfo=UTC)
    assert offer.version == 1
    assert OfferStream.objects.get(user=alice, product=sender.product).last_sequence == 1
    assert ReceivedEvent.objects.get(event_id="e1").outcome == "applied"
    announced.assert_called_once_with(user_ids=[alice.pk], reason="offer.upserted", product_slug="mobile")


def test_external_id_is_accepted_for_id(alice: User, sender: Sender) -> None:
    data = {"external_id": "x-9", "title": "Plain"}
    assert sender.post(event("e1", data=data)).status_code == 200
    assert Offer.objects.get(external_id="x-9").title == "Plain"


def test_a_duplicate_is_acknowledged_without_a_second_effect(alice: User, sender: Sender, announced: Any) -> None:
    assert sender.post(event("e1", sequence=1)).status_code == 200
    Offer.objects.update(title="Edited since")
    again = sender.post(event("e1", sequence=2, data=offer_data(title="Changed")))
    assert again.status_code == 200
    assert again.json()["duplicates"] == 1
    assert again.json()["results"][0] == {"index": 0, "id": "e1", "outcome": "duplicate", "duplicate": True}
    assert Offer.objects.get().title == "Edited since"
    assert ReceivedEvent.objects.count() == 1
    assert OfferStream.objects.get().last_sequence == 1
    assert announced.call_count == 1


def test_the_same_id_twice_in_one_batch_applies_once(alice: User, sender: Sender) -> None:
    body = [event("e1", sequence=1), event("e1", sequence=2, data=offer_data(title="Second"))]
    response = sender.post(body)
    assert [r["outcome"] for r in response.json()["results"]] == ["applied", "duplicate"]
    assert Offer.objects.get().title == "Upgrade"


def test_an_older_sequence_never_overwrites_a_newer_one(alice: User, sender: Sender) -> None:
    sender.post(event("e2", sequence=2, data=offer_data(title="Newer")))
    response = sender.post(event("e1", sequence=1, data=offer_data(title="Older")))
    assert response.status_code == 200
    assert response.json()["results"][0]["outcome"] == "stale"
    assert Offer.objects.get().title == "Newer"
    equal = sender.post(event("e3", sequence=2, data=offer_data(title="Same sequence")))
    assert equal.json()["results"][0]["outcome"] == "stale"
    assert Offer.objects.get().title == "Newer"
    assert OfferStream.objects.get().last_sequence == 2


def test_sequences_are_per_user_and_product(alice: User, sender: Sender) -> None:
    bob = UserFactory.create(username="bob")
    sender.post(event("e1", sequence=10))
    sender.post(event("e2", subject="bob", sequence=1, data=offer_data(title="For Bob")))
    assert Offer.objects.get(user=bob).title == "For Bob"


def test_offer_withdrawn(alice: User, sender: Sender, announced: Any) -> None:
    sender.post(event("e1", sequence=1))
    response = sender.post(event("e2", "offer.withdrawn", sequence=2, data={"id": "o-1"}))
    assert response.json()["results"][0]["outcome"] == "applied"
    assert Offer.objects.get().withdrawn
    assert announced.call_args.kwargs["reason"] == "offer.withdrawn"
    # Withdrawing what is not there changes nothing and tells no one.
    announced.reset_mock()
    assert sender.post(event("e3", "offer.withdrawn", sequence=3, data={"id": "nope"})).status_code == 200
    announced.assert_not_called()


def test_offers_replaced_is_the_full_set(alice: User, sender: Sender, mobile: Product) -> None:
    other_product = ProductFactory.create()
    kept_elsewhere = OfferFactory.create(user=alice, product=other_product)
    sender.post(event("e1", sequence=1, data=offer_data("old")))
    data = {"offers": [offer_data("a", "A"), offer_data("b", "B")]}
    assert sender.post(event("e2", "offers.replaced", sequence=2, data=data)).status_code == 200
    live = Offer.objects.filter(user=alice, product=mobile, withdrawn=False)
    assert sorted(live.values_list("external_id", flat=True)) == ["a", "b"]
    assert Offer.objects.get(external_id="old").withdrawn
    kept_elsewhere.refresh_from_db()
    assert not kept_elsewhere.withdrawn
    # An empty set withdraws everything.
    sender.post(event("e3", "offers.replaced", sequence=3, data={"offers": []}))
    assert not Offer.objects.filter(product=mobile, withdrawn=False).exists()


def test_a_valid_batch_is_applied_in_order(alice: User, sender: Sender) -> None:
    UserFactory.create(username="bob")
    batch = [
        event("e1", sequence=1, data=offer_data("a", "A")),
        event("e2", sequence=2, data=offer_data("b", "B")),
        event("e3", "offer.withdrawn", sequence=3, data={"id": "a"}),
        event("e4", subject="bob", sequence=1, data=offer_data("c", "C")),
    ]
    response = sender.post(batch)
    assert response.status_code == 200
    assert response.json()["received"] == 4
    assert sorted(Offer.objects.filter(withdrawn=False).values_list("external_id", flat=True)) == ["b", "c"]


def test_an_expiring_offer_schedules_its_removal_for_live_clients(alice: User, sender: Sender) -> None:
    expires = timezone.now() + timedelta(hours=1)
    with mock.patch("recommendations.tasks.offer_expired.apply_async") as schedule:
        sender.post(event("e1", data=offer_data(expires_at=expires.isoformat())))
    schedule.assert_called_once()
    assert schedule.call_args.kwargs["eta"] == expires
    assert schedule.call_args.kwargs["kwargs"] == {"user_ids": [alice.pk], "product_slug": "mobile"}


def test_an_already_expired_offer_is_stored_but_never_served_nor_scheduled(alice: User, sender: Sender) -> None:
    past = (timezone.now() - timedelta(minutes=1)).isoformat()
    with mock.patch("recommendations.tasks.offer_expired.apply_async") as schedule:
        assert sender.post(event("e1", data=offer_data(expires_at=past))).status_code == 200
    schedule.assert_not_called()
    from recommendations.selectors import offers_live_for_user

    assert offers_live_for_user(user=alice, product_ids=[sender.product.pk], now=timezone.now()) == []


def test_the_expiry_task_tells_the_users_connections(announced: Any) -> None:
    from recommendations.tasks import offer_expired

    with mock.patch("recommendations.tasks.live.feeds_changed_for_users") as told:
        offer_expired.apply(kwargs={"user_ids": [7, 8], "product_slug": "mobile"})
    told.assert_called_once_with(user_ids=[7, 8], reason="offer.expired", product_slug="mobile")


def test_deals_changed_enqueues_one_poll_for_a_burst(sender: Sender) -> None:
    with mock.patch("products.tasks.deals_poll.apply_async") as poll:
        for n in range(3):
            response = sender.post({"id": f"d{n}", "source": "s", "type": "deals.changed"})
            assert response.status_code == 200
            assert response.json()["results"][0]["outcome"] == "queued"
    poll.assert_called_once()
    assert poll.call_args.kwargs["args"] == (sender.product.pk,)


def test_offers_invalidated_fetches_the_users_offers(alice: User, sender: Sender, httpserver: HTTPServer) -> None:
    Product.objects.filter(pk=sender.product.pk).update(offers_endpoint=httpserver.url_for("/users/{user}/offers"))
    sender.post(event("e1", sequence=1, data=offer_data("stale-one")))
    httpserver.expect_request("/users/alice/offers").respond_with_json(
        {"offers": [offer_data("fresh", "Fresh from the backend")]}
    )
    response = sender.post(event("e2", "offers.invalidated", sequence=2))
    assert response.json()["results"][0]["outcome"] == "queued"
    # CELERY_TASK_ALWAYS_EAGER in tests: the task ran after the commit.
    assert Offer.objects.get(external_id="fresh").title == "Fresh from the backend"
    assert Offer.objects.get(external_id="stale-one").withdrawn


def test_an_offers_fetch_older_than_the_stream_is_not_applied(alice: User, sender: Sender, mobile: Product) -> None:
    from recommendations.ingestion import OfferFields, offers_fetched_apply

    sender.post(event("e1", sequence=5, data=offer_data("newer")))
    applied = offers_fetched_apply(
        product=mobile, user=alice, offers=[OfferFields(external_id="old", title="Old")], sequence=4
    )
    assert not applied
    assert not Offer.objects.filter(external_id="old").exists()


def test_a_failing_offers_endpoint_changes_nothing(alice: User, sender: Sender, httpserver: HTTPServer) -> None:
    Product.objects.filter(pk=sender.product.pk).update(offers_endpoint=httpserver.url_for("/users/{user}/offers"))
    sender.post(event("e1", sequence=1))
    httpserver.expect_request("/users/alice/offers").respond_with_data("oops", status=500)
    assert sender.post(event("e2", "offers.invalidated", sequence=2)).status_code == 200
    assert not Offer.objects.get(external_id="o-1").withdrawn


# --- Bad input --------------------------------------------------------------------------------------


def test_missing_signature_is_401(alice: User, sender: Sender) -> None:
    response = sender.post_raw(json.dumps(event("e1")).encode(), headers={})
    assert response.status_code == 401
    assert error_of(response)["code"] == "invalid_signature"
    assert "webhook-id" in error_of(response)["message"]
    assert not Offer.objects.exists()


def test_bad_signature_is_401(alice: User, sender: Sender) -> None:
    body = json.dumps(event("e1")).encode()
    headers = sender.headers(b'{"something": "else"}')
    response = sender.post_raw(body, headers=headers)
    assert response.status_code == 401
    assert not ReceivedEvent.objects.exists()


def test_a_rotated_secret_still_verifies_until_revoked(alice: User, sender: Sender) -> None:
    _, new_secret = webhook_secret_create(product=sender.product)
    assert Sender(sender.product, new_secret, sender.on_commit).post(event("e1", sequence=1)).status_code == 200
    assert sender.post(event("e2", sequence=2)).status_code == 200


@pytest.mark.parametrize("minutes", [-6, 6])
def test_timestamp_outside_tolerance_is_401(alice: User, sender: Sender, minutes: int) -> None:
    body = json.dumps(event("e1")).encode()
    headers = sender.headers(body, at=datetime.now(tz=UTC) + timedelta(minutes=minutes))
    response = sender.post_raw(body, headers=headers)
    assert response.status_code == 401
    assert "timestamp" in error_of(response)["message"]


def test_unknown_product_is_404(sender: Sender) -> None:
    response = sender.post_raw(b"{}", slug="nope")
    assert response.status_code == 404
    assert error_of(response)["code"] == "product_not_found"


def test_inactive_product_is_404(alice: User, sender: Sender) -> None:
    Product.objects.filter(pk=sender.product.pk).update(active=False)
    assert sender.post(event("e1")).status_code == 404


def test_malformed_json_is_400(sender: Sender) -> None:
    response = sender.post_raw(b'{"id": ')
    assert response.status_code == 400
    assert error_of(response)["code"] == "malformed_json"


def test_a_body_that_is_not_utf8_is_400(sender: Sender) -> None:
    body = b'{"id": "\xff"}'
    headers = {
        "webhook-id": "m",
        "webhook-timestamp": str(int(datetime.now(tz=UTC).timestamp())),
        "webhook-signature": "v1,AA==",
    }
    response = sender.post_raw(body, headers=headers)
    assert response.status_code == 400


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"data": {"id": "o-1"}}, "data.title"),
        ({"data": offer_data(title="")}, "data.title"),
        ({"data": offer_data(price={"amount": "cheap", "currency": "EUR"})}, "data.price.amount"),
        ({"data": offer_data(cta_url="javascript:alert(1)")}, "data.cta_url"),
        ({"data": offer_data(expires_at="soon")}, "data.expires_at"),
        ({"data": offer_data(expires_at="2030-01-01T00:00:00")}, "data.expires_at"),
        ({"sequence": "1"}, "sequence"),
        ({"sequence": -1}, "sequence"),
        ({"sequence": 2**53}, "sequence"),
        ({"sequence": 2**53 + 1}, "sequence"),
        ({"sequence": 2**63 - 1}, "sequence"),
        ({"sequence": 1e16}, "sequence"),
        ({"type": "offer.exploded"}, "type"),
        ({"specversion": "0.3"}, "specversion"),
        ({"id": ""}, "id"),
        ({"time": "noon"}, "time"),
        ({"subject": "nobody"}, "subject"),
    ],
)
def test_an_invalid_event_is_400_naming_the_field(alice: User, sender: Sender, change: dict, field: str) -> None:
    response = sender.post({**event("e1"), **change})
    assert response.status_code == 400, response.content
    error = error_of(response)
    assert error["code"] == "invalid_events"
    assert [e["field"] for e in error["details"]["errors"]] == [field]
    assert field in error["message"]
    assert not Offer.objects.exists()
    assert not ReceivedEvent.objects.exists()


@pytest.mark.parametrize("missing", ["id", "source", "type", "subject", "sequence", "data"])
def test_a_missing_field_is_named(alice: User, sender: Sender, missing: str) -> None:
    body = event("e1")
    del body[missing]
    response = sender.post(body)
    assert response.status_code == 400
    assert error_of(response)["details"]["errors"][0]["field"] == missing


def test_a_batch_with_bad_events_is_refused_whole_listing_each(alice: User, sender: Sender) -> None:
    batch = [event(f"e{n}", sequence=n + 1, data=offer_data(f"o{n}")) for n in range(5)]
    del batch[3]["data"]["title"]
    batch[1]["subject"] = "nobody"
    response = sender.post(batch)
    assert response.status_code == 400
    error = error_of(response)
    assert error["details"]["errors"] == [
        {"index": 1, "field": "subject", "message": "no user 'nobody'"},
        {"index": 3, "field": "data.title", "message": "'title' is a required property"},
    ]
    assert "[1].subject" in error["message"]
    assert not Offer.objects.exists()
    assert not ReceivedEvent.objects.exists()
    assert not OfferStream.objects.exists()


def test_the_largest_sequence_is_javascripts_largest_safe_integer(alice: User, sender: Sender) -> None:
    response = sender.post(event("e1", sequence=2**53 - 1))
    assert response.status_code == 200, response.content
    assert OfferStream.objects.get().last_sequence == 9007199254740991


def test_a_batch_with_a_sequence_over_the_limit_is_refused_whole(alice: User, sender: Sender) -> None:
    batch = [event("e1", sequence=5), event("e2", sequence=2**53 + 1, data=offer_data("o2")), event("e3", sequence=6)]
    response = sender.post(batch)
    assert response.status_code == 400, response.content
    error = error_of(response)
    assert error["details"]["errors"] == [
        {"index": 1, "field": "sequence", "message": "9007199254740993 is greater than the maximum of 9007199254740991"}
    ]
    assert "[1].sequence" in error["message"]
    assert not Offer.objects.exists()
    assert not ReceivedEvent.objects.exists()
    assert not OfferStream.objects.exists()


def test_a_batch_fails_as_a_whole_if_applying_fails(alice: User, sender: Sender) -> None:
    # The withdrawal makes the first upsert be written before it; the second write fails.
    batch = [
        event("e1", sequence=1),
        event("e2", "offer.withdrawn", sequence=2, data={"id": "o-1"}),
        event("e3", sequence=3, data=offer_data("o-2")),
    ]
    with (
        mock.patch("recommendations.ingestion.offers_store", side_effect=[None, RuntimeError("disk full")]),
        pytest.raises(RuntimeError),
    ):
        sender.post(batch)
    assert not Offer.objects.exists()
    assert not ReceivedEvent.objects.exists()
    assert not OfferStream.objects.exists()


@pytest.mark.parametrize(("body", "message"), [(b"[]", "empty"), (b'"an event"', "object"), (b"42", "object")])
def test_a_body_that_is_no_event_is_400(sender: Sender, body: bytes, message: str) -> None:
    response = sender.post_raw(body)
    assert response.status_code == 400
    assert message in error_of(response)["message"]


def test_a_batch_over_500_events_is_400(alice: User, sender: Sender) -> None:
    response = sender.post([{"id": str(n)} for n in range(501)])
    assert response.status_code == 400
    assert "at most 500" in error_of(response)["message"]


def test_a_body_over_one_mebibyte_is_413(alice: User, sender: Sender) -> None:
    body = json.dumps(event("e1", data=offer_data(body="x" * (1024 * 1024)))).encode()
    response = sender.post_raw(body)
    assert response.status_code == 413
    assert error_of(response)["code"] == "body_too_large"


@override_settings(DATA_UPLOAD_MAX_MEMORY_SIZE=100)
def test_django_upload_limit_does_not_get_in_the_way(alice: User, sender: Sender) -> None:
    assert sender.post(event("e1")).status_code == 200


def test_the_actual_body_counts_not_only_content_length(alice: User, sender: Sender) -> None:
    from recommendations.api.product_events import read_body

    request = mock.Mock()
    request.META = {"CONTENT_LENGTH": "10"}
    request.read.return_value = b"x" * 101
    with pytest.raises(Exception, match="exceeds 100 bytes"):
        read_body(request, 100)


@pytest.mark.parametrize("content_type", ["text/plain", "application/x-www-form-urlencoded", ""])
def test_wrong_content_type_is_415(alice: User, sender: Sender, content_type: str) -> None:
    body = json.dumps(event("e1")).encode()
    response = sender.post_raw(body, content_type=content_type)
    assert response.status_code == 415
    assert error_of(response)["code"] == "unsupported_media_type"


def test_cloudevents_content_types_are_accepted(alice: User, sender: Sender) -> None:
    body = json.dumps([event("e1")]).encode()
    assert sender.post_raw(body, content_type="application/cloudevents-batch+json").status_code == 200


@override_settings(WEBHOOK_RATE_LIMIT_PER_MINUTE=2)
def test_over_the_rate_limit_is_429_with_retry_after(alice: User, sender: Sender) -> None:
    from django.core.cache import cache

    cache.clear()
    assert sender.post(event("e1", sequence=1)).status_code == 200
    assert sender.post(event("e2", sequence=2)).status_code == 200
    response = sender.post(event("e3", sequence=3))
    assert response.status_code == 429
    assert int(response["Retry-After"]) >= 1
    assert error_of(response)["code"] == "throttled"
    assert not ReceivedEvent.objects.filter(event_id="e3").exists()
    # Per product: another product's events still pass.
    tv = ProductFactory.create(slug="tv")
    _, secret = webhook_secret_create(product=tv)
    assert Sender(tv, secret, sender.on_commit).post(event("e1", sequence=1)).status_code == 200


def test_the_rate_limit_does_not_refuse_events_when_the_cache_is_down(alice: User, sender: Sender) -> None:
    with mock.patch("recommendations.api.product_events.get_usage", side_effect=ConnectionError("redis down")):
        assert sender.post(event("e1")).status_code == 200


def test_get_is_405(sender: Sender) -> None:
    assert sender.client.get(URL.format(slug="mobile")).status_code == 405


def test_the_endpoint_is_in_the_openapi_schema(api_client: Any) -> None:
    schema = api_client.get("/api/schema/", HTTP_ACCEPT="application/json")
    assert schema.status_code == 200
    text = schema.content.decode()
    assert "/api/v1/products/{slug}/events/" in text
    assert "webhook-signature" in text
    assert "offer.upserted" in text


# --- Live ---------------------------------------------------------------------------------------------


@pytest.mark.django_db(transaction=True)
def test_a_connected_socket_receives_the_pushed_offer() -> None:
    from asgiref.sync import sync_to_async

    from tests.factories import DealSnapshotFactory, deal
    from tests.recommendations.test_consumer import TIMEOUT, bearer, open_socket, run, section_titles

    alice = UserFactory.create(username="alice")
    mobile = ProductFactory.create(slug="mobile")
    DealSnapshotFactory.create(product=mobile, deals=[deal("m-1", "SIM only")])
    _, secret = webhook_secret_create(product=mobile)
    # The request really commits here: nothing to capture.
    sender = Sender(mobile, secret, on_commit=lambda execute: contextlib.nullcontext())

    async def scenario() -> tuple[Any, dict[str, Any]]:
        communicator, _ = await open_socket(bearer(alice))
        response = await sync_to_async(sender.post)(event("e1", data=offer_data(title="Pushed just now")))
        update = await communicator.receive_json_from(timeout=TIMEOUT)
        await communicator.disconnect()
        return response, update

    response, update = run(scenario)
    assert response.status_code == 200
    assert update["type"] == "feed.updated"
    [section] = update["sections"]
    assert section["source"] == "personalised"
    assert "Pushed just now" in section_titles(section)


# --- Batches are applied together, with the effect of one event after the other -----------------------


def test_a_batch_takes_a_fixed_number_of_queries_whatever_its_size(
    alice: User, sender: Sender, django_assert_max_num_queries: Any
) -> None:
    sender.post(event("e0", sequence=1))  # the stream and the offer exist
    batch = [event(f"e{n}", sequence=n + 1, data=offer_data(f"o-{n % 10}", title=f"T{n}")) for n in range(1, 101)]
    with django_assert_max_num_queries(20):
        response = sender.post(batch)
    assert {r["outcome"] for r in response.json()["results"]} == {"applied"}
    assert ReceivedEvent.objects.count() == 101
    assert OfferStream.objects.get().last_sequence == 101
    offer = Offer.objects.get(external_id="o-0")
    assert (offer.title, offer.version) == ("T100", 101)
    assert Offer.objects.count() == 10


def test_in_a_batch_the_later_upsert_of_an_offer_wins_and_stale_events_are_skipped(alice: User, sender: Sender) -> None:
    batch = [
        event("e1", sequence=5, data=offer_data("o-1", title="first")),
        event("e2", sequence=4, data=offer_data("o-1", title="stale")),  # not newer than 5
        event("e3", sequence=6, data=offer_data("o-1", title="second")),
        event("e4", sequence=6, data=offer_data("o-1", title="same sequence")),
    ]
    outcomes = [r["outcome"] for r in sender.post(batch).json()["results"]]
    assert outcomes == ["applied", "stale", "applied", "stale"]
    offer = Offer.objects.get()
    assert (offer.title, offer.version, offer.withdrawn) == ("second", 6, False)
    assert OfferStream.objects.get().last_sequence == 6


def test_in_a_batch_an_upsert_then_a_withdrawal_then_an_upsert_apply_in_order(alice: User, sender: Sender) -> None:
    batch = [
        event("e1", sequence=1, data=offer_data("o-1")),
        event("e2", "offer.withdrawn", sequence=2, data={"id": "o-1"}),
        event("e3", sequence=3, data=offer_data("o-2")),
        event("e4", "offers.replaced", sequence=4, data={"offers": [offer_data("o-3")]}),
        event("e5", sequence=5, data=offer_data("o-1", title="back")),
    ]
    assert {r["outcome"] for r in sender.post(batch).json()["results"]} == {"applied"}
    live = dict(Offer.objects.values_list("external_id", "withdrawn"))
    assert live == {"o-1": False, "o-2": True, "o-3": False}
    assert Offer.objects.get(external_id="o-1").title == "back"


def test_a_batch_keeps_an_offers_creation_time_and_moves_its_update_time(alice: User, sender: Sender) -> None:
    sender.post(event("e1", sequence=1))
    before = Offer.objects.get()
    sender.post([event("e2", sequence=2, data=offer_data(title="new"))])
    after = Offer.objects.get()
    assert after.pk == before.pk
    assert after.created_at == before.created_at
    assert after.updated_at >= before.updated_at


def test_a_batch_schedules_one_expiry_task_per_time(alice: User, sender: Sender) -> None:
    soon, later = timezone.now() + timedelta(hours=1), timezone.now() + timedelta(hours=2)
    batch = [
        event("e1", sequence=1, data=offer_data("o-1", expires_at=soon.isoformat())),
        event("e2", sequence=2, data=offer_data("o-2", expires_at=soon.isoformat())),
        event("e3", sequence=3, data=offer_data("o-3", expires_at=later.isoformat())),
    ]
    with mock.patch("recommendations.tasks.offer_expired.apply_async") as schedule:
        sender.post(batch)
    assert [c.kwargs["eta"] for c in schedule.call_args_list] == [soon, later]


def test_a_batch_for_several_users_announces_them_together(alice: User, sender: Sender, announced: Any) -> None:
    bob = UserFactory.create(username="bob")
    expires = timezone.now() + timedelta(hours=1)
    batch = [
        event("e1", subject="alice", sequence=1, data=offer_data("o-1", expires_at=expires.isoformat())),
        event("e2", subject="bob", sequence=1, data=offer_data("o-2", expires_at=expires.isoformat())),
        event("e3", "offer.withdrawn", subject="alice", sequence=2, data={"id": "o-1"}),
    ]
    with mock.patch("recommendations.tasks.offer_expired.apply_async") as schedule:
        assert sender.post(batch).status_code == 200

    # one announcement per kind of change, naming every user it concerns
    told = {c.kwargs["reason"]: c.kwargs["user_ids"] for c in announced.call_args_list}
    assert told == {"offer.withdrawn": [alice.pk], "offer.upserted": [bob.pk]}
    # one expiry task for the time both offers expire, naming both users
    [expiry] = schedule.call_args_list
    assert expiry.kwargs["eta"] == expires
    assert sorted(expiry.kwargs["kwargs"]["user_ids"]) == sorted([alice.pk, bob.pk])
