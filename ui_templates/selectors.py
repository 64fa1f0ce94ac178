from __future__ import annotations

from typing import Any

from .models import ComponentTemplate
from .rendering import TemplateKey


def live_templates() -> dict[TemplateKey, Any]:
    """Every active template tree keyed by (slot, product slug); one query."""
    rows = ComponentTemplate.objects.filter(active=True).values_list("slot", "product_slug", "tree")
    return {(slot, product_slug): tree for slot, product_slug, tree in rows}
