"""POST /api/v1/events/: a batch is validated whole, stored append-only and idempotently, and
forwarded to each product's backend in one outbox message per product; anything wrong is a 400
(413 over the batch limit) naming ``events[i].field``, with nothing stored."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from django.contrib.auth.models import User
from django.utils import timezone
from rest_framework.test import APIClient

from products.models import Product
from products.webhooks import webhook_secret_create
from recommendations.interactions.models import Interaction, OfferDismissal, OutboxMessage
from recommendations.interactions.shown import shown_key, shown_sections
from tests.factories import DealSnapshotFactory, OfferFactory, ProductFactory
from tests.interactions.conftest import EVENTS_PATH, Received

URL = "/api/v1/events/"

pytestmark = pytest.mark.django_db


def _now() -> str:
    return timezone.now().isoformat()


def event(i: int | str, kind: str = "click", section: str = "product-mobile", **extra: Any) -> dict[str, Any]:
    return {"id": f"e-{i}", "kind": kind, "section_id": section, "occurred_at": _now(), **extra}


@pytest.fixture
def shown(user: User, product: Product, auth_client: APIClient) -> dict[str, Any]:
    """``user`` has an offer from mobile and was shown their feed (which records its sections)."""
    OfferFactory.create(user=user, product=product, external_id="upgrade")
    DealSnapshotFactory.create(product=product)
    feed = auth_client.get("/api/v1/home/")
    assert feed.status_code == 200
    body: dict[str, Any] = feed.json()
    assert [s["id"] for s in body["sections"]] == ["product-mobile"]
    return body


def test_a_batch_is_stored_and_forwarded_once_per_product(
    auth_client: APIClient,
    user: User,
    product: Product,
    shown: dict[str, Any],
    received: Received,
    backend: Any,
    django_capture_on_commit_callbacks: Any,
) -> None:
    tv = ProductFactory.create(slug="tv", events_endpoint=backend.url_for(EVENTS_PATH))
    DealSnapshotFactory.create(product=tv)
    webhook_secret_create(product=tv)  # older than mobile's? the newest of tv's own is used
    auth_client.get("/api/v1/home/")  # now shown both
    batch = {
        "events": [
            event(1, "impression", component_id="product-mobile"),
            event(2, "click", offer_id="upgrade", component_id="product-mobile-offer-upgrade"),
            event(3, "impression", section="product-tv", template_key="", offer_id="tv-d1"),
        ]
    }
    with django_capture_on_commit_callbacks(execute=True):
        response = auth_client.post(URL, batch, format="json")
    assert response.status_code == 202, response.content
    assert response.json() == {"accepted": 3, "duplicates": 0, "dismissed": []}

    stored = {i.client_event_id: i for i in Interaction.objects.all()}
    assert set(stored) == {"e-1", "e-2", "e-3"}
    assert (stored["e-2"].kind, stored["e-2"].offer_id, stored["e-2"].product) == ("click", "upgrade", product)
    # The template that renders the section was filled in (the built-in: nothing published).
    assert stored["e-1"].template_key == "builtin:product.personalised"
    assert stored["e-3"].template_key == "builtin:product.generic"

    messages = OutboxMessage.objects.order_by("product__slug")
    assert [(m.product.slug, m.event_type, len(m.payload["events"])) for m in messages] == [
        ("mobile", "interactions.recorded", 2),
        ("tv", "interactions.recorded", 1),
    ]
    mobile_delivery = [env for _, env in received.deliveries if env["data"]["events"][0]["id"] == "e-1"]
    assert mobile_delivery
    assert mobile_delivery[0]["data"]["user"] == user.username


def test_idempotent_by_client_event_id(auth_client: APIClient, shown: dict[str, Any]) -> None:
    first = auth_client.post(URL, {"events": [event(1), event(2)]}, format="json")
    again = auth_client.post(URL, {"events": [event(2), event(3)]}, format="json")
    assert first.json()["accepted"] == 2
    assert again.json() == {"accepted": 1, "duplicates": 1, "dismissed": []}
    assert Interaction.objects.count() == 3
    assert OutboxMessage.objects.count() == 2  # the repeated event is not forwarded again


def _bad(auth_client: APIClient, body: Any, status: int = 400) -> dict[str, Any]:
    response = auth_client.post(URL, body, format="json")
    assert response.status_code == status, response.content
    assert not Interaction.objects.exists()
    assert not OfferDismissal.objects.exists()
    assert not OutboxMessage.objects.exists()
    error: dict[str, Any] = response.json()["error"]
    return error


@pytest.mark.parametrize(
    ("bad_event", "field"),
    [
        ({"kind": "like"}, "events[1].kind"),
        ({"kind": None}, "events[1].kind"),
        ({"id": 7}, "events[1].id"),
        ({"id": ""}, "events[1].id"),
        ({"section_id": ["product-mobile"]}, "events[1].section_id"),
        ({"template_version": "3"}, "events[1].template_version"),
        ({"template_version": 0}, "events[1].template_version"),
        ({"occurred_at": 12}, "events[1].occurred_at"),
        ({"occurred_at": "yesterday"}, "events[1].occurred_at"),
        ({"occurred_at": "2026-11-23T12:00:00"}, "events[1].occurred_at"),  # no offset
        ({"colour": "red"}, "events[1].colour"),
        ({"kind": "dismiss"}, "events[1].offer_id"),  # a dismissal names its offer
        ({"template_version": 2}, "events[1].template_key"),
        ({"template_key": "no-such-template"}, "events[1].template_key"),
    ],
)
def test_a_bad_event_names_its_field_and_stores_nothing(
    auth_client: APIClient, shown: dict[str, Any], bad_event: dict[str, Any], field: str
) -> None:
    bad = {**event(2), **bad_event}
    error = _bad(auth_client, {"events": [event(1), bad, event(3)]})
    assert error["code"] == "invalid_events"
    assert field in error["details"], error
    assert error["message"].startswith(field)


def test_missing_field_is_named(auth_client: APIClient, shown: dict[str, Any]) -> None:
    incomplete = event(1)
    del incomplete["kind"]
    assert "events[0].kind" in _bad(auth_client, {"events": [incomplete]})["details"]


@pytest.mark.parametrize(
    ("body", "field"), [({}, "events"), ({"events": []}, "events"), ({"events": "x"}, "events"), ([], "body")]
)
def test_a_bad_envelope_names_its_field(auth_client: APIClient, shown: dict[str, Any], body: Any, field: str) -> None:
    assert field in _bad(auth_client, body)["details"]


def test_an_event_in_the_future_is_refused(auth_client: APIClient, shown: dict[str, Any]) -> None:
    later = (timezone.now() + timedelta(hours=1)).isoformat()
    assert "events[0].occurred_at" in _bad(auth_client, {"events": [event(1, occurred_at=later)]})["details"]


def test_the_same_id_twice_in_a_batch_is_refused(auth_client: APIClient, shown: dict[str, Any]) -> None:
    assert "events[1].id" in _bad(auth_client, {"events": [event(1), event(1)]})["details"]


def test_a_batch_over_the_limit_is_413(auth_client: APIClient, shown: dict[str, Any], settings: Any) -> None:
    settings.INTERACTIONS_BATCH_LIMIT = 3
    error = _bad(auth_client, {"events": [event(i) for i in range(4)]}, status=413)
    assert (error["code"], list(error["details"])) == ("batch_too_large", ["events"])
    assert auth_client.post(URL, {"events": [event(i) for i in range(3)]}, format="json").status_code == 202


def test_an_unknown_offer_id_is_refused(auth_client: APIClient, shown: dict[str, Any]) -> None:
    body = {"events": [event(1, offer_id="upgrade"), event(2, offer_id="not-an-offer")]}
    error = _bad(auth_client, body)
    assert error["message"].startswith("events[1].offer_id")


def test_another_users_offer_id_is_unknown(auth_client: APIClient, shown: dict[str, Any], product: Product) -> None:
    OfferFactory.create(product=product, external_id="someone-elses")
    assert "events[0].offer_id" in _bad(auth_client, {"events": [event(1, offer_id="someone-elses")]})["details"]


def test_events_for_sections_never_shown_are_refused(auth_client: APIClient, shown: dict[str, Any]) -> None:
    ProductFactory.create(slug="tv")  # active, but nothing to show: never in the user's feed
    for section in ("product-tv", "product-nope", "mobile"):
        error = _bad(auth_client, {"events": [event(1), event(2, section=section)]})
        assert "never shown" in error["details"]["events[1].section_id"][0]


def test_a_section_shown_earlier_stays_shown_after_it_left_the_feed(
    auth_client: APIClient, user: User, shown: dict[str, Any], feed_doc_redis: Any
) -> None:
    """With Redis, the record of built feeds keeps a section "shown" once it has left the feed
    (late events are accepted); a section in neither the record nor the feed is refused."""
    tv = ProductFactory.create(slug="tv")
    offer = OfferFactory.create(user=user, product=tv, external_id="sports")  # tv: no deals
    auth_client.get("/api/v1/home/")  # recorded in this Redis
    assert shown_sections(user_id=user.pk) == {"product-mobile": "personalised", "product-tv": "personalised"}
    assert feed_doc_redis.ttl(shown_key(user.pk)) > 0
    offer.withdrawn = True
    offer.save()
    assert "product-tv" not in [s["id"] for s in auth_client.get("/api/v1/home/").json()["sections"]]

    late = {"events": [event(1, "impression", section="product-tv", offer_id="sports")]}
    assert auth_client.post(URL, late, format="json").status_code == 202
    ProductFactory.create(slug="energy")
    assert (
        "events[0].section_id" in _bad_again(auth_client, {"events": [event(2, section="product-energy")]})["details"]
    )


def test_a_section_a_live_update_brought_is_shown(
    auth_client: APIClient, user: User, shown: dict[str, Any], feed_doc_redis: Any
) -> None:
    """A section that appeared after the last feed was built (a product's first deals, pushed
    live) is in the user's current feed, which is read when the record does not cover it."""
    auth_client.get("/api/v1/home/")
    DealSnapshotFactory.create(product=ProductFactory.create(slug="tv"))
    assert "product-tv" not in (shown_sections(user_id=user.pk) or {})
    assert auth_client.post(URL, {"events": [event(1, section="product-tv")]}, format="json").status_code == 202


def test_without_a_record_the_current_feed_decides(
    auth_client: APIClient, user: User, product: Product, settings: Any
) -> None:
    settings.FEED_DOC_REDIS_URL = ""  # no Redis for the record
    DealSnapshotFactory.create(product=product)
    assert auth_client.post(URL, {"events": [event(1)]}, format="json").status_code == 202


def test_needs_authentication(api_client: APIClient) -> None:
    assert api_client.post(URL, {"events": [event(1)]}, format="json").status_code == 401


def test_a_body_over_the_byte_limit_is_413(auth_client: APIClient, shown: dict[str, Any], settings: Any) -> None:
    settings.INTERACTIONS_MAX_BODY_BYTES = 200
    error = _bad(auth_client, {"events": [event(i, component_id="x" * 50) for i in range(3)]}, status=413)
    assert error["code"] == "body_too_large"


def test_the_built_in_template_key_is_accepted(auth_client: APIClient, shown: dict[str, Any]) -> None:
    body = {"events": [event(1, template_key="builtin:product.personalised")]}
    assert auth_client.post(URL, body, format="json").status_code == 202
    assert Interaction.objects.get().template_key == "builtin:product.personalised"


def test_the_published_template_version_is_recorded_when_not_given(
    auth_client: APIClient, product: Product, user: User
) -> None:
    from ui_templates.models import ComponentTemplate, TemplateVersion

    tree = {"type": "section", "props": {"title": "{{ product.name }}"}}
    template = ComponentTemplate.objects.create(
        key="mobile-offers", name="Mobile offers", slot="product.personalised", product_slug="mobile", draft_tree=tree
    )
    versions = [TemplateVersion.objects.create(template=template, number=n, tree=tree) for n in (1, 2, 3)]
    template.published_version = versions[-1]
    template.save()
    OfferFactory.create(user=user, product=product, external_id="upgrade")
    assert auth_client.get("/api/v1/home/").status_code == 200

    body = {"events": [event(1), event(2, template_key="mobile-offers", template_version=2)]}
    assert auth_client.post(URL, body, format="json").status_code == 202
    recorded = dict(Interaction.objects.values_list("client_event_id", "template_version"))
    assert recorded == {"e-1": 3, "e-2": 2}
    assert set(Interaction.objects.values_list("template_key", flat=True)) == {"mobile-offers"}
    unknown = {"events": [event(3, template_key="mobile-offers", template_version=9)]}
    assert "events[0].template_version" in _bad_again(auth_client, unknown)["details"]


def _bad_again(auth_client: APIClient, body: Any) -> dict[str, Any]:
    before = Interaction.objects.count()
    response = auth_client.post(URL, body, format="json")
    assert response.status_code == 400, response.content
    assert Interaction.objects.count() == before
    error: dict[str, Any] = response.json()["error"]
    return error


def test_the_queries_do_not_grow_with_the_batch(
    auth_client: APIClient, user: User, product: Product, feed_doc_redis: Any
) -> None:
    """A fixed number of queries per request, whatever the number of events and dismissals (with
    the record of sections shown; without it the current feed is read too)."""
    from recommendations.interactions.services import interactions_record

    for n in range(40):
        OfferFactory.create(user=user, product=product, external_id=f"o{n}")
    DealSnapshotFactory.create(product=product)
    assert auth_client.get("/api/v1/home/").status_code == 200

    def batch(start: int, size: int) -> dict[str, Any]:
        return {
            "events": [
                event(f"{start}-{i}", kind="dismiss" if i % 2 else "click", offer_id=f"o{start + i}")
                for i in range(size)
            ]
        }

    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    with CaptureQueriesContext(connection) as small:
        interactions_record(user=user, document=batch(0, 2))
    with CaptureQueriesContext(connection) as large:
        interactions_record(user=user, document=batch(10, 20))

    def real(context: CaptureQueriesContext) -> list[str]:
        return [q["sql"] for q in context.captured_queries if "SAVEPOINT" not in q["sql"]]

    # Reads: products, offers, deals, templates, earlier clicks, the outbox key; writes (each
    # returning what it stored): interactions, dismissals, one outbox message.
    assert len(real(large)) == len(real(small)) == 9
    assert OfferDismissal.objects.count() == 11
