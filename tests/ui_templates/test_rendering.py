from typing import Any

import pytest

from ui_templates.defaults import BUILT_IN
from ui_templates.rendering import TemplateRenderError, render_component, render_section_component, template_for
from ui_templates.samples import SAMPLE_CONTEXTS
from ui_templates.slots import Slot


@pytest.mark.parametrize("slot", list(Slot))
def test_built_in_templates_render_their_samples_with_ids_on_every_node(slot):
    component = render_component(BUILT_IN[slot], SAMPLE_CONTEXTS[slot])

    def nodes(node):
        yield node
        for child in node.get("children", []):
            yield from nodes(child)

    all_nodes = list(nodes(component))
    assert all("id" in n and "type" in n for n in all_nodes)
    assert len({n["id"] for n in all_nodes}) == len(all_nodes)


def test_bindings_read_the_data_and_repeat_over_lists():
    component = render_component(BUILT_IN[Slot.PRODUCT_GENERIC], SAMPLE_CONTEXTS[Slot.PRODUCT_GENERIC])
    cards = component["children"][0]["children"]
    assert [c["id"] for c in cards] == ["product-sample-deal-deal-1", "product-sample-deal-deal-2"]
    assert cards[0]["children"][0]["props"]["text"] == "A deal"
    # A deal without a price renders no price node.
    assert [n["type"] for n in cards[1]["children"]] == ["text", "text", "button"]


def test_a_product_template_beats_the_global_one_which_beats_the_built_in():
    slot = Slot.PRODUCT_GENERIC
    assert template_for(templates={}, slot=slot, product_slug="tv") is BUILT_IN[slot]
    templates: dict[tuple[str, str], Any] = {(slot, ""): {"type": "global"}, (slot, "tv"): {"type": "tv"}}
    assert template_for(templates=templates, slot=slot, product_slug="tv") == {"type": "tv"}
    assert template_for(templates=templates, slot=slot, product_slug="mobile") == {"type": "global"}


@pytest.mark.parametrize(
    "tree",
    [
        {"type": "text", "props": {"text": "${no_such_name}"}},
        ["not", "one", "component"],
        {"props": {}},
        {"type": "text", "props": {"text": {"$eval": "__import__('os')"}}},
    ],
)
def test_bad_templates_raise_a_render_error(tree):
    with pytest.raises(TemplateRenderError):
        render_component(tree, {"product": {"name": "x"}})


def test_a_broken_marketer_template_falls_back_to_the_built_in_one():
    slot = Slot.PRODUCT_GENERIC
    context = SAMPLE_CONTEXTS[slot]
    component = render_section_component(
        templates={(slot, ""): {"type": "text", "props": {"text": "${missing.field}"}}},
        slot=slot,
        product_slug="sample",
        context=context,
    )
    assert component == render_component(BUILT_IN[slot], context)
