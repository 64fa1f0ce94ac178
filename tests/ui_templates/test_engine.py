"""The template engine: bindings, directives, includes, ids, safety, errors with paths."""

from __future__ import annotations

from typing import Any

import pytest

from ui_templates.engine import RenderFailed, TemplateInvalid, compile_template, render
from ui_templates.samples import sample_contexts
from ui_templates.schema import validate_document
from ui_templates.slots import Slot
from ui_templates.template_set import BUILT_INS_ONLY, TemplateEntry, TemplateSet, built_in, include_issues


def run(tree: Any, context: dict[str, Any], source: TemplateSet = BUILT_INS_ONLY, **kwargs: Any) -> dict[str, Any]:
    return render(compile_template("t", tree), context, source=source, **kwargs)


def test_a_single_binding_keeps_the_type_and_mixed_strings_interpolate():
    tree = {
        "type": "price",
        "props": {"amount": "{{ p.amount }}", "currency": "{{ p.currency }}", "period": "per {{ p.period }}"},
    }
    out = run(tree, {"p": {"amount": 12, "currency": "EUR", "period": "month"}})
    assert out["props"] == {"amount": 12, "currency": "EUR", "period": "per month"}


def test_filters_format_money_and_dates():
    tree = {"type": "text", "props": {"text": "{{ p | currency('EUR') }} until {{ d | date }}"}}
    out = run(tree, {"p": "1234.5", "d": "2030-01-02T03:04:05Z"})
    assert out["props"]["text"] == "€1,234.50 until 2030-01-02"


def test_repeat_and_if_expand_and_filter_children_with_stable_ids():
    tree = {
        "type": "list",
        "id": "l",
        "children": [
            {
                "type": "text",
                "repeat": {"for": "x", "in": "items"},
                "if": "{{ x.show }}",
                "props": {"text": "{{ x.id }}"},
            },
            {"type": "divider"},
        ],
    }
    items = [{"id": "a", "show": True}, {"id": "b", "show": False}, {"id": "c", "show": True}]
    out = run(tree, {"items": items})
    assert [(c["id"], c["props"].get("text")) for c in out["children"]] == [
        ("l-0-a", "a"),
        ("l-0-c", "c"),
        ("l-1", None),
    ]
    assert run(tree, {"items": items}) == out  # same data, same ids


def test_includes_by_key_and_by_slot_with_product_specific_templates():
    card = {"type": "card", "children": [{"type": "text", "props": {"text": "{{ offer.title }}"}}]}
    tv_card = {"type": "badge", "props": {"label": "{{ offer.title }}"}}
    source = TemplateSet.of(
        [
            TemplateEntry("offer-card", "v1", card, slot=Slot.OFFER_CARD),
            TemplateEntry("tv-card", "v1", tv_card, slot=Slot.OFFER_CARD, product_slug="tv"),
            TemplateEntry("part", "v1", {"type": "divider"}),
        ]
    )
    tree = {
        "type": "stack",
        "id": "s",
        "children": [{"slot": "offer.card", "repeat": {"for": "offer", "in": "offers"}}, {"ref": "part"}],
    }
    context = {"offers": [{"id": "o1", "title": "Hi"}]}
    assert [c["type"] for c in run(tree, context, source, product_slug="mobile")["children"]] == ["card", "divider"]
    assert run(tree, context, source, product_slug="tv")["children"][0] == {
        "type": "badge",
        "id": "s-0-o1",
        "props": {"label": "Hi"},
    }


@pytest.mark.parametrize(
    ("tree", "context"),
    [
        ({"type": "text", "props": {"text": "{{ offer.missing }}"}}, {"offer": {}}),
        ({"type": "text", "props": {"text": "x {{ nothing }} y"}}, {}),
        ({"type": "text", "repeat": {"for": "x", "in": "n"}, "props": {"text": "a"}}, {"n": 3}),
        ({"type": "stack", "children": [{"ref": "no-such-template"}]}, {}),
    ],
)
def test_missing_data_and_bad_lists_fail_with_the_template_path(tree, context):
    with pytest.raises(RenderFailed) as failure:
        run(tree, context)
    assert failure.value.path.startswith(("t:$", "$"))


@pytest.mark.parametrize(
    "expression",
    [
        "{{ ''.__class__.__mro__[1].__subclasses__() }}",
        "{{ offer.__class__ }}",
        "{{ range(10**9) | list }}",
    ],
)
def test_bindings_cannot_reach_beyond_the_data(expression):
    with pytest.raises((RenderFailed, TemplateInvalid)):
        run({"type": "text", "props": {"text": expression}}, {"offer": {"title": "x"}})


def test_binding_syntax_errors_name_their_json_path():
    tree = {"type": "stack", "children": [{"type": "text", "props": {"text": "{{ offer.title "}}]}
    with pytest.raises(TemplateInvalid) as invalid:
        compile_template("t", tree)
    assert invalid.value.issues[0].path == "$.children[0].props.text"


def test_include_cycles_and_missing_references_are_found():
    a = TemplateEntry("a", "v1", {"type": "stack", "children": [{"ref": "b"}]})
    b = TemplateEntry("b", "v1", {"type": "stack", "children": [{"ref": "a"}, {"ref": "ghost"}]})
    source = TemplateSet.of([a, b])
    messages = [issue.message for issue in include_issues(source.by_key("a"), source, ["mobile"])]  # type: ignore[arg-type]
    assert "include cycle: a → b → a" in messages
    assert any("'ghost'" in m for m in messages)
    # and at render time the cycle is stopped, not followed forever
    with pytest.raises(RenderFailed):
        render(source.by_key("a"), {}, source=source)  # type: ignore[arg-type]


@pytest.mark.parametrize("slot", list(Slot))
def test_every_built_in_template_renders_its_samples_to_a_valid_document(slot):
    for context in sample_contexts(slot):
        out = render(built_in(slot), context, source=BUILT_INS_ONLY, product_slug="sample", root_id="x")
        assert validate_document(out) == []


# --- bindings that only name a field are looked up without Jinja2: same results, same errors ------

_VALUES = [None, True, 0, 12, 1.5, 1e20, "", "é ü", {"a": 1}, [1, "x"], -0.0]


def jinja_only(raw: str, context: dict[str, Any]) -> Any:
    """What Jinja2 alone makes of ``raw`` (the engine's own sandbox, no shortcut)."""
    from ui_templates.bindings import compile_expression, compile_text
    from ui_templates.engine import _SINGLE_BINDING

    single = _SINGLE_BINDING.match(raw.strip())
    if single:
        return compile_expression(single.group("expr").strip())(context)
    return compile_text(raw)(context)


@pytest.mark.parametrize("value", _VALUES, ids=repr)
@pytest.mark.parametrize(
    "raw",
    ["{{ o.v }}", "{{o.v}}", "x-{{ o.v }}-y", "{{ o.v }}{{ o.v }}", "{{ s }}-{{ o.v }}", "  {{ o.v }}  "],
)
def test_a_field_binding_gives_what_jinja_gives(raw: str, value: Any) -> None:
    context = {"o": {"v": value}, "s": "sec"}
    out = run({"type": "text", "props": {"text": raw}}, context)
    assert out["props"]["text"] == jinja_only(raw, context)
    assert type(out["props"]["text"]) is type(jinja_only(raw, context))


@pytest.mark.parametrize(
    ("raw", "context"),
    [
        ("{{ o.items }}", {"o": {"items": [1, 2]}}),  # a dict method's name is the key's value, as in Jinja2
        ("{{ none }}", {"none": "shadow"}),  # a Jinja2 constant, whatever the data says
        ("a {{ o.v }}\n", {"o": {"v": 1}}),  # Jinja2 drops one trailing newline
        ("a\r\n{{ o.v }}", {"o": {"v": 1}}),  # and normalises line endings
        ("{{ o.v | upper }} {{ o.v }}", {"o": {"v": "x"}}),
    ],
    ids=["dict-method", "constant", "trailing-newline", "crlf", "filter"],
)
def test_anything_but_a_plain_field_is_left_to_jinja(raw: str, context: dict[str, Any]) -> None:
    out = run({"type": "text", "props": {"text": raw}}, context)
    assert out["props"]["text"] == jinja_only(raw, context)


@pytest.mark.parametrize("raw", ["{{ o.missing }}", "{{ o.v.deeper }}", "x {{ gone }} y", "{{ o.missing.more }}"])
def test_a_missing_field_fails_with_its_path_as_before(raw: str) -> None:
    with pytest.raises(RenderFailed) as failed:
        run({"type": "text", "props": {"text": raw}}, {"o": {"v": None}})
    assert failed.value.path == "t:$.props.text"
