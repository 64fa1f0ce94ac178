from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import admin

from .models import ComponentTemplate
from .rendering import TemplateRenderError, render_component
from .samples import SAMPLE_CONTEXTS


class ComponentTemplateForm(forms.ModelForm):
    class Meta:
        model = ComponentTemplate
        fields = ["name", "slot", "product_slug", "tree", "active"]

    def clean(self) -> dict[str, Any]:
        """Refuse a tree that does not render with the slot's sample data."""
        cleaned = super().clean() or {}
        slot, tree = cleaned.get("slot"), cleaned.get("tree")
        if slot in SAMPLE_CONTEXTS and tree is not None:
            try:
                render_component(tree, SAMPLE_CONTEXTS[slot])
            except TemplateRenderError as exc:
                self.add_error("tree", f"The template does not render with sample data: {exc}")
        return cleaned


@admin.register(ComponentTemplate)
class ComponentTemplateAdmin(admin.ModelAdmin):
    form = ComponentTemplateForm
    list_display = ("name", "slot", "product_slug", "active", "updated_at")
    list_filter = ("slot", "active")
    search_fields = ("name", "product_slug")
