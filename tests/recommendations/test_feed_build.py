"""The fast path's builder (recommendations/feed_build.py, feed_sql.py, fragments/async_store.py).

It must read what the view reads, ask for the same fragments, render them once when requests
race, wait for another process's render, and leave the request to the view when it cannot build.
Every home-feed contract test also runs through it (feed_clients.py); these tests pin what those
cannot see. The builder needs PostgreSQL (it is off with SQLite: ``test_building_needs_postgresql``
runs in both modes) and committed data, as it reads through connections of its own.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable, Iterator
from datetime import timedelta
from typing import Any

import pytest
from django.conf import settings as django_settings
from django.contrib.auth.models import User
from django.core.cache import cache
from django.db import connection
from django.test import override_settings
from django.utils import timezone
from prometheus_client import REGISTRY
from rest_framework_simplejwt.tokens import AccessToken

from homeservice.fast_path import RedisClients
from recommendations.api.home_fast import HomeFeedFastPath
from recommendations.feed_answer import feed_answer
from recommendations.feed_build import FeedBuilder, build_possible
from recommendations.feed_plan import plan_feed
from recommendations.feed_sql import FeedDatabase
from recommendations.fragment_index import (
    deals_inputs,
    deals_of,
    offer_index,
    offer_index_of,
    products_for_feed,
    templates_revision,
    templates_revision_of,
)
from recommendations.fragments import keys, l2, store
from recommendations.interactions.models import Interaction, OfferDismissal, ProductRanking
from recommendations.selectors import offer_data, offers_live_for_user
from tests.factories import DealSnapshotFactory, DealsPollStateFactory, OfferFactory, ProductFactory, UserFactory, deal
from tests.recommendations.feed_clients import fast_path_outcomes
from ui_templates import services as template_services
from ui_templates.models import ComponentTemplate
from ui_templates.selectors import published_templates
from ui_templates.slots import Slot

postgres_only = pytest.mark.skipif(
    connection.vendor != "postgresql", reason="the builder reads PostgreSQL; with SQLite the view builds (tested below)"
)
pytestmark = pytest.mark.django_db(transaction=True)

CARD = {
    "type": "card",
    "props": {"offer_id": "{{ offer.id }}"},
    "children": [{"type": "text", "props": {"text": "Only for you: {{ offer.title }}"}}],
}


@pytest.fixture(autouse=True)
def _empty_fragments(feed_doc_redis: Any) -> Iterator[None]:
    def empty() -> None:
        store().l1.clear()
        l2.reset()
        if hasattr(cache, "delete_pattern"):
            cache.delete_pattern(f"{keys.PREFIX}:*")  # this run's key prefix only; never a flush
            cache.delete_pattern(f"lease:{keys.PREFIX}:*")

    empty()
    yield
    empty()


@pytest.fixture
def loop() -> Iterator[asyncio.AbstractEventLoop]:
    loop = asyncio.new_event_loop()
    yield loop
    loop.close()


@pytest.fixture
def builder(loop: asyncio.AbstractEventLoop) -> Iterator[FeedBuilder]:
    made = FeedBuilder(RedisClients())
    yield made
    loop.run_until_complete(made.aclose())
    loop.run_until_complete(made.redis.aclose())


@pytest.fixture
def build(loop: asyncio.AbstractEventLoop, builder: FeedBuilder) -> Callable[..., Any]:
    def run(user: User, client_version: int | None = None) -> Any:
        return loop.run_until_complete(
            builder.build(user_id=user.pk, client_version=client_version, user_generation=None, shared_generation=None)
        )

    return run


def renders() -> float:
    return REGISTRY.get_sample_value("homeservice_fragment_renders_total") or 0.0


def without_time(body: bytes) -> dict[str, Any]:
    document = json.loads(body)
    document.pop("generated_at")
    return document


@pytest.fixture
def scene() -> dict[str, Any]:
    """Everything the feed's reads filter on: products active or not, with or without deals (an
    older and a newer snapshot, a poll state, a ranking), offers live, withdrawn, expired,
    dismissed, clicked, another user's, and a published template."""
    now = timezone.now()
    alice, bob = UserFactory.create(username="alice"), UserFactory.create(username="bob")
    mobile = ProductFactory.create(slug="mobile", name="Mobile", rank_weight=5)
    tv = ProductFactory.create(slug="tv", name="TV", rank_weight=5)
    energy = ProductFactory.create(slug="energy", name="Energy", rank_weight=1)
    gone = ProductFactory.create(slug="gone", name="Gone", active=False)
    DealSnapshotFactory.create(product=tv, deals=[deal("tv-old", "Old")], fetched_at=now - timedelta(hours=2))
    DealSnapshotFactory.create(product=tv, deals=[deal("tv-1", "TV deal")], fetched_at=now - timedelta(minutes=1))
    DealSnapshotFactory.create(product=energy, deals=[deal("e-1", "Energy deal")], fetched_at=now - timedelta(days=2))
    DealsPollStateFactory.create(product=tv, last_success_at=now)
    ProductRanking.objects.create(product=energy, ctr=0.9, computed_at=now)  # lifts energy above the others
    OfferFactory.create(user=alice, product=mobile, external_id="B-live", title="Live", priority=1)
    OfferFactory.create(user=alice, product=mobile, external_id="a-clicked", title="Clicked")
    OfferFactory.create(user=alice, product=mobile, external_id="soon", expires_at=now + timedelta(hours=1))
    OfferFactory.create(user=alice, product=mobile, external_id="withdrawn", withdrawn=True)
    OfferFactory.create(user=alice, product=mobile, external_id="expired", expires_at=now - timedelta(seconds=1))
    OfferFactory.create(user=alice, product=mobile, external_id="dismissed")
    OfferFactory.create(user=alice, product=gone, external_id="inactive-product")
    OfferFactory.create(user=alice, product=tv, external_id="tv-offer", data={"n": 1.5, "big": 10**20})
    OfferFactory.create(user=bob, product=energy, external_id="bobs")
    OfferDismissal.objects.create(user=alice, product=mobile, offer_id="dismissed", dismissed_at=now)
    Interaction.objects.create(
        user=alice,
        kind=Interaction.Kind.CLICK,
        product=mobile,
        section_id="product-mobile",
        offer_id="a-clicked",
        client_event_id="c-1",
        occurred_at=now,
    )
    template = ComponentTemplate.objects.create(key="my-card", slot=Slot.OFFER_CARD, product_slug="mobile")
    version = template_services.template_version_create(template=template, tree=CARD, user=None)
    template_services.template_publish(template=template, version=version, user=None)
    return {"alice": alice, "bob": bob, "now": now, "template": template}


@postgres_only
def test_the_rows_are_what_the_views_readers_read(loop, builder, scene):
    alice, now = scene["alice"], scene["now"]

    rows = loop.run_until_complete(builder.db.feed_rows(user_id=alice.pk, now=now))

    products = products_for_feed()
    assert rows.user_active is True
    assert rows.products == products
    assert [p.slug for p in rows.products] == ["energy", "mobile", "tv"]
    assert offer_index_of(o.index_row() for o in rows.offers) == offer_index(
        user=alice, product_ids=[p.pk for p in products], now=now
    )
    assert templates_revision_of((t.key, t.version_id) for t in rows.templates) == templates_revision()
    assert sorted(map(offer_data, rows.offers), key=lambda o: o.id) == sorted(
        map(offer_data, offers_live_for_user(user=alice, product_ids=[p.pk for p in products], now=now)),
        key=lambda o: o.id,
    )
    with_deals = [p for p in products if p.latest_snapshot_id]
    snapshots = loop.run_until_complete(builder._snapshots(with_deals))
    assert deals_of(with_deals, snapshots) == deals_inputs(with_deals)
    entries = loop.run_until_complete(builder.db.template_entries(rows.templates))
    assert {e.key: e for e in entries} == dict(published_templates().entries)


@postgres_only
def test_the_built_document_is_the_views_and_is_kept_for_the_fast_path(build, scene, feed_doc_redis):
    alice = scene["alice"]

    built = build(alice)
    viewed = feed_answer(user=alice, client_version=None)

    assert without_time(built.body) == without_time(viewed.body)
    assert built.version == viewed.version
    assert "Only for you: Live" in built.body.decode()  # the published card for mobile
    document = feed_doc_redis.get(f"{django_settings.REDIS_KEY_PREFIX}:feeddoc:{alice.pk}:n")
    assert document is not None
    assert built.version.encode() in document.split(b"\n", 1)[0]
    shown = feed_doc_redis.hgetall(f"{django_settings.REDIS_KEY_PREFIX}:feedshown:{alice.pk}")
    assert shown == {b"product-energy": b"generic", b"product-mobile": b"personalised", b"product-tv": b"personalised"}


@postgres_only
def test_fragments_one_builder_renders_the_other_finds(build, scene):
    alice = scene["alice"]
    before = renders()
    build(alice)
    assert renders() - before == 3  # energy's deals, alice's mobile and tv offers

    store().l1.clear()
    feed_answer(user=alice, client_version=None)  # the view: every section from L2
    assert renders() - before == 3

    store().l1.clear()
    feed_answer(user=scene["bob"], client_version=None)  # the view renders bob's energy offers...
    build(scene["bob"])  # ...which the builder then finds, as it does tv's deals
    assert renders() - before == 5


@postgres_only
def test_each_client_version_is_built_for_itself(build, scene):
    alice = scene["alice"]
    for version in (1, None):
        assert without_time(build(alice, version).body) == without_time(
            feed_answer(user=alice, client_version=version).body
        )


@postgres_only
def test_an_inactive_or_unknown_account_is_left_to_the_view(build, scene):
    alice = scene["alice"]
    User.objects.filter(pk=alice.pk).update(is_active=False)
    assert build(alice) is None
    User.objects.filter(pk=alice.pk).delete()
    assert build(alice) is None


@postgres_only
def test_racing_requests_render_a_missing_fragment_once(loop, builder, scene):
    alice = scene["alice"]
    before = renders()

    async def race() -> list[Any]:
        return await asyncio.gather(
            *(
                builder.build(user_id=alice.pk, client_version=None, user_generation=None, shared_generation=None)
                for _ in range(8)
            )
        )

    answers = loop.run_until_complete(race())

    assert len({a.version for a in answers}) == 1
    assert renders() - before == 3


def _alice_plan_keys(alice: User) -> list[str]:
    now = timezone.now()
    products = products_for_feed()
    plan = plan_feed(
        user_id=alice.pk,
        products=products,
        offers=offer_index(user=alice, product_ids=[p.pk for p in products], now=now),
        templates=templates_revision(),
        client_version=None,
        now=now,
        stale_after=django_settings.DEALS_STALE_AFTER,
    )
    return [s.key for s in plan.sections]


@postgres_only
def test_a_fragment_another_process_is_rendering_is_awaited(loop, builder, scene, settings):
    alice = scene["alice"]
    settings.FRAGMENT_LEASE_WAIT_SECONDS = 5
    energy_key = next(key for key in _alice_plan_keys(alice) if ":energy:" in key)
    cache.add(f"lease:{energy_key}", 1, timeout=10)  # another process holds the render lease
    theirs = {"id": "product-energy", "product": "energy", "source": "generic", "stale": False, "as_of": None}
    theirs |= {"component": {"type": "text", "id": "x", "props": {"text": "rendered elsewhere"}}, "version": "v"}
    before = renders()

    async def other_process_finishes() -> None:
        await asyncio.sleep(0.2)
        await asyncio.to_thread(cache.set, energy_key, theirs, 60)

    async def scenario() -> Any:
        answer, _ = await asyncio.gather(
            builder.build(user_id=alice.pk, client_version=None, user_generation=None, shared_generation=None),
            other_process_finishes(),
        )
        return answer

    answer = loop.run_until_complete(scenario())

    assert "rendered elsewhere" in answer.body.decode()
    assert renders() - before == 2  # its own two; energy's came from the lease holder


@postgres_only
def test_a_lease_holder_that_never_delivers_costs_a_wait_then_a_render(build, scene, settings):
    settings.FRAGMENT_LEASE_WAIT_SECONDS = 0.2
    for key in _alice_plan_keys(scene["alice"]):
        cache.add(f"lease:{key}", 1, timeout=10)
    before = renders()

    assert build(scene["alice"]) is not None
    assert renders() - before == 3


@postgres_only
def test_caches_that_keep_nothing_keep_nothing(build, scene, settings, feed_doc_redis):
    """What the benchmark's cold row relies on: every request renders every section."""
    settings.FRAGMENT_L1_TTL_SECONDS = 0
    settings.FRAGMENT_L2_TTL_SECONDS = 0
    settings.FEED_DOC_TTL_SECONDS = 0
    alice = scene["alice"]

    build(alice)

    prefix = django_settings.REDIS_KEY_PREFIX
    assert list(feed_doc_redis.scan_iter(f"{prefix}:*{keys.PREFIX}:*")) == []
    assert list(feed_doc_redis.scan_iter(f"{prefix}:*lease:*")) == []
    assert feed_doc_redis.get(f"{prefix}:feeddoc:{alice.pk}:n") is None


@postgres_only
def test_a_new_template_version_is_rendered_at_once(build, scene):
    alice, template = scene["alice"], scene["template"]
    assert "Only for you: Live" in build(alice).body.decode()
    tree = {**CARD, "children": [{"type": "text", "props": {"text": "Second take: {{ offer.title }}"}}]}
    version = template_services.template_version_create(template=template, tree=tree, user=None)
    template_services.template_publish(template=template, version=version, user=None)

    assert "Second take: Live" in build(alice).body.decode()


@postgres_only
def test_with_the_fragment_cache_unreachable_it_builds_from_the_database(build, scene):
    errors = REGISTRY.get_sample_value("homeservice_fragment_l2_errors_total") or 0.0
    unreachable = {"default": {**django_settings.CACHES["default"], "LOCATION": "redis://127.0.0.1:1/0"}}

    with override_settings(CACHES=unreachable):
        built = build(scene["alice"])
        l2.reset()

    assert built is not None
    assert "Only for you: Live" in built.body.decode()
    assert (REGISTRY.get_sample_value("homeservice_fragment_l2_errors_total") or 0.0) > errors


@postgres_only
def test_with_the_database_unreachable_the_view_answers(loop, scene, feed_doc_redis):
    class Downstream:
        calls = 0

        async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
            Downstream.calls += 1

    unreachable = FeedDatabase(max_size=1, timeout=0.5, connect_kwargs={"host": "127.0.0.1", "port": 1})
    app = HomeFeedFastPath(Downstream(), builder=FeedBuilder(RedisClients(), db=unreachable))
    before = fast_path_outcomes()
    sent: list[Any] = []

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: Any) -> None:
        sent.append(message)

    token = f"Bearer {AccessToken.for_user(scene['alice'])}".encode()
    scope = {"type": "http", "method": "GET", "scheme": "http", "path": "/api/v1/home/", "query_string": b""}
    scope["headers"] = [(b"host", b"testserver"), (b"authorization", token)]
    loop.run_until_complete(app(scope, receive, send))
    loop.run_until_complete(app.aclose())

    assert (Downstream.calls, sent) == (1, [])
    assert fast_path_outcomes()["miss"] - before["miss"] == 1


def test_building_needs_postgresql(settings):
    if connection.vendor == "postgresql":
        assert build_possible() == ""
        settings.FEED_FAST_BUILD = False
        assert "FEED_FAST_BUILD" in build_possible()
    else:
        assert build_possible() == "the database is not PostgreSQL"


@postgres_only
def test_a_built_document_answers_if_none_match_with_304(loop, scene, feed_doc_redis, settings):
    settings.FEED_DOC_TTL_SECONDS = 0  # nothing stored: each request is built
    alice = scene["alice"]
    app = HomeFeedFastPath(_unreachable_downstream)
    token = f"Bearer {AccessToken.for_user(alice)}".encode()

    def get(*extra: tuple[bytes, bytes]) -> list[Any]:
        sent: list[Any] = []

        async def receive() -> dict[str, Any]:
            return {"type": "http.request", "body": b"", "more_body": False}

        async def send(message: Any) -> None:
            sent.append(message)

        scope = {"type": "http", "method": "GET", "scheme": "http", "path": "/api/v1/home/", "query_string": b""}
        scope["headers"] = [(b"host", b"testserver"), (b"authorization", token), *extra]
        loop.run_until_complete(app(scope, receive, send))
        return sent

    before = fast_path_outcomes()
    first = get()
    etag = dict(first[0]["headers"])[b"etag"]
    second = get((b"if-none-match", etag))
    loop.run_until_complete(app.aclose())

    assert (first[0]["status"], second[0]["status"]) == (200, 304)
    assert second[1]["body"] == b""
    assert fast_path_outcomes()["built"] - before["built"] == 2


async def _unreachable_downstream(scope: Any, receive: Any, send: Any) -> None:
    raise AssertionError("the view was asked")
