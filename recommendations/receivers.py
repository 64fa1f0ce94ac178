"""Listeners to the hooks of the apps below (products/hooks.py, ui_templates/hooks.py)."""

from __future__ import annotations

from typing import Any

from django.dispatch import receiver

from products.hooks import deals_changed
from ui_templates.hooks import template_published, template_unpublished

from . import live


@receiver(deals_changed, dispatch_uid="recommendations.deals_changed")
def on_deals_changed(sender: Any, product_slug: str, **kwargs: Any) -> None:
    live.feed_changed_for_all(reason="deals.changed", product_slug=product_slug)


@receiver(template_published, dispatch_uid="recommendations.template_published")
@receiver(template_unpublished, dispatch_uid="recommendations.template_unpublished")
def on_template_changed(sender: Any, **kwargs: Any) -> None:
    # Any screen may show the template: each process's hub works out the sections once and every
    # connection whose screen changes receives what changed (live_hub.py).
    live.feed_changed_for_all(reason="template.published")
