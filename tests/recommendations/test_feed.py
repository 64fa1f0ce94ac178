"""Pure feed assembly (recommendations/feed.py): plain data in, the feed document out; no database."""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from recommendations.feed import (
    DealsData,
    FeedInputs,
    OfferData,
    ProductInfo,
    build_feed,
    deal_context,
    feed_diff,
)
from tests.factories import deal
from ui_templates.engine import render
from ui_templates.slots import Slot
from ui_templates.template_set import BUILT_INS_ONLY, TemplateEntry, TemplateSet, built_in

NOW = datetime(2030, 6, 1, 12, 0, tzinfo=UTC)
STALE_AFTER = timedelta(minutes=30)

MOBILE = ProductInfo(slug="mobile", name="Mobile")
TV = ProductInfo(slug="tv", name="TV")
ENERGY = ProductInfo(slug="energy", name="Energy")


def offer(offer_id: str, **fields: Any) -> OfferData:
    return OfferData(id=offer_id, title=fields.pop("title", f"Offer {offer_id}"), **fields)


def fresh_deals(*deal_ids: str, as_of: datetime = NOW) -> DealsData:
    return DealsData(deals=[deal(d) for d in deal_ids], as_of=as_of)


def inputs(
    *,
    products: Sequence[ProductInfo] = (MOBILE,),
    offers: Mapping[str, Sequence[OfferData]] | None = None,
    deals: Mapping[str, DealsData] | None = None,
    templates: Mapping[tuple[str, str], Any] | None = None,
) -> FeedInputs:
    """``templates``: trees by (slot, product slug), published as version 1."""
    template_set = TemplateSet.of(
        TemplateEntry(key=f"{slot}-{product or 'all'}", version_tag="v1", tree=tree, slot=slot, product_slug=product)
        for (slot, product), tree in (templates or {}).items()
    )
    return FeedInputs(products=products, offers=offers or {}, deals=deals or {}, templates=template_set)


def feed(feed_inputs: FeedInputs, *, now: datetime = NOW) -> dict[str, Any]:
    return build_feed(inputs=feed_inputs, now=now, stale_after=STALE_AFTER)


def nodes(component: Mapping[str, Any]) -> Iterator[Mapping[str, Any]]:
    yield component
    for child in component.get("children", []):
        yield from nodes(child)


def offer_ids(section: Mapping[str, Any]) -> list[str]:
    return [n["props"]["offer_id"] for n in nodes(section["component"]) if n["type"] == "card"]


def card_ids(section: Mapping[str, Any]) -> list[str]:
    return [n["id"] for n in nodes(section["component"]) if n["type"] == "card"]


# --- the document ------------------------------------------------------------------------------


def test_the_document_has_the_documented_shape():
    # given one product with an offer
    feed_inputs = inputs(offers={"mobile": [offer("o1")]})

    # when
    document = feed(feed_inputs)

    # then
    assert set(document) == {"schema_version", "version", "generated_at", "sections"}
    assert document["schema_version"] == 1
    assert document["generated_at"] == "2030-06-01T12:00:00Z"
    [section] = document["sections"]
    assert set(section) == {"id", "product", "source", "stale", "as_of", "version", "component"}
    assert section["id"] == "product-mobile"
    assert section["component"]["type"] == "section"
    assert section["component"]["id"] == "product-mobile"


def test_a_feed_with_nothing_to_show_has_no_sections():
    document = feed(inputs(products=[MOBILE, TV]))

    assert document["sections"] == []


# --- offers, deals, expiry ---------------------------------------------------------------------


def test_offers_beat_deals_for_the_same_product():
    # given mobile with an offer and deals, tv with deals only
    feed_inputs = inputs(
        products=[MOBILE, TV],
        offers={"mobile": [offer("o1")]},
        deals={"mobile": fresh_deals("m1"), "tv": fresh_deals("t1")},
    )

    # when
    sections = feed(feed_inputs)["sections"]

    # then
    assert [(s["product"], s["source"]) for s in sections] == [("mobile", "personalised"), ("tv", "generic")]
    assert card_ids(sections[0]) == ["product-mobile-offer-o1"]
    assert card_ids(sections[1]) == ["product-tv-deal-t1"]


def test_an_expired_offer_is_ignored_and_the_deals_are_shown_instead():
    # given an offer that expired a second ago, and deals
    expired = offer("old", expires_at=NOW - timedelta(seconds=1))
    feed_inputs = inputs(offers={"mobile": [expired]}, deals={"mobile": fresh_deals("m1")})

    # when
    [section] = feed(feed_inputs)["sections"]

    # then
    assert section["source"] == "generic"
    assert card_ids(section) == ["product-mobile-deal-m1"]


def test_an_offer_expiring_exactly_now_is_no_longer_shown():
    feed_inputs = inputs(offers={"mobile": [offer("o1", expires_at=NOW)]}, deals={"mobile": fresh_deals("m1")})

    [section] = feed(feed_inputs)["sections"]

    assert section["source"] == "generic"


def test_only_expired_offers_and_no_deals_gives_no_section():
    feed_inputs = inputs(
        products=[MOBILE, TV],
        offers={"mobile": [offer("old", expires_at=NOW - timedelta(days=1))]},
        deals={"tv": fresh_deals("t1")},
    )

    sections = feed(feed_inputs)["sections"]

    assert [s["product"] for s in sections] == ["tv"]


def test_expired_offers_are_dropped_from_a_section_that_still_has_live_ones():
    feed_inputs = inputs(
        offers={
            "mobile": [
                offer("live", expires_at=NOW + timedelta(minutes=1)),
                offer("gone", expires_at=NOW - timedelta(minutes=1)),
                offer("forever"),
            ]
        }
    )

    [section] = feed(feed_inputs)["sections"]

    assert sorted(offer_ids(section)) == ["forever", "live"]


def test_empty_deals_give_no_section():
    feed_inputs = inputs(deals={"mobile": DealsData(deals=[], as_of=NOW)})

    assert feed(feed_inputs)["sections"] == []


# --- order -------------------------------------------------------------------------------------


def test_sections_follow_the_order_of_the_products_given():
    # given products in an order that is neither alphabetical nor the order of the mappings
    feed_inputs = inputs(
        products=[TV, ENERGY, MOBILE],
        offers={"mobile": [offer("o1")]},
        deals={"mobile": fresh_deals("m1"), "energy": fresh_deals("e1"), "tv": fresh_deals("t1")},
    )

    # when
    sections = feed(feed_inputs)["sections"]

    # then
    assert [s["product"] for s in sections] == ["tv", "energy", "mobile"]


def test_offers_are_ordered_by_priority_descending_then_by_id():
    # given offers handed in no particular order
    feed_inputs = inputs(
        offers={
            "mobile": [
                offer("b", priority=1),
                offer("z", priority=5),
                offer("a", priority=1),
                offer("low", priority=-3),
                offer("c", priority=5),
            ]
        }
    )

    # when
    [section] = feed(feed_inputs)["sections"]

    # then
    assert offer_ids(section) == ["c", "z", "a", "b", "low"]


def test_deals_keep_the_order_the_backend_gave():
    feed_inputs = inputs(deals={"mobile": fresh_deals("d3", "d1", "d2")})

    [section] = feed(feed_inputs)["sections"]

    assert card_ids(section) == ["product-mobile-deal-d3", "product-mobile-deal-d1", "product-mobile-deal-d2"]


# --- staleness and as_of -----------------------------------------------------------------------


def test_deals_older_than_stale_after_are_served_but_marked_stale():
    old = fresh_deals("m1", as_of=NOW - STALE_AFTER - timedelta(seconds=1))

    [section] = feed(inputs(deals={"mobile": old}))["sections"]

    assert section["source"] == "generic"
    assert section["stale"] is True
    assert section["as_of"] == "2030-06-01T11:29:59Z"
    assert card_ids(section) == ["product-mobile-deal-m1"]


@pytest.mark.parametrize("age", [timedelta(0), STALE_AFTER - timedelta(seconds=1), STALE_AFTER])
def test_deals_within_stale_after_are_not_stale(age):
    [section] = feed(inputs(deals={"mobile": fresh_deals("m1", as_of=NOW - age)}))["sections"]

    assert section["stale"] is False


def test_personalised_sections_are_never_stale_and_as_of_is_the_newest_offer_update():
    feed_inputs = inputs(
        offers={
            "mobile": [
                offer("o1", updated_at=NOW - timedelta(days=3)),
                offer("o2", updated_at=NOW - timedelta(days=1)),
                offer("o3"),
            ]
        }
    )

    [section] = feed(feed_inputs)["sections"]

    assert section["stale"] is False
    assert section["as_of"] == "2030-05-31T12:00:00Z"


# --- versions ----------------------------------------------------------------------------------


def _rich_inputs(*, offer_title: str = "Upgrade") -> FeedInputs:
    return inputs(
        products=[MOBILE, TV],
        offers={"mobile": [offer("o1", title=offer_title, expires_at=NOW + timedelta(hours=1))]},
        deals={"tv": fresh_deals("t1", as_of=NOW - timedelta(minutes=5))},
    )


def test_versions_are_stable_for_equal_input():
    # given two equal but separately built inputs
    first, second = feed(_rich_inputs()), feed(_rich_inputs())

    # then every version is the same
    assert first["version"] == second["version"]
    assert [s["version"] for s in first["sections"]] == [s["version"] for s in second["sections"]]
    assert first == second


def test_an_offer_title_change_changes_its_section_and_the_feed_version_only():
    # given
    before = feed(_rich_inputs(offer_title="Upgrade"))

    # when an offer's title changes
    after = feed(_rich_inputs(offer_title="Upgrade now"))

    # then
    assert after["version"] != before["version"]
    assert after["sections"][0]["version"] != before["sections"][0]["version"]
    assert after["sections"][1]["version"] == before["sections"][1]["version"]


def test_moving_now_alone_keeps_every_version():
    # given
    before = feed(_rich_inputs())

    # when only the clock moves (the offer does not expire, the deals do not turn stale)
    after = feed(_rich_inputs(), now=NOW + timedelta(minutes=10))

    # then only generated_at differs
    assert after["generated_at"] != before["generated_at"]
    assert after["version"] == before["version"]
    assert after["sections"] == before["sections"]


def test_deals_turning_stale_change_the_version():
    before = feed(_rich_inputs())

    after = feed(_rich_inputs(), now=NOW + STALE_AFTER)

    assert after["sections"][1]["stale"] is True
    assert after["version"] != before["version"]


def test_the_feed_version_changes_when_the_section_order_changes():
    feed_inputs = inputs(products=[MOBILE, TV], deals={"mobile": fresh_deals("m1"), "tv": fresh_deals("t1")})

    reordered = feed(replace(feed_inputs, products=[TV, MOBILE]))

    assert reordered["version"] != feed(feed_inputs)["version"]


# --- templates ---------------------------------------------------------------------------------


def test_a_marketer_template_is_used_when_it_renders():
    template = {"type": "banner", "props": {"title": "{{ offers[0].title }}"}}
    feed_inputs = inputs(
        offers={"mobile": [offer("o1", title="Hello")]}, templates={(Slot.PRODUCT_PERSONALISED, "mobile"): template}
    )

    [section] = feed(feed_inputs)["sections"]

    assert section["component"] == {"type": "banner", "id": "product-mobile", "props": {"title": "Hello"}}


@pytest.mark.parametrize("product_slug", ["mobile", ""])
def test_a_marketer_template_that_fails_to_render_falls_back_to_the_built_in_one(product_slug):
    # given a product (or global) template that binds to a field the data does not have
    broken = {"type": "text", "props": {"text": "{{ offers[0].no_such_field }}"}}
    offers = [offer("o1", title="Upgrade")]
    feed_inputs = inputs(offers={"mobile": offers}, templates={(Slot.PRODUCT_PERSONALISED, product_slug): broken})

    # when
    [section] = feed(feed_inputs)["sections"]

    # then the section is the built-in rendering of the same data
    expected = render(
        built_in(Slot.PRODUCT_PERSONALISED),
        {
            "section_id": "product-mobile",
            "product": {"slug": "mobile", "name": "Mobile"},
            "offers": [o.as_context() for o in offers],
        },
        source=BUILT_INS_ONLY,
        product_slug="mobile",
        root_id="product-mobile",
    )
    assert section["source"] == "personalised"
    assert section["component"] == expected


def test_a_section_that_cannot_render_at_all_is_left_out_and_the_rest_is_served():
    # given mobile deals the built-in template cannot render (no title), and good tv deals
    feed_inputs = inputs(
        products=[MOBILE, TV],
        deals={"mobile": DealsData(deals=[{"id": "no-title"}], as_of=NOW), "tv": fresh_deals("t1")},
    )

    # when
    sections = feed(feed_inputs)["sections"]

    # then
    assert [s["product"] for s in sections] == ["tv"]


def test_deal_context_fills_in_the_optional_fields():
    assert deal_context({"id": "d1", "title": "T"}) == {
        "id": "d1",
        "title": "T",
        "description": "",
        "price": None,
        "url": "",
    }
    assert deal_context({"id": "d1", "title": "T", "price": {"amount": "1", "currency": "EUR"}})["price"] == {
        "amount": "1",
        "currency": "EUR",
        "period": "",
    }


# --- feed_diff ---------------------------------------------------------------------------------


def test_feed_diff_names_changed_and_new_sections_removed_ids_and_the_new_order():
    # given a screen of mobile (offer), tv and energy (deals)
    old = feed(
        inputs(
            products=[MOBILE, TV, ENERGY],
            offers={"mobile": [offer("o1", title="Old title")]},
            deals={"tv": fresh_deals("t1"), "energy": fresh_deals("e1")},
        )
    )
    # and a new one: mobile's offer changed, tv gone, energy unchanged, broadband new, order changed
    broadband = ProductInfo(slug="broadband", name="Broadband")
    new = feed(
        inputs(
            products=[ENERGY, broadband, MOBILE],
            offers={"mobile": [offer("o1", title="New title")]},
            deals={"energy": fresh_deals("e1"), "broadband": fresh_deals("b1")},
        )
    )

    # when
    diff = feed_diff(old, new)

    # then
    assert [s["id"] for s in diff.changed] == ["product-broadband", "product-mobile"]
    assert diff.changed == [new["sections"][1], new["sections"][2]]
    assert diff.removed == ["product-tv"]
    assert diff.order == ["product-energy", "product-broadband", "product-mobile"]


def test_feed_diff_of_equal_feeds_is_empty_but_keeps_the_order():
    document = feed(_rich_inputs())

    diff = feed_diff(document, feed(_rich_inputs(), now=NOW + timedelta(seconds=1)))

    assert diff.changed == []
    assert diff.removed == []
    assert diff.order == ["product-mobile", "product-tv"]


def test_feed_diff_from_an_empty_screen_sends_everything():
    new = feed(_rich_inputs())

    diff = feed_diff({"sections": []}, new)

    assert diff.changed == new["sections"]
    assert diff.removed == []
