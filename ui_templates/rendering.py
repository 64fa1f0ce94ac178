"""Pure rendering: a template tree plus plain data gives one SDUI component (no database, no I/O).

Contexts handed to section templates:

- ``product.personalised``: ``section_id``, ``product`` {slug, name}, ``offers`` [{id, title, body,
  price {amount, currency, period} | null, cta_label, cta_url, expires_at, priority}]
- ``product.generic``: ``section_id``, ``product`` {slug, name}, ``deals`` [{id, title,
  description, price | null, url}] (optional fields present, empty when the backend omits them)

Bindings are evaluated by json-e, which is sandboxed: expressions can read the context handed in
and nothing else, and cannot run code.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import jsone

from .defaults import BUILT_IN

TemplateKey = tuple[str, str]  # (slot, product slug or "" for every product)


class TemplateRenderError(Exception):
    """A template could not be rendered with the data given."""


def template_for(*, templates: Mapping[TemplateKey, Any], slot: str, product_slug: str) -> Any:
    """The tree that fills ``slot`` for a product: its own, else the global one, else built-in."""
    for key in ((slot, product_slug), (slot, "")):
        if key in templates:
            return templates[key]
    return BUILT_IN[slot]


def render_component(tree: Any, context: Mapping[str, Any]) -> dict[str, Any]:
    """Render ``tree`` with ``context``; the result must be one component object with a ``type``."""
    try:
        rendered = jsone.render(tree, dict(context))
    except (jsone.JSONTemplateError, TypeError, ValueError, RecursionError) as exc:
        raise TemplateRenderError(str(exc)) from exc
    if not isinstance(rendered, dict) or not isinstance(rendered.get("type"), str):
        raise TemplateRenderError("a template must render to one component object with a 'type'")
    return rendered


def render_section_component(
    *, templates: Mapping[TemplateKey, Any], slot: str, product_slug: str, context: Mapping[str, Any]
) -> dict[str, Any]:
    """Render the section for a slot; a broken marketer template falls back to the built-in one."""
    tree = template_for(templates=templates, slot=slot, product_slug=product_slug)
    try:
        return render_component(tree, context)
    except TemplateRenderError:
        if tree is BUILT_IN[slot]:
            raise
        return render_component(BUILT_IN[slot], context)
