"""Sections for the feed: fallback to the built-in template, counted; client adaptation."""

from __future__ import annotations

from prometheus_client import REGISTRY

from ui_templates.compat import adapt_for_client, min_client_version
from ui_templates.engine import render
from ui_templates.rendering import render_section_component
from ui_templates.samples import sample_contexts
from ui_templates.slots import Slot
from ui_templates.template_set import BUILT_INS_ONLY, TemplateEntry, TemplateSet, built_in

SLOT = Slot.PRODUCT_PERSONALISED


def failures(template: str, version: str) -> float:
    labels = {"slot": SLOT, "template": template, "version": version}
    return REGISTRY.get_sample_value("homeservice_template_render_failures_total", labels) or 0.0


def test_a_broken_template_falls_back_to_the_built_in_one_and_is_counted():
    context = sample_contexts(SLOT)[0]
    broken = TemplateEntry("broken", "v7", {"type": "text", "props": {"text": "{{ offers[0].nope }}"}}, slot=SLOT)
    before = failures("broken", "v7")

    out = render_section_component(
        templates=TemplateSet.of([broken]), slot=SLOT, product_slug="sample", context=context, section_id="s"
    )

    assert out == render(built_in(SLOT), context, source=BUILT_INS_ONLY, product_slug="sample", root_id="s")
    assert failures("broken", "v7") == before + 1


def test_a_broken_card_template_does_not_leak_into_the_fallback():
    context = sample_contexts(SLOT)[0]
    bad_card = TemplateEntry(
        "bad-card", "v1", {"type": "card", "props": {"offer_id": "{{ nope }}"}}, slot=Slot.OFFER_CARD
    )
    out = render_section_component(
        templates=TemplateSet.of([bad_card]), slot=SLOT, product_slug="sample", context=context, section_id="s"
    )
    cards = out["children"][0]["children"]
    assert [c["props"]["offer_id"] for c in cards] == ["offer-1", "offer-2"]


def test_old_clients_get_fallbacks_instead_of_unknown_types():
    context = sample_contexts(SLOT)[0]
    newest = render_section_component(
        templates=TemplateSet(), slot=SLOT, product_slug="sample", context=context, section_id="s"
    )
    old = render_section_component(
        templates=TemplateSet(), slot=SLOT, product_slug="sample", context=context, section_id="s", client_version=1
    )

    def types(node):
        yield node["type"]
        for child in node.get("children", []):
            yield from types(child)

    assert "countdown" in set(types(newest))
    assert "countdown" not in set(types(old))
    assert min_client_version(newest) == 2
    assert min_client_version(old) == 1


def test_a_banner_becomes_a_card_with_its_text_for_old_clients():
    banner = {
        "type": "banner",
        "id": "b",
        "props": {"title": "Sale", "body": "Now"},
        "action": {"type": "track", "event": "x"},
    }
    card = adapt_for_client({"type": "stack", "id": "s", "children": [banner]}, 1)["children"][0]
    assert card["type"] == "card"
    assert [c["props"]["text"] for c in card["children"]] == ["Sale", "Now"]
    assert card["action"] == banner["action"]


def test_a_failing_binding_names_the_prop_it_sits_in():
    import pytest

    from ui_templates.engine import RenderFailed, compile_template

    tree = {"type": "stack", "children": [{"type": "text", "props": {"text": "{{ offer.nope }}"}}]}
    with pytest.raises(RenderFailed) as failure:
        render(compile_template("k", tree), {"offer": {}}, source=BUILT_INS_ONLY)
    assert failure.value.path == "k:$.children[0].props.text"


def test_a_stored_tree_that_no_longer_compiles_falls_back_instead_of_failing_the_feed():
    context = sample_contexts(SLOT)[0]
    corrupt = TemplateEntry("corrupt", "v2", {"type": "text", "props": {"text": "{{ unclosed "}}, slot=SLOT)
    before = failures("corrupt", "v2")
    out = render_section_component(
        templates=TemplateSet.of([corrupt]), slot=SLOT, product_slug="sample", context=context, section_id="s"
    )
    assert out["type"] == "section"
    assert failures("corrupt", "v2") == before + 1
