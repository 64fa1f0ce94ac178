"""The template editor's form: the draft tree in one of two modes, checked before it is saved.

- **Form** (the default): django-jsonform's widget, built from ``schema.editor_schema()`` (a
  ``oneOf`` per component and action type, derived from the catalogue like the template schema).
  The widget shows every field of a node, so the tree is given to it with every field present
  (``form_tree``) and what it posts comes back with the empty fields left out (``stored_tree``).
  A draft the form cannot show (e.g. a binding in an enum prop) opens in raw mode instead.
- **Raw JSON** (``?editor=raw``): the draft as indented JSON in a textarea; a syntax error names
  its line and column.

Both post the tree as JSON in the same field, and every draft gets the same server-side check
(``services.template_check``), each problem reported with its JSON path.
"""

from __future__ import annotations

import json
from typing import Any

from django import forms
from django.core.exceptions import ValidationError
from django_jsonform.widgets import JSONFormWidget
from jsonschema import Draft202012Validator

from .catalogue import ACTIONS, COMPONENTS, Prop
from .models import ComponentTemplate
from .schema import editor_schema
from .services import template_check_draft

MAX_LISTED_ISSUES = 30
FORM, RAW = "form", "raw"
EDITOR_MARKER = "draft_tree_editor"  # posted by the form widget, so its empty fields are left out


def editor_mode(value: str | None) -> str:
    return RAW if value == RAW else FORM


def _blank(prop: Prop) -> Any:
    return {} if prop.kind == "object" else None if prop.kind in ("integer", "number", "boolean") else ""


def _filled_action(action: Any) -> Any:
    if not isinstance(action, dict) or action.get("type") not in ACTIONS:
        return action
    return {name: _blank(prop) for name, prop in ACTIONS[action["type"]].params.items()} | action


def form_tree(node: Any) -> Any:
    """``node`` with every field the form shows present (empty when unset).

    django-jsonform tells the ``oneOf`` options apart only by data holding all of an option's
    fields; without them a node would be shown (and saved) as the first option.
    """
    if not isinstance(node, dict):
        return node
    filled: dict[str, Any] = {"if": "", "repeat": {"for": "", "in": ""}, "id": ""}
    spec = COMPONENTS.get(node.get("type"))  # type: ignore[arg-type]
    if spec is not None and not ({"ref", "slot"} & node.keys()):
        props = node.get("props", {})
        if isinstance(props, dict):
            props = {name: _blank(prop) for name, prop in spec.props.items()} | props
        filled["props"] = props
        if spec.children:
            filled["children"] = [form_tree(child) for child in node.get("children", [])]
        if spec.action != "none":
            filled["action"] = _filled_action(node["action"]) if "action" in node else {"type": ""}
    replaced = {key: value for key, value in filled.items() if key in ("props", "children", "action")}
    out = {key: replaced.get(key, value) for key, value in node.items()}  # the node's order kept
    return out | {key: value for key, value in filled.items() if key not in out}


def stored_tree(value: Any) -> Any:
    """What the form posted, with its empty fields (``""``, ``null``, ``{}``, ``[]``) left out."""
    if isinstance(value, list):
        return [stored_tree(item) for item in value]
    if not isinstance(value, dict):
        return value
    kept = {key: stored_tree(item) for key, item in value.items()}
    return {key: item for key, item in kept.items() if item not in ("", None, {}, [])}


def form_can_show(tree: Any) -> bool:
    return not any(Draft202012Validator(editor_schema()).iter_errors(tree))


class TreeFormWidget(JSONFormWidget):
    """django-jsonform's editor for the draft tree, with the marker that says a form posted it."""

    template_name = "admin/ui_templates/componenttemplate/tree_form_widget.html"

    def __init__(self) -> None:
        super().__init__(schema=editor_schema)

    def format_value(self, value: Any) -> Any:
        if value in (None, "", "{}", "null"):
            return None  # a new template: the form starts from an empty node
        return value

    def render(self, name: str, value: Any, attrs: dict[str, Any] | None = None, renderer: Any = None) -> Any:
        return super().render(name, self.format_value(value), attrs, renderer)

    def get_context(self, name: str, value: Any, attrs: dict[str, Any] | None) -> dict[str, Any]:
        context = super().get_context(name, value, attrs)
        # The draft as JSON too, read only (e.g. to copy it), as it would be saved.
        context["as_json"] = json.dumps(stored_tree(json.loads(value)), indent=2, ensure_ascii=False) if value else ""
        return context


class TreeJSONField(forms.JSONField):
    """JSON in a textarea, shown indented; a syntax error names its line and column."""

    widget = forms.Textarea(attrs={"rows": 30, "cols": 100, "spellcheck": "false", "class": "vLargeTextField"})

    def to_python(self, value: Any) -> Any:
        if self.disabled or value in self.empty_values:
            return super().to_python(value)
        if isinstance(value, list | dict | int | float | forms.fields.JSONString):
            return value
        try:
            return json.loads(value)
        except json.JSONDecodeError as exc:
            raise ValidationError(
                "Invalid JSON at line %(line)s column %(column)s: %(problem)s",
                code="invalid",
                params={"line": exc.lineno, "column": exc.colno, "problem": exc.msg},
            ) from exc

    def prepare_value(self, value: Any) -> Any:
        if isinstance(value, forms.fields.InvalidJSONInput):
            return value
        if isinstance(self.widget, TreeFormWidget):
            return json.dumps(form_tree(value), ensure_ascii=False) if value else None
        return json.dumps(value, indent=2, ensure_ascii=False)


class ComponentTemplateForm(forms.ModelForm):
    """The change form; ``editor`` is the mode asked for (the page falls back to raw JSON when the
    form cannot show the draft, or what was typed is not JSON)."""

    draft_tree = TreeJSONField(
        label="Draft tree",
        help_text="The template (docs/sdui.md). Checked against the schema, the other templates and a "
        "dry render with sample and demo data when saved.",
    )
    editor = FORM

    class Meta:
        model = ComponentTemplate
        fields = ["key", "name", "description", "slot", "product_slug", "draft_tree"]

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.editor_fallback = ""
        if self.editor == FORM and "draft_tree" in self.fields:
            value = self["draft_tree"].value()  # as the textarea would show it: JSON text
            if isinstance(value, forms.fields.InvalidJSONInput):
                self.editor_fallback = "What was typed is not JSON, so it is shown as raw JSON."
            elif value and self.data.get(EDITOR_MARKER) != FORM and not form_can_show(json.loads(value)):
                self.editor_fallback = (
                    "This draft uses something the form cannot show (e.g. a binding in a choice), "
                    "so it is shown as raw JSON."
                )
            else:
                self.fields["draft_tree"].widget = TreeFormWidget()

    @property
    def editor_shown(self) -> str:
        return FORM if isinstance(self.fields["draft_tree"].widget, TreeFormWidget) else RAW

    def clean_draft_tree(self) -> Any:
        tree = self.cleaned_data["draft_tree"]
        return stored_tree(tree) if self.data.get(EDITOR_MARKER) == FORM else tree

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean() or {}
        key = cleaned.get("key") or (self.instance.key if self.instance.pk else None)
        if "draft_tree" not in cleaned or not key:
            return cleaned
        slot, product_slug = cleaned.get("slot", ""), cleaned.get("product_slug", "")
        issues = template_check_draft(key=key, tree=cleaned["draft_tree"], slot=slot, product_slug=product_slug)
        if issues:
            messages = [f"{issue.path}: {issue.message}" for issue in issues[:MAX_LISTED_ISSUES]]
            if len(issues) > MAX_LISTED_ISSUES:
                messages.append(f"... and {len(issues) - MAX_LISTED_ISSUES} more")
            self.add_error("draft_tree", messages)
        return cleaned
