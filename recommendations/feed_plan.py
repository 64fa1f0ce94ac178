"""Which fragments a user's feed is made of, decided from the fragment index alone (pure).

The feed's two builders share this plan: the view's (``selectors.home_feed_document``: the ORM
and django-redis) and the fast path's (``feed_build.py``: one pipelined PostgreSQL round trip and
asyncio Redis). Both read the same index (fragment_index.py), hand it here, and so ask for the
same fragment keys: a section rendered by one is found by the other.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from ui_templates.template_set import TemplateSet

from .feed import DealsData, FeedInputs, OfferData, ProductInfo
from .fragment_index import FeedProduct, OfferIndex, generic_index, personal_version
from .fragments.keys import generic_key, personal_key


@dataclass(frozen=True)
class PlannedSection:
    key: str  # the fragment key (its inputs' version included)
    product: FeedProduct
    personal: bool  # the user's offers (else the product's generic deals)


@dataclass(frozen=True)
class FeedPlan:
    sections: list[PlannedSection]  # in home-screen order
    # When the feed stops being the answer without any change being announced: the first offer
    # in it expires, or a generic section's deals turn stale (None: only an announced change).
    valid_until: datetime | None


def plan_feed(
    *,
    user_id: int,
    products: Sequence[FeedProduct],
    offers: OfferIndex,
    templates: str,
    client_version: int | None,
    now: datetime,
    stale_after: timedelta,
) -> FeedPlan:
    """One section per product in ``products`` (home-screen order): the user's offers where they
    have live ones, else the product's generic deals where it has any, else none."""
    sections: list[PlannedSection] = []
    ends: list[datetime] = [offers.expires_at] if offers.expires_at is not None else []
    for product in products:
        if product.pk in offers.versions:
            version = personal_version(offers_version=offers.versions[product.pk], product=product, templates=templates)
            key = personal_key(
                user_id=user_id, product_slug=product.slug, client_version=client_version, version=version
            )
            sections.append(PlannedSection(key, product, personal=True))
        elif product.latest_snapshot_id:
            generic = generic_index(product, templates=templates, now=now, stale_after=stale_after)
            if generic.turns_stale_at is not None:
                ends.append(generic.turns_stale_at)
            key = generic_key(product_slug=product.slug, client_version=client_version, version=generic.version)
            sections.append(PlannedSection(key, product, personal=False))
    return FeedPlan(sections=sections, valid_until=min(ends, default=None))


def render_inputs(
    *,
    sections: Iterable[PlannedSection],
    offers: Mapping[str, Sequence[OfferData]],
    deals: Mapping[str, DealsData],
    templates: TemplateSet,
) -> FeedInputs:
    """What rendering ``sections`` takes: their products, the offers of the personal ones (by
    product slug) and the deals of the generic ones."""
    sections = list(sections)
    personal = {s.product.slug for s in sections if s.personal}
    return FeedInputs(
        products=[ProductInfo(slug=s.product.slug, name=s.product.name) for s in sections],
        offers={slug: offers[slug] for slug in personal if slug in offers},
        deals={s.product.slug: deals[s.product.slug] for s in sections if not s.personal and s.product.slug in deals},
        templates=templates,
    )
