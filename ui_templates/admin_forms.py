"""The template editor's form: the draft tree as pretty-printed JSON, checked before it is saved.

django-jsonform's schema-driven widget was considered for the editor, but it does not understand
``if``/``then``/``else``, which the template schema dispatches node types with (schema.py), so
it would show every node as a plain string. The draft is edited as JSON in a textarea instead;
every problem is reported with its JSON path.
"""

from __future__ import annotations

import json
from typing import Any

from django import forms
from django.core.exceptions import ValidationError

from .models import ComponentTemplate
from .selectors import published_templates
from .services import template_check, template_samples

MAX_LISTED_ISSUES = 30


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
        return json.dumps(value, indent=2, ensure_ascii=False)


class ComponentTemplateForm(forms.ModelForm):
    draft_tree = TreeJSONField(
        label="Draft tree",
        help_text="The template as JSON (docs/sdui.md). Checked against the schema, the other templates and a "
        "dry render with sample and demo data when saved.",
    )

    class Meta:
        model = ComponentTemplate
        fields = ["key", "name", "description", "slot", "product_slug", "draft_tree"]

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean() or {}
        key = cleaned.get("key") or (self.instance.key if self.instance.pk else None)
        if "draft_tree" not in cleaned or not key:
            return cleaned
        slot, product_slug = cleaned.get("slot", ""), cleaned.get("product_slug", "")
        issues = template_check(
            key=key,
            tree=cleaned["draft_tree"],
            slot=slot,
            product_slug=product_slug,
            source=published_templates(),
            samples=template_samples(slot=slot, product_slug=product_slug),
        )
        if issues:
            messages = [f"{issue.path}: {issue.message}" for issue in issues[:MAX_LISTED_ISSUES]]
            if len(issues) > MAX_LISTED_ISSUES:
                messages.append(f"... and {len(issues) - MAX_LISTED_ISSUES} more")
            self.add_error("draft_tree", messages)
        return cleaned
