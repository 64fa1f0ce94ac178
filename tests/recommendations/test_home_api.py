"""GET /api/v1/home/ through the test client and the real URL routing (docs/api.md).

The contract tests (every test taking ``feed`` or ``feed_client``) run twice: against the view,
and against the ASGI fast path in front of it, which must answer exactly as the view does
(tests/recommendations/feed_clients.py).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from datetime import timedelta
from typing import Any

import pytest
from django.contrib.auth.models import User
from django.utils import timezone
from rest_framework.test import APIClient
from rest_framework_simplejwt.tokens import AccessToken

from products.hooks import deals_changed
from products.models import DealSnapshot
from products.services import deals_poll_not_modified, deals_record
from tests.factories import DealSnapshotFactory, DealsPollStateFactory, OfferFactory, ProductFactory, UserFactory

pytestmark = pytest.mark.django_db

URL = "/api/v1/home/"


def client_for(user: User) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {AccessToken.for_user(user)}")
    return client


@pytest.fixture
def feed(feed_client: Any, user: User) -> Any:
    return feed_client(user)


def nodes(component: Mapping[str, Any]) -> Iterator[Mapping[str, Any]]:
    yield component
    for child in component.get("children", []):
        yield from nodes(child)


def shown_offer_ids(document: Mapping[str, Any]) -> set[str]:
    return {
        n["props"]["offer_id"]
        for s in document["sections"]
        for n in nodes(s["component"])
        if n["type"] == "card" and "offer_id" in n.get("props", {})
    }


def sources(response: Any) -> list[tuple[str, str]]:
    return [(s["product"], s["source"]) for s in response.json()["sections"]]


# --- shape and ETag ----------------------------------------------------------------------------


def test_the_feed_has_the_documented_shape(feed, user):
    # given one product with an offer for the user and one with generic deals
    mobile = ProductFactory.create(slug="mobile", rank_weight=10)
    tv = ProductFactory.create(slug="tv", rank_weight=5)
    OfferFactory.create(user=user, product=mobile, external_id="up")
    DealSnapshotFactory.create(product=tv)

    # when
    response = feed.get(URL)

    # then
    assert response.status_code == 200
    assert response["Content-Type"] == "application/json"
    body = response.json()
    assert set(body) == {"schema_version", "version", "generated_at", "sections"}
    assert body["schema_version"] == 1
    assert isinstance(body["version"], str)
    assert body["version"]
    assert body["generated_at"].endswith("Z")
    for section in body["sections"]:
        assert {"id", "product", "source", "stale", "as_of", "component"} <= set(section)
        assert section["id"] == f"product-{section['product']}"
        assert section["stale"] is False
        assert section["component"]["type"] == "section"
    assert sources(response) == [("mobile", "personalised"), ("tv", "generic")]
    assert shown_offer_ids(body) == {"up"}


def test_the_etag_is_the_quoted_version_and_the_response_is_not_shared(feed, user):
    OfferFactory.create(user=user)

    response = feed.get(URL)

    assert response["ETag"] == f'"{response.json()["version"]}"'
    assert response["Cache-Control"] == "private, no-cache"
    assert "Authorization" in response["Vary"]


def test_the_version_is_the_same_on_the_next_request_when_nothing_changed(feed, user):
    OfferFactory.create(user=user)
    DealSnapshotFactory.create()

    first, second = feed.get(URL), feed.get(URL)

    assert first["ETag"] == second["ETag"]


@pytest.mark.parametrize(
    "if_none_match",
    [
        '"{v}"',
        "{v}",
        'W/"{v}"',
        '"older", "{v}"',
        '"older",W/"{v}"',
        "*",
    ],
)
def test_if_none_match_naming_the_current_version_gives_304_with_no_body(feed, user, if_none_match):
    # given the current version
    OfferFactory.create(user=user)
    version = feed.get(URL).json()["version"]

    # when
    response = feed.get(URL, HTTP_IF_NONE_MATCH=if_none_match.format(v=version))

    # then
    assert response.status_code == 304
    assert response.content == b""
    assert response["ETag"] == f'"{version}"'


def test_a_stale_etag_gives_the_new_feed(feed, user, django_capture_on_commit_callbacks):
    # given a version seen before an offer changed (saved one by one, as in the admin)
    offer = OfferFactory.create(user=user, title="Before")
    old_etag = feed.get(URL)["ETag"]
    offer.title = "After"
    with django_capture_on_commit_callbacks(execute=True):
        offer.save()

    # when
    response = feed.get(URL, HTTP_IF_NONE_MATCH=old_etag)

    # then
    assert response.status_code == 200
    assert response["ETag"] != old_etag
    assert "After" in response.content.decode()


@pytest.mark.parametrize("if_none_match", ['"nope"', "", "W/", '""'])
def test_an_etag_not_naming_the_version_gives_200(feed, user, if_none_match):
    OfferFactory.create(user=user)

    response = feed.get(URL, HTTP_IF_NONE_MATCH=if_none_match)

    assert response.status_code == 200
    assert response.json()["sections"]


# --- what is shown -----------------------------------------------------------------------------


def test_inactive_products_are_left_out(feed, user):
    # given an inactive product with an offer and deals, and an active one with deals
    hidden = ProductFactory.create(slug="hidden", active=False, rank_weight=100)
    OfferFactory.create(user=user, product=hidden)
    DealSnapshotFactory.create(product=hidden)
    DealSnapshotFactory.create(product=ProductFactory.create(slug="tv"))

    # when
    response = feed.get(URL)

    # then
    assert sources(response) == [("tv", "generic")]


def test_withdrawn_and_expired_offers_are_left_out(feed, user):
    # given mobile: a withdrawn offer and deals; tv: an expired offer only; energy: one live offer
    mobile = ProductFactory.create(slug="mobile", rank_weight=3)
    tv = ProductFactory.create(slug="tv", rank_weight=2)
    energy = ProductFactory.create(slug="energy", rank_weight=1)
    OfferFactory.create(user=user, product=mobile, external_id="withdrawn", withdrawn=True)
    DealSnapshotFactory.create(product=mobile)
    OfferFactory.create(user=user, product=tv, external_id="expired", expires_at=timezone.now() - timedelta(seconds=1))
    OfferFactory.create(user=user, product=energy, external_id="live", expires_at=None)

    # when
    response = feed.get(URL)

    # then
    assert sources(response) == [("mobile", "generic"), ("energy", "personalised")]
    assert shown_offer_ids(response.json()) == {"live"}


def test_sections_are_ranked_by_rank_weight_then_slug(feed):
    for slug, weight in [("bravo", 5), ("alpha", 5), ("charlie", 10), ("delta", -1)]:
        DealSnapshotFactory.create(product=ProductFactory.create(slug=slug, rank_weight=weight))

    response = feed.get(URL)

    assert [s["product"] for s in response.json()["sections"]] == ["charlie", "alpha", "bravo", "delta"]


def test_deals_confirmed_long_ago_are_served_marked_stale(feed, settings):
    # given deals whose last successful poll is older than DEALS_STALE_AFTER
    long_ago = timezone.now() - settings.DEALS_STALE_AFTER - timedelta(minutes=1)
    product = ProductFactory.create(slug="tv")
    DealSnapshotFactory.create(product=product, fetched_at=long_ago)
    DealsPollStateFactory.create(product=product, last_success_at=long_ago, last_polled_at=timezone.now())

    # when
    [section] = feed.get(URL).json()["sections"]

    # then
    assert section["source"] == "generic"
    assert section["stale"] is True


def test_a_user_never_sees_another_users_offers(feed_client):
    # given alice and bob with offers for the same products, and carol with none
    alice, bob, carol = (
        UserFactory.create(username="alice"),
        UserFactory.create(username="bob"),
        UserFactory.create(username="carol"),
    )
    mobile, tv = ProductFactory.create(slug="mobile", rank_weight=2), ProductFactory.create(slug="tv", rank_weight=1)
    OfferFactory.create(user=alice, product=mobile, external_id="alice-mobile", title="For Alice only")
    OfferFactory.create(user=bob, product=mobile, external_id="bob-mobile", title="For Bob only")
    OfferFactory.create(user=bob, product=tv, external_id="bob-tv", title="Bob's TV")
    DealSnapshotFactory.create(product=mobile)
    DealSnapshotFactory.create(product=tv)

    # when
    seen = {u.username: feed_client(u).get(URL) for u in (alice, bob, carol)}

    # then
    assert shown_offer_ids(seen["alice"].json()) == {"alice-mobile"}
    assert shown_offer_ids(seen["bob"].json()) == {"bob-mobile", "bob-tv"}
    assert shown_offer_ids(seen["carol"].json()) == set()
    assert sources(seen["alice"]) == [("mobile", "personalised"), ("tv", "generic")]
    assert sources(seen["carol"]) == [("mobile", "generic"), ("tv", "generic")]
    assert "Bob" not in seen["alice"].content.decode()
    assert "Alice" not in seen["bob"].content.decode()
    assert "Alice" not in seen["carol"].content.decode()
    assert "Bob" not in seen["carol"].content.decode()
    # and the versions differ, so one user's ETag never matches another's screen
    assert len({r["ETag"] for r in seen.values()}) == 3


# --- query count -------------------------------------------------------------------------------

# A warm request (every section in L1 or L2): the user lookup (JWT authentication), then the
# fragment index: active products with poll state and latest snapshot, the user's live offers'
# versions, the live templates' versions (recommendations/selectors.py, home_feed).
WARM_QUERIES = 4
# A cold request whose sections are all personal also loads those offers and the live templates
# (one more, the deal snapshots, when generic sections are missing too).
COLD_PERSONAL_QUERIES = WARM_QUERIES + 2


def _catalogue(user: User, *, products: int, offers_per_product: int) -> None:
    for i in range(products):
        product = ProductFactory.create(slug=f"p{i}", rank_weight=i)
        DealSnapshotFactory.create(product=product)
        DealsPollStateFactory.create(product=product)
        for j in range(offers_per_product):
            OfferFactory.create(user=user, product=product, external_id=f"p{i}-o{j}")


@pytest.mark.parametrize(("products", "offers_per_product"), [(1, 1), (8, 5)])
def test_the_feed_costs_a_fixed_number_of_queries(django_assert_num_queries, user, products, offers_per_product):
    # given 1 product with 1 offer, or 8 products with 40 offers (plus deals and poll state)
    _catalogue(user, products=products, offers_per_product=offers_per_product)
    client = client_for(user)

    # when / then: cold, then warm, whatever the size
    with django_assert_num_queries(COLD_PERSONAL_QUERIES):
        cold = client.get(URL)
    with django_assert_num_queries(WARM_QUERIES):
        warm = client.get(URL)
    assert cold.status_code == warm.status_code == 200
    assert len(shown_offer_ids(warm.json())) == products * offers_per_product
    assert warm.json()["sections"] == cold.json()["sections"]


# --- authentication ----------------------------------------------------------------------------


def _expired_token(user: User) -> str:
    token = AccessToken.for_user(user)
    token.set_exp(from_time=timezone.now() - timedelta(hours=1), lifetime=timedelta(minutes=5))
    return str(token)


@pytest.mark.parametrize(
    ("authorization", "code"),
    [
        (None, "not_authenticated"),
        ("Bearer garbage", "token_not_valid"),
        ("Bearer", "bad_authorization_header"),
        ("Basic dXNlcjpwdw==", "not_authenticated"),
        ("expired", "token_not_valid"),
    ],
)
def test_without_a_valid_access_token_the_answer_is_401_json(feed_client, user, authorization, code):
    # given a client with no, a garbage, a malformed, a non-Bearer or an expired token
    client = feed_client()
    if authorization == "expired":
        authorization = f"Bearer {_expired_token(user)}"
    if authorization is not None:
        client.credentials(HTTP_AUTHORIZATION=authorization)
    OfferFactory.create(user=user, title="Secret offer")

    # when
    response = client.get(URL)

    # then
    assert response.status_code == 401
    assert response["Content-Type"] == "application/json"
    assert response["WWW-Authenticate"].startswith("Bearer")
    error = response.json()["error"]
    assert set(error) == {"code", "message", "details"}
    assert error["code"] == code
    assert error["message"]
    assert "Secret offer" not in response.content.decode()


def test_an_expired_token_says_so(feed_client, user):
    client = feed_client()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {_expired_token(user)}")

    response = client.get(URL)

    assert response.status_code == 401
    assert "expired" in str(response.json()["error"]["details"]).lower()


def test_a_token_of_a_deleted_user_is_refused(feed_client, user, django_capture_on_commit_callbacks):
    client = feed_client(user)
    client.get(URL)  # a document is stored for them
    with django_capture_on_commit_callbacks(execute=True):
        user.delete()

    response = client.get(URL)

    assert response.status_code == 401
    assert response.json()["error"]["code"] == "user_not_found"


# --- generic deals: as_of and staleness --------------------------------------------------------


def test_a_poll_that_confirms_the_deals_leaves_the_feed_alone(feed, django_capture_on_commit_callbacks):
    # given deals fetched a minute ago
    fetched = timezone.now() - timedelta(minutes=1)
    product = ProductFactory.create(slug="tv")
    DealSnapshotFactory.create(product=product, fetched_at=fetched)
    before = feed.get(URL)

    # when polls confirm them (a 304, then the same content again)
    with django_capture_on_commit_callbacks(execute=True) as announced:
        deals_poll_not_modified(product=product, at=timezone.now())
        snapshot = DealSnapshot.objects.get(product=product)
        deals_record(product=product, deals=snapshot.deals, etag="", fetched_at=timezone.now())

    # then nothing a client sees changed, and nobody was told anything
    after = feed.get(URL)
    assert after["ETag"] == before["ETag"]
    [section] = after.json()["sections"]
    assert section["as_of"] == fetched.isoformat().replace("+00:00", "Z")
    assert announced == []


def test_stale_deals_confirmed_again_are_fresh_and_announced(feed, settings, django_capture_on_commit_callbacks):
    # given deals last confirmed longer ago than DEALS_STALE_AFTER: served, marked stale
    long_ago = timezone.now() - settings.DEALS_STALE_AFTER - timedelta(minutes=1)
    product = ProductFactory.create(slug="tv")
    DealSnapshotFactory.create(product=product, fetched_at=long_ago)
    DealsPollStateFactory.create(product=product, last_success_at=long_ago, last_polled_at=long_ago)
    [stale] = feed.get(URL).json()["sections"]
    assert stale["stale"] is True
    told: list[str] = []

    def listener(sender: Any, product_slug: str, **kwargs: Any) -> None:
        told.append(product_slug)

    # when a poll confirms them (304)
    deals_changed.connect(listener)
    try:
        with django_capture_on_commit_callbacks(execute=True):
            deals_poll_not_modified(product=product, at=timezone.now())
    finally:
        deals_changed.disconnect(listener)

    # then the section is fresh again, and screens were told (as for a change of deals)
    [fresh] = feed.get(URL).json()["sections"]
    assert fresh["stale"] is False
    assert fresh["version"] != stale["version"]
    assert told == ["tv"]
