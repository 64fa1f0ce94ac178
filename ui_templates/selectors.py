from __future__ import annotations

from .models import ComponentTemplate
from .template_set import TemplateEntry, TemplateSet


def published_templates() -> TemplateSet:
    """Every published template version, by key and slot; one query."""
    rows = ComponentTemplate.objects.filter(published_version__isnull=False).values_list(
        "key", "slot", "product_slug", "published_version_id", "published_version__number", "published_version__tree"
    )
    return TemplateSet.of(
        TemplateEntry(
            key=key, version_tag=f"v{number}", tree=tree, slot=slot, product_slug=product_slug, revision=f"pk:{pk}"
        )
        for key, slot, product_slug, pk, number, tree in rows
    )
