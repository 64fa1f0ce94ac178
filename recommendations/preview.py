"""Real data for the template admin: the demo users' offers and deals, and their whole feeds.

``ui_templates`` cannot import this app, so these are registered with ``ui_templates/hooks.py``
in ``RecommendationsConfig.ready``:

- :func:`demo_samples`: contexts to dry-render a template with before it is published, built
  exactly as ``feed.build_section`` builds them;
- :func:`preview_feed`: a demo user's home feed rendered with a given template set (a draft
  swapped into the published ones), through the real pipeline.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from django.conf import settings
from django.contrib.auth import get_user_model
from django.utils import timezone

from ui_templates.slots import Slot
from ui_templates.template_set import TemplateSet

from .demo import DEMO_USERS
from .feed import FeedInputs, build_feed, deal_context, section_id
from .selectors import home_feed_inputs


def _demo_inputs() -> list[tuple[str, FeedInputs]]:
    now = timezone.now()
    users = get_user_model().objects.filter(username__in=DEMO_USERS).order_by("username")
    return [(user.get_username(), home_feed_inputs(user=user, now=now)) for user in users]


def _section_contexts(inputs: FeedInputs, *, product_slug: str) -> list[tuple[dict[str, Any], str]]:
    """(section context, source) per product of the feed, as the feed renders it."""
    now = timezone.now()
    out = []
    for product in inputs.products:
        if product_slug and product.slug != product_slug:
            continue
        base = {"section_id": section_id(product.slug), "product": {"slug": product.slug, "name": product.name}}
        offers = sorted(
            (o for o in inputs.offers.get(product.slug, ()) if o.is_live(now)), key=lambda o: (-o.priority, o.id)
        )
        if offers:
            out.append(({**base, "offers": [o.as_context() for o in offers]}, "personalised"))
        deals = inputs.deals.get(product.slug)
        if deals and deals.deals:
            out.append(({**base, "deals": [deal_context(d) for d in deals.deals]}, "generic"))
    return out


def demo_samples(slot: str, product_slug: str) -> list[tuple[str, dict[str, Any]]]:
    """The demo users' real contexts for a template filling ``slot`` (for one product, or all)."""
    samples: list[tuple[str, dict[str, Any]]] = []
    seen_deals: set[str] = set()  # generic deals are the same for everyone: check them once
    for username, inputs in _demo_inputs():
        for context, source in _section_contexts(inputs, product_slug=product_slug):
            slug = context["product"]["slug"]
            if source == "personalised" and slot == Slot.PRODUCT_PERSONALISED:
                samples.append((username, context))
            elif source == "personalised" and slot == Slot.OFFER_CARD:
                samples += [(username, {**context, "offer": offer}) for offer in context["offers"]]
            elif source == "generic" and slug not in seen_deals and slot in (Slot.PRODUCT_GENERIC, Slot.DEAL_CARD):
                seen_deals.add(slug)
                if slot == Slot.PRODUCT_GENERIC:
                    samples.append(("deals", context))
                else:
                    samples += [("deals", {**context, "deal": deal}) for deal in context["deals"]]
    return samples


def preview_feed(*, username: str, template_set: TemplateSet) -> dict[str, Any]:
    """``username``'s home feed as it would look with ``template_set`` published."""
    user = get_user_model().objects.get(username=username)
    now = timezone.now()
    inputs = replace(home_feed_inputs(user=user, now=now), templates=template_set)
    return build_feed(inputs=inputs, now=now, stale_after=settings.DEALS_STALE_AFTER)
