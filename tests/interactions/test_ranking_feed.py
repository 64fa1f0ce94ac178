"""The ranking in the feed: the stored click-through rates order the sections (announced when the
order changes), and a first click moves the user's offer up in its section; the same for the
view and the fast path (feed_client runs each test against both)."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from django.contrib.auth.models import User
from django.utils import timezone

from recommendations.fragments import documents
from recommendations.interactions.models import Interaction, ProductRanking
from recommendations.interactions.ranking_inputs import ranking_refresh
from recommendations.interactions.services import interactions_record
from tests.factories import DealSnapshotFactory, OfferFactory, ProductFactory, UserFactory

HOME = "/api/v1/home/"

pytestmark = pytest.mark.django_db


def _events(user: User, slug: str, kind: str, n: int, *, version: int = 1) -> None:
    now = timezone.now()
    Interaction.objects.bulk_create(
        Interaction(
            user=user,
            product_id=ProductFactory._meta.model.objects.get(slug=slug).pk,
            kind=kind,
            section_id=f"product-{slug}",
            template_key=f"{slug}-cards",
            template_version=version,
            client_event_id=f"{slug}-{kind}-{version}-{i}",
            occurred_at=now - timedelta(minutes=i),
        )
        for i in range(n)
    )


def test_a_well_clicked_template_version_moves_its_section_up(
    feed_client: Any, user: User, django_capture_on_commit_callbacks: Any
) -> None:
    for slug, weight in (("mobile", 2), ("tv", 1)):
        DealSnapshotFactory.create(product=ProductFactory.create(slug=slug, rank_weight=weight))
    feed = feed_client(user)
    before = feed.get(HOME)
    assert [s["product"] for s in before.json()["sections"]] == ["mobile", "tv"]

    others = UserFactory.create()
    _events(others, "tv", "impression", 200)
    _events(others, "tv", "click", 60)  # 30%: +3 on a weight of 1
    _events(others, "mobile", "impression", 200)
    _events(others, "mobile", "click", 2)  # 1%
    with django_capture_on_commit_callbacks(execute=True):
        assert ranking_refresh() is True

    after = feed.get(HOME)
    assert [s["product"] for s in after.json()["sections"]] == ["tv", "mobile"]
    assert after["ETag"] != before["ETag"]
    tv = ProductRanking.objects.get(product__slug="tv")
    assert (tv.template_key, tv.template_version, tv.impressions, tv.clicks) == ("tv-cards", 1, 200, 60)
    with django_capture_on_commit_callbacks(execute=True):
        assert ranking_refresh() is False  # same figures, same order: nothing announced


def test_a_changed_order_replaces_every_document(
    user: User, feed_doc_redis: Any, django_capture_on_commit_callbacks: Any
) -> None:
    for slug, weight in (("mobile", 2), ("tv", 1)):
        DealSnapshotFactory.create(product=ProductFactory.create(slug=slug, rank_weight=weight))
    stored_under = documents.generations(user_id=user.pk)
    _events(user, "tv", "impression", 100)
    _events(user, "tv", "click", 100)
    with django_capture_on_commit_callbacks(execute=True):
        ranking_refresh()
    assert documents.generations(user_id=user.pk).shared != stored_under.shared  # type: ignore[union-attr]


def test_the_most_recent_template_version_is_the_one_ranked() -> None:
    product = ProductFactory.create(slug="mobile")
    user = UserFactory.create()
    _events(user, "mobile", "impression", 50, version=1)
    _events(user, "mobile", "click", 50, version=1)
    Interaction.objects.create(
        user=user,
        product=product,
        kind="impression",
        section_id="product-mobile",
        template_key="mobile-cards",
        template_version=2,
        client_event_id="newest",
        occurred_at=timezone.now() + timedelta(seconds=1),
    )
    ranking_refresh()
    ranking = ProductRanking.objects.get(product=product)
    assert (ranking.template_version, ranking.impressions, ranking.clicks) == (2, 1, 0)


def test_a_first_click_moves_the_offer_up_in_its_section(
    feed_client: Any, user: User, django_capture_on_commit_callbacks: Any
) -> None:
    mobile = ProductFactory.create(slug="mobile")
    OfferFactory.create(user=user, product=mobile, external_id="a")
    OfferFactory.create(user=user, product=mobile, external_id="b")
    feed = feed_client(user)
    first = feed.get(HOME).json()["sections"][0]
    assert _card_offer_ids(first) == ["a", "b"]

    click = {"id": "c-1", "kind": "click", "section_id": "product-mobile", "offer_id": "b"}
    with django_capture_on_commit_callbacks(execute=True):
        interactions_record(user=user, document={"events": [{**click, "occurred_at": timezone.now().isoformat()}]})
    second = feed.get(HOME).json()["sections"][0]
    assert _card_offer_ids(second) == ["b", "a"]
    assert second["version"] != first["version"]


def _card_offer_ids(section: dict[str, Any]) -> list[str]:
    ids: list[str] = []

    def walk(node: Any) -> None:
        if isinstance(node, dict):
            if node.get("type") == "card" and "offer_id" in (node.get("props") or {}):
                ids.append(node["props"]["offer_id"])
            for child in node.get("children") or []:
                walk(child)

    walk(section["component"])
    return ids
