"""Hostile templates: each is refused when checked (naming its JSON path) or stopped by the render
budget, in which case the feed falls back to the built-in template and counts it.

CPU bombs, memory bombs, mutation of the data, self-growing loops, deep nesting, huge output and
the classic sandbox escapes. No timing here: what is asserted is which rule stopped each one.
"""

from __future__ import annotations

import copy
from typing import Any

import pytest
from prometheus_client import REGISTRY

from ui_templates import services
from ui_templates.budget import RenderLimits
from ui_templates.engine import RenderFailed, TemplateInvalid, compile_template, render
from ui_templates.rendering import render_section_component
from ui_templates.samples import sample_contexts
from ui_templates.schema import Issue
from ui_templates.slots import Slot
from ui_templates.template_set import BUILT_INS_ONLY, TemplateEntry, TemplateSet

TEXT_PATH = "$.children[0].props.text"


def card(binding: str) -> dict[str, Any]:
    """An offer card whose title text is ``binding`` (at ``TEXT_PATH``)."""
    return {"type": "card", "children": [{"type": "text", "props": {"text": binding}}]}


def check(tree: Any, slot: str = Slot.OFFER_CARD, source: TemplateSet = BUILT_INS_ONLY) -> list[Issue]:
    samples = [services.Sample(label="sample", context=c) for c in sample_contexts(slot)]
    return services.template_check(key="t", tree=tree, slot=slot, product_slug="", source=source, samples=samples)


def the_refusal(issues: list[Issue]) -> Issue:
    """The one refused issue of a check (the check stops at the first refusal)."""
    refused = [issue for issue in issues if issue.refused]
    assert len(refused) == 1, issues
    return refused[0]


# --- refused when compiled: the check names the path, nothing is evaluated --------------------------

REFUSED_WHEN_COMPILED: list[tuple[str, str, str]] = [
    # (id, binding, words in the message)
    # mutation of the data, and self-growing loops
    ("pop", "{{ offer.pop('title') }}", "calls are not allowed"),
    ("update", "{{ offer.update({'title': 'x'}) }}", "calls are not allowed"),
    ("append-loop", "{% for o in offers %}{{ offers.append(o) }}{% endfor %}{{ offer.title }}", "statement tags"),
    ("set", "{% set offers = offers + offers %}{{ offer.title }}", "statement tags"),
    # statement tags compiled from a string
    (
        "for-tag",
        "{% for i in range(1000) %}{% for j in range(1000) %}x{% endfor %}{% endfor %}{{ offer.id }}",
        "statement tags",
    ),
    ("macro", "{% macro m() %}{{ m() }}{% endmacro %}{{ m() }}", "statement tags"),
    ("include", "{% include 'x' %}{{ offer.id }}", "statement tags"),
    # methods of text
    ("ljust", "{{ 'x'.ljust(10**9) }}", "calls are not allowed"),
    ("str-format", "{{ '{0:>999999999}'.format(1) }}", "calls are not allowed"),
    ("format-map", "{{ '{x.__class__}'.format_map(offer) }}", "calls are not allowed"),
    # unbounded filters
    ("format", "{{ '%0999999999d' | format(1) }}", "'format' is not available"),
    ("center", "{{ offer.title | center(1000000000) }}", "'center' is not available"),
    ("indent", "{{ offer.title | indent(1000000000, true) }}", "'indent' is not available"),
    ("wordwrap", "{{ offer.title | wordwrap(1) }}", "'wordwrap' is not available"),
    ("batch", "{{ offers | batch(1000000000, 'x') | list }}", "'batch' is not available"),
    ("slice", "{{ offers | slice(1000000000) | list }}", "'slice' is not available"),
    ("sum", "{{ offers | sum(start=[]) }}", "'sum' is not available"),
    ("attr", "{{ offer | attr('__class__') }}", "'attr' is not available"),
    ("pprint", "{{ offers | pprint }}", "'pprint' is not available"),
    ("random", "{{ offers | random }}", "'random' is not available"),
    ("star-args", "{{ offer.title | replace(*offers) }}", "*args"),
    # classic sandbox escapes
    ("mro", "{{ ''.__class__.__mro__[1].__subclasses__() }}", "not allowed"),
    ("mro-no-call", "{{ ''.__class__.__mro__[1] }}", "'_'"),
    ("class", "{{ offer.__class__ }}", "'_'"),
    ("dunder-item", "{{ offer['__class__'] }}", "'_'"),
    ("private", "{{ offer._private }}", "'_'"),
    ("cycler", "{{ cycler.__init__.__globals__.os.popen('id').read() }}", "calls are not allowed"),
    ("cycler-globals", "{{ cycler.__init__.__globals__ }}", "'_'"),
    ("joiner", "{{ joiner.__init__.__globals__ }}", "'_'"),
    ("namespace", "{{ namespace(a=1) }}", "calls are not allowed"),
    ("lipsum", "{{ lipsum(100000, false, 1000000, 1000000) }}", "calls are not allowed"),
    ("self", "{{ self }}", "'self'"),
    ("self-blocks", "{{ self._TemplateReference__context }}", "'_'"),
    ("loop", "{{ loop }}", "'loop'"),
    ("range-object", "{{ range }}", "range can only be called"),
    ("range-attr", "{{ range.__self__ }}", "'_'"),
    ("dict-global", "{{ dict(a=1) }}", "calls are not allowed"),
    # deep nesting and size
    ("parens", "{{ " + "(" * 2000 + "1" + ")" * 2000 + " }}", "binding"),
    ("nots", "{{ " + "not " * 1200 + "offer.title }}", "binding"),
    ("lists", "{{ " + "[" * 400 + "]" * 400 + " }}", "binding"),
    ("filters", "{{ offer.title" + " | upper" * 400 + " }}", "nests more than 32 levels"),
    ("wide", "{{ [" + ", ".join(["offer.id"] * 200) + "] }}", "too complex"),
    ("sum-chain", "{{ " + " + ".join(["offer.priority"] * 400) + " }}", "binding"),
    ("long", "{{ offer.title }}" + "x" * 6000, "at most 5000 characters"),
]


@pytest.mark.parametrize(
    ("binding", "words"), [c[1:] for c in REFUSED_WHEN_COMPILED], ids=[c[0] for c in REFUSED_WHEN_COMPILED]
)
def test_refused_when_checked_at_the_binding_s_path(binding: str, words: str) -> None:
    issue = the_refusal(check(card(binding)))
    assert issue.path == TEXT_PATH
    assert words in issue.message
    assert issue.message.startswith("binding")


# --- stopped when evaluated: by a bounded operation or the render budget -------------------------------

STOPPED_WHEN_RENDERED: list[tuple[str, str, str]] = [
    # CPU bombs: big integers are refused before they are computed
    ("pow", "{{ 9 ** (3000000 + offer.priority) }}", "larger than 256 bits"),
    ("pow-tower", "{{ 2" + " ** 2" * 10 + " }}", "larger than 256 bits"),
    ("mul", "{{ (2 ** 200) * (2 ** 200) }}", "larger than 256 bits"),
    ("add", "{{ (2 ** 256) + (2 ** 256) }}", "larger than 256 bits"),
    # memory bombs: text and lists are charged before they are built
    ("str-mul", "{{ 'x' * 10 ** 9 }}", "bytes produced"),
    ("list-mul", "{{ [offer] * 10 ** 9 }}", "bytes produced"),
    ("list-of-refs", "{{ ([offer.title * 1000] * 1000) | join }}", "bytes produced"),
    ("range", "{{ range(10 ** 9) | list }}", "at most 1000 numbers"),
    ("replace", "{{ ('x' * 1000) | replace('', 'y' * 1000) }}", "bytes produced"),
    ("join", "{{ range(1000) | join('y' * 1000) }}", "bytes produced"),
    ("concat", "{{ ('x' * 200000) ~ ('x' * 200000) }}", "bytes produced"),
    ("string", "{{ [[offer] * 1000] * 1000 }}", "bytes produced"),
    ("percent", "{{ '%0999999999d' % 1 }}", "'%' formatting of text is not allowed"),
    ("percent-data", "{{ offer.title % () }}", "'%' formatting of text is not allowed"),
]


@pytest.mark.parametrize(
    ("binding", "words"), [c[1:] for c in STOPPED_WHEN_RENDERED], ids=[c[0] for c in STOPPED_WHEN_RENDERED]
)
def test_stopped_in_the_dry_render_at_the_binding_s_path(binding: str, words: str) -> None:
    issue = the_refusal(check(card(binding)))
    assert issue.path == f"t:{TEXT_PATH}"
    assert words in issue.message


def test_a_repeat_over_nested_large_data_is_stopped_by_the_node_budget() -> None:
    tree = {
        "type": "stack",
        "children": [
            {
                "type": "stack",
                "repeat": {"for": "a", "in": "offers"},
                "children": [{"type": "text", "repeat": {"for": "b", "in": "offers"}, "props": {"text": "{{ b.id }}"}}],
            }
        ],
    }
    offers = [{"id": f"o{i}"} for i in range(100)]  # 100 x 100 nodes
    with pytest.raises(RenderFailed) as stopped:
        render(compile_template("t", tree), {"offers": offers}, source=BUILT_INS_ONLY)
    assert stopped.value.refused
    assert "more than 2000 nodes" in stopped.value.message
    assert stopped.value.path.startswith("t:$.children[0]")


def test_nodes_an_if_skips_count_too() -> None:
    skipped = {"type": "divider", "repeat": {"for": "i", "in": "items"}, "if": "{{ false }}"}
    many = TemplateEntry("many", "v1", {"type": "stack", "children": [{"type": "stack", "children": [skipped]}]})
    tree = {"type": "stack", "children": [{"ref": "many", "repeat": {"for": "j", "in": "items"}}]}
    with pytest.raises(RenderFailed) as stopped:
        render(compile_template("t", tree), {"items": list(range(1000))}, source=TemplateSet.of([many]))
    assert "more than 2000 nodes" in stopped.value.message


def test_huge_output_from_data_is_stopped_by_the_byte_budget() -> None:
    tree = {
        "type": "list",
        "children": [{"type": "text", "repeat": {"for": "i", "in": "items"}, "props": {"text": "{{ big }}"}}],
    }
    with pytest.raises(RenderFailed) as stopped:
        render(compile_template("t", tree), {"big": "x" * 10_000, "items": list(range(1000))}, source=BUILT_INS_ONLY)
    assert stopped.value.refused
    assert "bytes produced" in stopped.value.message
    assert stopped.value.path == "t:$.children[0]"


def test_the_cpu_time_budget_is_the_backstop() -> None:
    tree = {"type": "list", "children": [{"type": "divider", "repeat": {"for": "i", "in": "{{ range(100) }}"}}]}
    with pytest.raises(RenderFailed) as stopped:
        render(compile_template("t", tree), {}, source=BUILT_INS_ONLY, limits=RenderLimits(max_cpu_seconds=0))
    assert "ms of CPU time" in stopped.value.message


def test_budgets_are_settings(settings: Any) -> None:
    # 41 nodes for four offers (the built-in template: 34)
    item = {"type": "stack", "repeat": {"for": "offer", "in": "offers"}, "children": [{"type": "divider"}] * 9}
    tree = {"type": "list", "children": [item]}
    context = {**sample_contexts(Slot.PRODUCT_PERSONALISED)[0]}
    context["offers"] = [{**context["offers"][0], "id": f"o{i}"} for i in range(4)]
    entry = TemplateEntry("fifty", "v1", tree, slot=Slot.PRODUCT_PERSONALISED)

    def rendered() -> dict[str, Any]:
        return render_section_component(
            templates=TemplateSet.of([entry]),
            slot=Slot.PRODUCT_PERSONALISED,
            product_slug="p",
            context=context,
            section_id="s",
        )

    assert rendered()["type"] == "list"  # within the default budget
    settings.TEMPLATE_RENDER_MAX_NODES = 40
    assert rendered()["type"] == "section"  # the built-in template: the configured budget stopped it


# --- mutation: data handed in is never changed ------------------------------------------------------


def test_a_mutating_binding_is_refused_and_the_shared_samples_stay_intact() -> None:
    before = sample_contexts(Slot.OFFER_CARD)

    assert the_refusal(check(card("{{ offer.pop('title') }}"))).path == TEXT_PATH
    for _ in range(3):  # what broke every later check: the shared samples had lost their title
        assert check(card("{{ offer.title }}")) == []

    assert sample_contexts(Slot.OFFER_CARD) == before
    assert before[0]["offer"]["title"] == "An offer"


def test_the_static_samples_are_fresh_copies() -> None:
    first = sample_contexts(Slot.OFFER_CARD)
    first[0]["offer"]["title"] = "changed"
    first[0]["offers"].clear()
    assert sample_contexts(Slot.OFFER_CARD)[0]["offer"]["title"] == "An offer"
    assert sample_contexts(Slot.OFFER_CARD)[0]["offers"]


READ_ONLY_BINDINGS = [
    "{{ offers | sort(attribute='priority') | list }}",
    "{{ offers | reverse | list }}",
    "{{ offer | dictsort }}",
    "{{ offers | map(attribute='title') | join(', ') }}",
    "{{ offers[0] }}",
    "{{ offers[:1] }}",
    "{{ offer.items }}",  # the key 'items' (missing here), never the dict's method
]


@pytest.mark.parametrize("binding", READ_ONLY_BINDINGS)
def test_what_a_binding_reaches_it_cannot_change(binding: str) -> None:
    context = sample_contexts(Slot.OFFER_CARD)[0]
    context["offer"]["items"] = ["kept"]
    before = copy.deepcopy(context)
    template = compile_template("t", {"type": "track", "id": "x", "props": {"event": binding}})

    out = render(template, context, source=BUILT_INS_ONLY)

    assert context == before
    value = out["props"]["event"]
    if isinstance(value, dict | list):  # what Jinja2 gives is a copy, not the data itself
        assert all(value is not part for part in (context["offer"], context["offers"], context["offer"]["price"]))


# --- published: a heavy branch that only some data takes falls back, counted -------------------------


def failures(key: str, version: str) -> float:
    labels = {"slot": Slot.PRODUCT_PERSONALISED, "template": key, "version": version}
    return REGISTRY.get_sample_value("homeservice_template_render_failures_total", labels) or 0.0


def section(templates: TemplateSet, context: dict[str, Any]) -> dict[str, Any]:
    return render_section_component(
        templates=templates, slot=Slot.PRODUCT_PERSONALISED, product_slug="sample", context=context, section_id="s"
    )


@pytest.mark.parametrize(
    "heavy",
    [
        "{{ 9 ** (3000000 + offer.priority) }}",
        "{{ 'x' * (offer.priority * 1000000) }}",
        "{{ range(offer.priority * 1000) | join(offer.title * 100) }}",
        "{{ offer.title * (offer.priority * 2000) }}",
    ],
    ids=["cpu", "memory", "string-building", "text"],
)
def test_a_heavy_branch_passes_the_check_then_falls_back_and_is_counted(heavy: str) -> None:
    tree = {
        "type": "section",
        "props": {"title": "{{ product.name }}"},
        "children": [
            {"type": "text", "repeat": {"for": "offer", "in": "offers"}, "props": {"text": "{{ offer.title }}"}},
            {
                "type": "text",
                "repeat": {"for": "offer", "in": "offers"},
                "if": "{{ offer.priority > 500 }}",
                "props": {"text": heavy},
            },
        ],
    }
    assert check(tree, slot=Slot.PRODUCT_PERSONALISED) == []  # the samples' priorities are low
    entry = TemplateEntry("heavy-section", "v3", tree, slot=Slot.PRODUCT_PERSONALISED)
    context = sample_contexts(Slot.PRODUCT_PERSONALISED)[0]
    assert section(TemplateSet.of([entry]), context)["children"][0]["props"]["text"] == "An offer"
    context["offers"][0]["priority"] = 501  # a product pushes such an offer
    before = failures("heavy-section", "v3")

    out = section(TemplateSet.of([entry]), context)

    assert out == section(BUILT_INS_ONLY, context)  # the built-in template
    assert failures("heavy-section", "v3") == before + 1


def test_a_stored_hostile_tree_falls_back_too() -> None:
    tree = {"type": "section", "props": {"title": "{{ offers[0].pop('title') }}"}}
    entry = TemplateEntry("stored", "v1", tree, slot=Slot.PRODUCT_PERSONALISED)
    context = sample_contexts(Slot.PRODUCT_PERSONALISED)[0]
    before = failures("stored", "v1")
    assert section(TemplateSet.of([entry]), context) == section(BUILT_INS_ONLY, context)
    assert failures("stored", "v1") == before + 1
    assert context["offers"][0]["title"] == "An offer"


def test_the_compile_time_refusal_is_an_error_of_compile_template_too() -> None:
    with pytest.raises(TemplateInvalid) as invalid:
        compile_template("t", card("{{ offer.__class__ }}"))
    assert [(issue.path, issue.refused) for issue in invalid.value.issues] == [(TEXT_PATH, True)]


def test_bindings_of_a_whole_template_are_bounded_too() -> None:
    tree = {"type": "stack", "children": [card("{{ offer.title }}" + "x" * 4000) for _ in range(13)]}
    issue = the_refusal(check(tree))
    assert issue.path == "$"
    assert "at most 20000" in issue.message
