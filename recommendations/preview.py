"""Data for the template admin: sample users' whole feeds, and the demo users' offers and deals.

``ui_templates`` cannot import this app, so these are registered with ``ui_templates/hooks.py``
in ``RecommendationsConfig.ready``:

- :func:`demo_samples`: contexts to dry-render a template with before it is published, built
  exactly as ``feed.build_section`` builds them;
- :func:`preview_feed`: a preview user's home feed rendered with a given template set (a draft
  swapped into the published ones), through the real pipeline.

The preview users (:func:`preview_users`) are fixtures: ``sample-offers`` (offers for every
product) and ``sample-deals`` (generic deals for every product), made up here and no account
of anyone. Only with ``DEBUG`` on are the demo accounts (alice, bob, carol, which ``seed_demo``
creates only then) previewed and their offers checked too: in production an account named
alice is a customer, whose data marketers must not see.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.contrib.auth import get_user_model
from django.utils import timezone

from ui_templates.samples import SAMPLE_DEALS, SAMPLE_OFFERS
from ui_templates.slots import Slot
from ui_templates.template_set import TemplateSet

from .demo import DEMO_USERS
from .feed import DealsData, FeedInputs, OfferData, ProductInfo, build_feed, deal_context, section_id
from .fragment_index import products_for_feed
from .selectors import home_feed_inputs

SAMPLE_OFFERS_USER = "sample-offers"
SAMPLE_DEALS_USER = "sample-deals"
SAMPLE_USERS = (SAMPLE_OFFERS_USER, SAMPLE_DEALS_USER)


def preview_users() -> tuple[str, ...]:
    """Who the admin previews: the demo accounts with ``DEBUG`` on, and always the fixtures."""
    return (*DEMO_USERS, *SAMPLE_USERS) if settings.DEBUG else SAMPLE_USERS


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
    """The demo users' real contexts for a template filling ``slot`` (for one product, or all);
    none without ``DEBUG`` (the demo accounts exist only then)."""
    if not settings.DEBUG:
        return []
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


def _fixture_inputs(username: str, *, template_set: TemplateSet, now: datetime) -> FeedInputs:
    """A sample user's feed inputs: made-up offers or deals for each active product."""
    products = [ProductInfo(slug=p.slug, name=p.name) for p in products_for_feed()]
    if username == SAMPLE_OFFERS_USER:
        offers = {
            product.slug: [
                OfferData(
                    id=f"{product.slug}-{offer['id']}",
                    title=offer["title"],
                    body=offer["body"],
                    price=offer["price"],
                    cta_label=offer["cta_label"],
                    cta_url=offer["cta_url"],
                    priority=offer["priority"],
                    expires_at=now + timedelta(days=30) if offer["expires_at"] else None,
                )
                for offer in SAMPLE_OFFERS
            ]
            for product in products
        }
        return FeedInputs(products=products, offers=offers, deals={}, templates=template_set)
    deals = {
        product.slug: DealsData(
            deals=[{**deal, "id": f"{product.slug}-{deal['id']}"} for deal in SAMPLE_DEALS], as_of=now
        )
        for product in products
    }
    return FeedInputs(products=products, offers={}, deals=deals, templates=template_set)


def preview_feed(*, username: str, template_set: TemplateSet) -> dict[str, Any]:
    """``username``'s home feed as it would look with ``template_set`` published (a preview user)."""
    if username not in preview_users():
        raise LookupError(f"{username!r} is not a preview user")
    now = timezone.now()
    if username in SAMPLE_USERS:
        inputs = _fixture_inputs(username, template_set=template_set, now=now)
    else:
        user = get_user_model().objects.get(username=username)
        inputs = replace(home_feed_inputs(user=user, now=now), templates=template_set)
    return build_feed(inputs=inputs, now=now, stale_after=settings.DEALS_STALE_AFTER)
