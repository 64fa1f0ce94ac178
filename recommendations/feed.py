"""Pure feed assembly: plain data in, the home feed document out (no database, no I/O).

The document (docs/api.md)::

    {"schema_version": 1, "version": "...", "generated_at": "...",
     "sections": [{"id", "product", "source", "stale", "as_of", "version", "component"}]}

A section's ``version`` is a hash of its content, and the feed's ``version`` a hash of its
sections' ids and versions, so an unchanged screen has an unchanged version (the HTTP ETag, and
what WebSocket clients ``resume`` from) whenever and wherever it is computed.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Literal

import orjson

from ui_templates.engine import RenderFailed
from ui_templates.rendering import render_section_component
from ui_templates.slots import Slot
from ui_templates.template_set import TemplateSet

from .ranking import offer_sort_key

logger = logging.getLogger(__name__)

SCHEMA_VERSION = 1

Source = Literal["personalised", "generic"]


@dataclass(frozen=True)
class ProductInfo:
    slug: str
    name: str


@dataclass(frozen=True)
class OfferData:
    id: str
    title: str
    body: str = ""
    image_url: str = ""
    price: dict[str, str] | None = None
    cta_label: str = "View offer"
    cta_url: str = ""
    priority: int = 0
    expires_at: datetime | None = None
    updated_at: datetime | None = None
    data: dict[str, Any] = field(default_factory=dict)
    clicked: bool = False  # the user has clicked it before (ranking.offer_sort_key)

    def is_live(self, now: datetime) -> bool:
        return self.expires_at is None or self.expires_at > now

    def as_context(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "title": self.title,
            "body": self.body,
            "image_url": self.image_url,
            "price": self.price,
            "cta_label": self.cta_label,
            "cta_url": self.cta_url,
            "priority": self.priority,
            "expires_at": _iso(self.expires_at),
            "data": self.data,
        }


@dataclass(frozen=True)
class DealsData:
    deals: list[dict[str, Any]]
    as_of: datetime  # when these deals were fetched
    # when a poll last confirmed them (None: at ``as_of``); ``stale`` counts from here
    confirmed_at: datetime | None = None


@dataclass(frozen=True)
class FeedInputs:
    """Everything a user's feed is made of, in home-screen order of ``products``."""

    products: Sequence[ProductInfo]
    offers: Mapping[str, Sequence[OfferData]]  # by product slug
    deals: Mapping[str, DealsData]  # by product slug
    templates: TemplateSet


def deal_context(deal: Mapping[str, Any]) -> dict[str, Any]:
    """A deal as templates see it: every documented field present (optional ones empty)."""
    context = {"description": "", "price": None, "url": "", **deal}
    if context["price"]:
        context["price"] = {"period": "", **context["price"]}
    return context


def _iso(moment: datetime | None) -> str | None:
    return moment.isoformat().replace("+00:00", "Z") if moment else None


def _digest(value: Any) -> str:
    return hashlib.sha256(orjson.dumps(value, option=orjson.OPT_SORT_KEYS)).hexdigest()[:20]


def section_id(product_slug: str) -> str:
    return f"product-{product_slug}"


def _section(
    *, product: ProductInfo, source: Source, stale: bool, as_of: datetime | None, component: dict[str, Any]
) -> dict[str, Any]:
    section = {
        "id": section_id(product.slug),
        "product": product.slug,
        "source": source,
        "stale": stale,
        "as_of": _iso(as_of),
        "component": component,
    }
    section["version"] = _digest(section)
    return section


def build_section(
    *,
    product: ProductInfo,
    inputs: FeedInputs,
    now: datetime,
    stale_after: timedelta,
    client_version: int | None = None,
) -> dict[str, Any] | None:
    """One product's section: its live offers, else its generic deals, else nothing."""
    sid = section_id(product.slug)
    product_ctx = {"slug": product.slug, "name": product.name}
    offers = sorted(
        (o for o in inputs.offers.get(product.slug, ()) if o.is_live(now)),
        key=lambda o: offer_sort_key(
            offer_id=o.id, priority=o.priority, clicked=o.clicked, expires_at=o.expires_at, updated_at=o.updated_at
        ),
    )
    try:
        if offers:
            component = render_section_component(
                templates=inputs.templates,
                slot=Slot.PRODUCT_PERSONALISED,
                product_slug=product.slug,
                context={"section_id": sid, "product": product_ctx, "offers": [o.as_context() for o in offers]},
                section_id=sid,
                client_version=client_version,
            )
            as_of = max((o.updated_at for o in offers if o.updated_at), default=None)
            return _section(product=product, source="personalised", stale=False, as_of=as_of, component=component)
        deals = inputs.deals.get(product.slug)
        if deals and deals.deals:
            component = render_section_component(
                templates=inputs.templates,
                slot=Slot.PRODUCT_GENERIC,
                product_slug=product.slug,
                context={"section_id": sid, "product": product_ctx, "deals": [deal_context(d) for d in deals.deals]},
                section_id=sid,
                client_version=client_version,
            )
            stale = now - (deals.confirmed_at or deals.as_of) > stale_after
            return _section(product=product, source="generic", stale=stale, as_of=deals.as_of, component=component)
    except (RenderFailed, ValueError):
        # Only reachable when the built-in template cannot render this data: leave the section
        # out rather than fail the whole screen.
        logger.exception("section %s could not be rendered", sid)
    return None


def build_feed(
    *, inputs: FeedInputs, now: datetime, stale_after: timedelta, client_version: int | None = None
) -> dict[str, Any]:
    """The whole home feed document for one user, for a client of ``client_version`` (None: newest)."""
    sections = [
        section
        for product in inputs.products
        if (
            section := build_section(
                product=product, inputs=inputs, now=now, stale_after=stale_after, client_version=client_version
            )
        )
    ]
    return assemble_feed(sections=sections, now=now)


def assemble_feed(*, sections: Sequence[dict[str, Any]], now: datetime) -> dict[str, Any]:
    """The feed document from its sections, already in home-screen order (rendered now or cached)."""
    sections = list(sections)
    return {
        "schema_version": SCHEMA_VERSION,
        "version": feed_version(sections),
        "generated_at": _iso(now),
        "sections": sections,
    }


def feed_version(sections: Sequence[Mapping[str, Any]]) -> str:
    return _digest([[s["id"], s["version"]] for s in sections])


@dataclass(frozen=True)
class FeedDiff:
    changed: list[dict[str, Any]]  # new or different sections
    removed: list[str]  # ids of sections no longer on the screen
    order: list[str]  # every section id, in order


def feed_diff(old: Mapping[str, Any], new: Mapping[str, Any]) -> FeedDiff:
    """What a client showing ``old`` must apply to show ``new``."""
    old_versions = {s["id"]: s["version"] for s in old["sections"]}
    new_ids = [s["id"] for s in new["sections"]]
    return FeedDiff(
        changed=[s for s in new["sections"] if old_versions.get(s["id"]) != s["version"]],
        removed=[sid for sid in old_versions if sid not in set(new_ids)],
        order=new_ids,
    )
