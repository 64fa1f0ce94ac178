"""Rendering sections for the feed: the slot's template, isolated from the rest of the screen.

A template that fails for some data (a missing field, bad data), or goes over its render budget
(budget.py: nodes, bytes, CPU time, from the ``TEMPLATE_RENDER_*`` settings), must not break the
feed: the section is rendered with the slot's built-in template instead, and the failure is
logged with the template's key and version and counted
(``homeservice_template_render_failures_total``). If even the built-in template fails,
:class:`RenderFailed` propagates and the caller leaves the section out.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

from prometheus_client import Counter

from .budget import render_limits
from .compat import adapt_for_client
from .defaults import built_in_key
from .engine import RenderFailed, TemplateInvalid, render
from .template_set import BUILT_INS_ONLY, TemplateSet, built_in

logger = logging.getLogger(__name__)

RENDER_FAILURES = Counter(
    "homeservice_template_render_failures_total",
    "Sections whose template failed to render and fell back to the built-in template.",
    ["slot", "template", "version"],
)


def render_section_component(
    *,
    templates: TemplateSet,
    slot: str,
    product_slug: str,
    context: Mapping[str, Any],
    section_id: str,
    client_version: int | None = None,
) -> dict[str, Any]:
    """Render the section filling ``slot`` for a product, adapted to what the client renders."""
    entry = templates.entry_for_slot(slot, product_slug)
    limits = render_limits()
    try:
        template = templates.for_slot(slot, product_slug)
        component = render(
            template, context, source=templates, product_slug=product_slug, root_id=section_id, limits=limits
        )
    except (RenderFailed, TemplateInvalid) as exc:
        # TemplateInvalid: a stored tree that no longer compiles (publishing checks every tree,
        # so only data changed behind the service's back gets here).
        key = entry.key if entry else built_in_key(slot)
        version = templates.version_tag(key)
        RENDER_FAILURES.labels(slot=slot, template=key, version=version).inc()
        logger.warning(
            "template %s (%s) failed for product %s: %s; using the built-in template", key, version, product_slug, exc
        )
        component = render(
            built_in(slot), context, source=BUILT_INS_ONLY, product_slug=product_slug, root_id=section_id, limits=limits
        )
    return adapt_for_client(component, client_version)
