"""The fragment caches behind GET /api/v1/home/ (recommendations/fragments/, docs/architecture.md).

Through the real HTTP routing; renders are counted by wrapping ``build_section`` where the
selectors call it, L2 round trips by wrapping ``l2.get_many``.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from datetime import timedelta
from decimal import Decimal
from typing import Any
from unittest import mock

import pytest
from asgiref.sync import async_to_sync, sync_to_async
from django.core.cache import cache
from django.test import override_settings
from django.utils import timezone
from prometheus_client import REGISTRY

from products.hooks import deals_changed
from products.models import Product
from recommendations import selectors
from recommendations.fragments import keys, l2, store
from recommendations.fragments.invalidation import Invalidation
from recommendations.fragments.l1 import L1Cache
from recommendations.services import OfferPayload, offer_upsert
from tests.factories import DealSnapshotFactory, OfferFactory, ProductFactory, UserFactory, deal
from tests.recommendations.test_home_api import URL, client_for
from ui_templates.hooks import template_published
from ui_templates.models import ComponentTemplate

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _empty_caches() -> Iterator[None]:
    def empty() -> None:
        store().l1.clear()
        l2.reset()
        if hasattr(cache, "delete_pattern"):
            cache.delete_pattern(f"{keys.PREFIX}:*")  # this test run's key prefix only; never a flush
        else:
            cache.clear()  # the in-process LocMem stand-in

    empty()
    yield
    empty()


@pytest.fixture
def renders(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The products whose section was rendered, in order."""
    seen: list[str] = []
    real = selectors.build_section

    def counting(**kwargs: Any) -> dict[str, Any] | None:
        seen.append(kwargs["product"].slug)
        return real(**kwargs)

    monkeypatch.setattr(selectors, "build_section", counting)
    return seen


@pytest.fixture
def round_trips(monkeypatch: pytest.MonkeyPatch) -> list[list[str]]:
    """The keys of each L2 lookup."""
    seen: list[list[str]] = []
    real = l2.get_many

    def counting(wanted: list[str]) -> dict[str, Any]:
        seen.append(list(wanted))
        return real(wanted)

    monkeypatch.setattr(l2, "get_many", counting)
    return seen


@pytest.fixture
def catalogue(user: Any) -> dict[str, Product]:
    mobile = ProductFactory.create(slug="mobile", rank_weight=10)
    tv = ProductFactory.create(slug="tv", rank_weight=5)
    OfferFactory.create(user=user, product=mobile, external_id="m1", title="Mobile offer")
    DealSnapshotFactory.create(product=tv, deals=[deal("tv-1", "TV deal")])
    DealSnapshotFactory.create(product=mobile, deals=[deal("m-d", "Mobile deal")])
    return {"mobile": mobile, "tv": tv}


def lookups(layer: str, result: str) -> float:
    value = REGISTRY.get_sample_value("homeservice_fragment_cache_lookups_total", {"layer": layer, "result": result})
    return value or 0.0


def test_a_warm_request_is_served_from_l1_without_rendering_or_redis(user, catalogue, renders, round_trips):
    client = client_for(user)
    first = client.get(URL)
    assert renders == ["mobile", "tv"]
    assert len(round_trips) == 1

    hits_before = lookups("l1", "hit")
    second = client.get(URL)

    assert second.status_code == 200
    assert second.json()["sections"] == first.json()["sections"]
    assert second["ETag"] == first["ETag"]
    assert renders == ["mobile", "tv"]  # nothing rendered again
    assert len(round_trips) == 1  # nor asked of L2
    assert lookups("l1", "hit") == hits_before + 2


def test_with_l1_cleared_the_sections_come_from_l2_in_one_round_trip(user, catalogue, renders, round_trips):
    client = client_for(user)
    first = client.get(URL).json()
    store().l1.clear()  # as on another instance, or after the TTL
    hits_before = lookups("l2", "hit")

    second = client.get(URL).json()

    assert second["sections"] == first["sections"]
    assert renders == ["mobile", "tv"]
    assert len(round_trips) == 2
    assert sorted(round_trips[1]) == sorted(round_trips[0])  # both fragments in one get_many
    assert lookups("l2", "hit") == hits_before + 2


def test_sections_say_where_they_came_from(user, catalogue):
    sections = client_for(user).get(URL).json()["sections"]
    assert [(s["product"], s["source"], s["stale"]) for s in sections] == [
        ("mobile", "personalised", False),
        ("tv", "generic", False),
    ]
    assert all(s["as_of"].endswith("Z") for s in sections)


def test_each_client_version_has_fragments_of_its_own(user, catalogue, renders):
    client = client_for(user)
    client.get(URL)
    client.get(URL, HTTP_X_SDUI_VERSION="1")
    client.get(URL, HTTP_X_SDUI_VERSION="1")
    assert renders == ["mobile", "tv", "mobile", "tv"]


def test_one_users_fragments_are_never_served_to_another(user, catalogue):
    from tests.factories import UserFactory

    other = UserFactory.create()
    OfferFactory.create(user=other, product=catalogue["mobile"], external_id="o1", title="Other's offer")
    mine = client_for(user).get(URL).content.decode()
    theirs = client_for(other).get(URL).content.decode()
    assert "Mobile offer" in mine
    assert "Other's offer" not in mine
    assert "Other's offer" in theirs
    assert "Mobile offer" not in theirs


# --- invalidation -------------------------------------------------------------------------------


def l1_keys() -> list[str]:
    l1 = store().l1
    return list(l1._entries.keys())


def test_an_offer_change_invalidates_that_users_fragment(user, catalogue, renders, django_capture_on_commit_callbacks):
    client = client_for(user)
    client.get(URL)
    before = [k for k in l1_keys() if k.startswith(f"frag:u:{user.pk}:mobile:")]
    assert before

    with django_capture_on_commit_callbacks(execute=True):
        offer_upsert(
            user=user,
            product=catalogue["mobile"],
            payload=OfferPayload(external_id="m1", version=99, title="Changed offer", price_amount=Decimal("1")),
        )

    # the old fragment is gone (with a document cache, the warm-up has rendered the new one)
    assert not set(before) & set(l1_keys())
    assert any(k.startswith("frag:g:tv:") for k in l1_keys())  # other fragments stay
    body = client.get(URL).content.decode()
    assert "Changed offer" in body
    assert renders == ["mobile", "tv", "mobile"]


def test_a_deals_change_invalidates_the_products_generic_fragment(
    user, catalogue, renders, django_capture_on_commit_callbacks
):
    client = client_for(user)
    client.get(URL)

    with django_capture_on_commit_callbacks(execute=True):
        DealSnapshotFactory.create(product=catalogue["tv"], deals=[deal("tv-2", "New TV deal")])
        deals_changed.send(sender=Product, product_slug="tv")

    assert not any(k.startswith("frag:g:tv:") for k in l1_keys())
    assert any(k.startswith(f"frag:u:{user.pk}:mobile:") for k in l1_keys())
    assert "New TV deal" in client.get(URL).content.decode()
    assert renders == ["mobile", "tv", "tv"]


def test_a_template_publish_invalidates_every_fragment(user, catalogue, renders, django_capture_on_commit_callbacks):
    client = client_for(user)
    client.get(URL)

    with django_capture_on_commit_callbacks(execute=True):
        template_published.send(sender=ComponentTemplate, key="any", version=1)

    assert l1_keys() == []
    misses = lookups("l1", "miss")
    client.get(URL)
    assert lookups("l1", "miss") == misses + 2
    if hasattr(cache, "delete_pattern"):  # Redis: the L2 copies were deleted too
        assert renders == ["mobile", "tv", "mobile", "tv"]


def test_a_change_this_instance_was_not_told_about_is_still_never_served(user, catalogue):
    # given a warm L1, then an offer changed behind the caches' back (no announcement)
    client = client_for(user)
    client.get(URL)
    OfferFactory.create(user=user, product=catalogue["mobile"], external_id="m2", title="Unannounced offer")

    # then the key (its inputs' version) differs, so the next request renders it
    assert "Unannounced offer" in client.get(URL).content.decode()


def test_expired_offers_drop_out_of_a_warm_feed(user, catalogue):
    client = client_for(user)
    OfferFactory.create(
        user=user,
        product=catalogue["tv"],
        external_id="t1",
        title="Short-lived",
        expires_at=timezone.now() + timedelta(seconds=60),
    )
    assert "Short-lived" in client.get(URL).content.decode()
    later = timezone.now() + timedelta(minutes=5)
    from unittest import mock

    with mock.patch("recommendations.selectors.timezone.now", return_value=later):
        body = client.get(URL).content.decode()
    assert "Short-lived" not in body
    assert "TV deal" in body


# --- degrades, never breaks ---------------------------------------------------------------------


class Down:
    def __getattr__(self, name: str) -> Any:
        def fail(*args: Any, **kwargs: Any) -> Any:
            raise ConnectionError("Redis is down")

        return fail


def test_with_l2_failing_the_feed_is_rendered_from_the_database(user, catalogue, monkeypatch, renders):
    client = client_for(user)
    expected = client.get(URL).json()["sections"]
    store().l1.clear()
    monkeypatch.setattr(l2, "cache", Down())

    response = client.get(URL)

    assert response.status_code == 200
    assert response.json()["sections"] == expected
    assert renders == ["mobile", "tv", "mobile", "tv"]


@override_settings(FRAGMENT_L2_RETRY_SECONDS=0)
def test_l2_is_used_again_once_it_answers(user, catalogue, monkeypatch, round_trips):
    client = client_for(user)
    real = l2.cache
    monkeypatch.setattr(l2, "cache", Down())
    client.get(URL)
    monkeypatch.setattr(l2, "cache", real)
    store().l1.clear()
    hits = lookups("l2", "hit")
    client.get(URL)  # renders and stores in L2 again
    store().l1.clear()
    client.get(URL)
    assert lookups("l2", "hit") == hits + 2


# --- queries and metrics ------------------------------------------------------------------------

# JWT user lookup + the fragment index (products, offer versions, template versions).
WARM = 4
# + the missing products' offers, their deal snapshots, the live templates.
COLD = WARM + 3


@pytest.mark.parametrize("products", [2, 8])
def test_query_counts_are_fixed_cold_and_warm(user, django_assert_num_queries, products):
    for i in range(products):
        product = ProductFactory.create(slug=f"p{i}", rank_weight=i)
        DealSnapshotFactory.create(product=product)
        if i % 2:
            OfferFactory.create(user=user, product=product, external_id=f"o{i}")
    client = client_for(user)

    with django_assert_num_queries(COLD):
        cold = client.get(URL)
    with django_assert_num_queries(WARM):
        warm = client.get(URL)
    store().l1.clear()
    with django_assert_num_queries(WARM):
        from_l2 = client.get(URL)

    assert len(cold.json()["sections"]) == products
    assert cold.json()["sections"] == warm.json()["sections"] == from_l2.json()["sections"]


def test_hit_and_miss_counters_are_exported(user, catalogue):
    client_for(user).get(URL)
    client_for(user).get(URL)

    text = client_for(user).get("/metrics").content.decode()

    for layer in ("l1", "l2"):
        for result in ("hit", "miss"):
            assert f'homeservice_fragment_cache_lookups_total{{layer="{layer}",result="{result}"}}' in text
    assert "homeservice_fragment_renders_total" in text


# --- the L1 layer itself --------------------------------------------------------------------------


def test_l1_is_bounded_and_short_lived():
    now = [0.0]
    l1 = L1Cache(maxsize=2, ttl=10)
    l1._entries = type(l1._entries)(maxsize=2, ttl=10, timer=lambda: now[0])
    l1.set("a", 1)
    l1.set("b", 2)
    l1.set("c", 3)
    assert len(l1) == 2
    now[0] = 11
    assert l1.get("c") is None


def test_l1_drops_one_users_or_one_products_fragments_and_nothing_else():
    l1 = L1Cache(maxsize=100, ttl=60)
    for key in (
        "frag:u:1:mobile:n:v1",
        "frag:u:1:tv:n:v1",
        "frag:u:2:mobile:n:v1",
        "frag:g:mobile:n:v1",
        "frag:g:tv:n:v1",
    ):
        l1.set(key, key)

    assert Invalidation(user_id=1, product_slug="mobile").drop_from(l1) == 1
    assert Invalidation(product_slug="tv").drop_from(l1) == 1
    assert Invalidation(user_id=2).drop_from(l1) == 1

    assert sorted(l1.get_many(["frag:u:1:tv:n:v1", "frag:g:mobile:n:v1"])) == ["frag:g:mobile:n:v1", "frag:u:1:tv:n:v1"]
    assert len(l1) == 2
    assert Invalidation().drop_from(l1) == 2  # everything
    assert len(l1) == 0


def test_l1_index_stays_bounded_as_entries_come_and_go():
    l1 = L1Cache(maxsize=10, ttl=60)
    for user in range(1000):  # many users, each cached once and never invalidated
        l1.set(f"frag:u:{user}:mobile:n:v1", user)

    assert len(l1) == 10
    assert l1._indexed <= 2 * 10 + 64  # rebuilt from the live entries when it outgrew them
    assert Invalidation(user_id=999).drop_from(l1) == 1  # the newest is still indexed


@pytest.mark.skipif(
    not hasattr(cache, "delete_pattern"),
    reason="L2 is Redis only with REDIS_URL (CI's first pass); the in-process stand-in deletes nothing",
)
def test_an_invalidation_deletes_exactly_the_named_fragments_from_redis(
    user, catalogue, django_capture_on_commit_callbacks
):
    # given alice's personal mobile fragment and the generic tv fragment in L2
    client_for(user).get(URL)
    mobile_before = l2_fragment_keys("mobile")
    tv_before = l2_fragment_keys("tv")
    assert mobile_before
    assert tv_before

    # when her mobile offers change
    with django_capture_on_commit_callbacks(execute=True):
        offer_upsert(
            user=user,
            product=catalogue["mobile"],
            payload=OfferPayload(external_id="m1", version=99, title="Changed offer", price_amount=Decimal("1")),
        )

    # then the old mobile fragment is gone from Redis and from its user's key set; tv's stays
    assert all(cache.get(key) is None for key in mobile_before)
    members = {m.decode() for m in l2._redis().smembers(cache.make_key(f"fragset:u:{user.pk}"))}
    assert not members & set(mobile_before)
    assert all(cache.get(key) is not None for key in tv_before)


def l2_fragment_keys(product_slug: str) -> list[str]:
    """The fragment keys stored in L2 for a product (personal or generic), from the key sets."""
    client = l2._redis()
    found: list[str] = []
    for group_key in client.scan_iter(match=cache.make_key("fragset:*")):
        found += [m.decode() for m in client.smembers(group_key) if f":{product_slug}:" in m.decode()]
    return [key for key in found if cache.get(key) is not None]


def test_a_batch_for_several_users_invalidates_and_tells_each_of_them(
    user, catalogue, feed_doc_redis, django_capture_on_commit_callbacks
):
    from channels.layers import get_channel_layer

    from recommendations import live
    from recommendations.fragments import documents

    # given alice's and bob's personal mobile fragments and their documents' generations
    bob = UserFactory.create(username="bob")
    OfferFactory.create(user=bob, product=catalogue["mobile"], external_id="b1", title="Bob's offer")
    for someone in (user, bob):
        client_for(someone).get(URL)
    before = {u.pk: documents.generations(user_id=u.pk) for u in (user, bob)}
    in_l1 = [key for key in l1_keys() if ":u:" in key]
    assert len(in_l1) == 2
    in_l2 = [key for key in l2_fragment_keys("mobile") if ":u:" in key] if hasattr(cache, "delete_pattern") else []
    layer = get_channel_layer()

    # when one batch changes both users' mobile offers (announced after commit, from a thread
    # of this loop, as a webhook's view does)
    def change() -> None:
        with (
            mock.patch("recommendations.tasks.feed_warm.apply_async") as warm,
            django_capture_on_commit_callbacks(execute=True),
        ):
            live.feeds_changed_for_users(user_ids=[bob.pk, user.pk], reason="offer.upserted", product_slug="mobile")
        calls.append(warm.call_args)

    calls: list[Any] = []

    async def scenario() -> list[Any]:
        channels = [await layer.new_channel() for _ in (user, bob)]
        for someone, channel in zip((user, bob), channels, strict=True):
            await layer.group_add(live.user_group(someone.pk), channel)
        await sync_to_async(change)()
        return [await asyncio.wait_for(layer.receive(channel), 5) for channel in channels]

    received = async_to_sync(scenario)()

    # then both fragments are gone, both generations replaced, both users told, one warm-up queued
    assert not set(in_l1) & set(l1_keys())
    assert all(cache.get(key) is None for key in in_l2)
    assert all(documents.generations(user_id=u.pk) != before[u.pk] for u in (user, bob))
    assert received == [{"type": live.FEED_CHANGED, "reason": "offer.upserted", "product": "mobile"}] * 2
    [warm] = calls
    assert warm.kwargs["kwargs"] == {"user_ids": sorted([user.pk, bob.pk])}
