"""Listeners to the products app's hook (products/hooks.py)."""

from __future__ import annotations

from typing import Any

from django.dispatch import receiver

from products.hooks import deals_changed

from . import live


@receiver(deals_changed, dispatch_uid="recommendations.deals_changed")
def on_deals_changed(sender: Any, product_slug: str, **kwargs: Any) -> None:
    live.feed_changed_for_all(reason="deals.changed", product_slug=product_slug)
