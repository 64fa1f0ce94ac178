"""Reads for live updates: one product's section, not the whole feed.

A live change names a product (an offer for a user, a product's generic deals), so a connection
needs that product's section only, plus the products' home-screen order to place it. The
sections are the very ones ``selectors.home_feed`` returns (same fragment keys, same fragment
store, same rendering), so a screen patched with them has the version ``GET /api/v1/home/`` gives.

- ``user_product_section``: a user's section for one product (three small queries on a warm cache);
- ``generic_sections``: products' generic deals sections for several client versions at once
  (what the broadcast hub computes once per process for every connection it serves).
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from django.conf import settings
from django.contrib.auth.models import User
from django.utils import timezone

from ui_templates.selectors import published_templates

from . import fragments
from .feed import FeedInputs, OfferData, ProductInfo, build_section
from .fragment_index import (
    FeedProduct,
    deals_inputs,
    generic_index,
    offer_index,
    personal_version,
    products_for_feed,
    templates_revision,
)
from .fragments.keys import generic_key, personal_key
from .selectors import offer_data, offers_live_for_user

Section = dict[str, Any]


@dataclass(frozen=True)
class ProductSection:
    section: Section | None  # None: the product shows nothing to this user
    product_order: list[str]  # every active product's slug, in home-screen order
    # Every other product's generic section as of now (None: nothing to show): a generic section
    # turns stale with time, unannounced, so a screen patched with one product's section takes
    # the others' current versions too.
    generic: dict[str, Section | None]


@dataclass(frozen=True)
class GenericSections:
    product_order: list[str]
    # (client version, product slug) -> the product's generic section (None: nothing to show)
    sections: dict[tuple[int | None, str], Section | None]


def user_product_section(
    *, user: User, product_slug: str, client_version: int | None, now: datetime | None = None
) -> ProductSection:
    """``user``'s section for ``product_slug`` as ``home_feed`` would render it now."""
    now = now or timezone.now()
    products = products_for_feed()
    order = [p.slug for p in products]
    templates = templates_revision()
    others = [p for p in products if p.slug != product_slug]
    generic = {
        slug: section
        for (_, slug), section in _generic_for(
            products=others, templates=templates, client_versions=[client_version], now=now
        ).items()
    }
    product = next((p for p in products if p.slug == product_slug), None)
    if product is None:
        return ProductSection(section=None, product_order=order, generic=generic)
    offer_versions = offer_index(user=user, product_ids=[product.pk], now=now).versions
    if product.pk in offer_versions:
        version = personal_version(offers_version=offer_versions[product.pk], product=product, templates=templates)
        key = personal_key(user_id=user.pk, product_slug=product.slug, client_version=client_version, version=version)
    elif product.latest_snapshot_id:
        version = generic_index(product, templates=templates, now=now, stale_after=settings.DEALS_STALE_AFTER).version
        key = generic_key(product_slug=product.slug, client_version=client_version, version=version)
    else:
        return ProductSection(section=None, product_order=order, generic=generic)

    def render(missing: list[str]) -> dict[str, Section | None]:
        offers: dict[str, list[OfferData]] = {}
        if product.pk in offer_versions:
            offers[product.slug] = [
                offer_data(o) for o in offers_live_for_user(user=user, product_ids=[product.pk], now=now)
            ]
        inputs = FeedInputs(
            products=[ProductInfo(slug=product.slug, name=product.name)],
            offers=offers,
            deals={} if offers else deals_inputs([product]),
            templates=published_templates(),
        )
        section = build_section(
            product=ProductInfo(slug=product.slug, name=product.name),
            inputs=inputs,
            now=now,
            stale_after=settings.DEALS_STALE_AFTER,
            client_version=client_version,
        )
        return dict.fromkeys(missing, section)

    section = fragments.store().get_sections([key], render)[key]
    return ProductSection(section=section, product_order=order, generic=generic)


def generic_sections(
    *, product_slugs: Collection[str] | None, client_versions: Collection[int | None], now: datetime | None = None
) -> GenericSections:
    """The generic deals sections of ``product_slugs`` (None: every active product) for each of
    ``client_versions``; three queries on a warm cache, one render per missing fragment."""
    now = now or timezone.now()
    products = products_for_feed()
    wanted = [p for p in products if product_slugs is None or p.slug in product_slugs]
    sections = _generic_for(products=wanted, templates=templates_revision(), client_versions=client_versions, now=now)
    return GenericSections(product_order=[p.slug for p in products], sections=sections)


def _generic_for(
    *, products: list[FeedProduct], templates: str, client_versions: Collection[int | None], now: datetime
) -> dict[tuple[int | None, str], Section | None]:
    """``products``' generic sections per client version, through the fragment caches."""
    keys: dict[str, tuple[int | None, FeedProduct]] = {}
    for product in products:
        if not product.latest_snapshot_id:
            continue
        version = generic_index(product, templates=templates, now=now, stale_after=settings.DEALS_STALE_AFTER).version
        for client_version in client_versions:
            key = generic_key(product_slug=product.slug, client_version=client_version, version=version)
            keys[key] = (client_version, product)

    def render(missing: list[str]) -> dict[str, Section | None]:
        products_missing = list({keys[key][1].pk: keys[key][1] for key in missing}.values())
        inputs = FeedInputs(
            products=[ProductInfo(slug=p.slug, name=p.name) for p in products_missing],
            offers={},
            deals=deals_inputs(products_missing),
            templates=published_templates(),
        )
        return {
            key: build_section(
                product=ProductInfo(slug=keys[key][1].slug, name=keys[key][1].name),
                inputs=inputs,
                now=now,
                stale_after=settings.DEALS_STALE_AFTER,
                client_version=keys[key][0],
            )
            for key in missing
        }

    found = fragments.store().get_sections(list(keys), render) if keys else {}
    sections: dict[tuple[int | None, str], Section | None] = {
        (client_version, product.slug): None for client_version in client_versions for product in products
    }
    for key, (client_version, product) in keys.items():
        sections[(client_version, product.slug)] = found[key]
    return sections
