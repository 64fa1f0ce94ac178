"""Reads for recommendations: the home feed and what it is made of.

``home_feed`` reads through the fragment caches (recommendations/fragments/): it asks the
database only for what decides which fragments a user needs and their versions (the fragment
index: three small queries), then takes the sections from L1/L2 and renders only what is missing.
``home_feed_inputs`` loads everything for an uncached render (the template admin's preview).
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Any, NamedTuple, Protocol

from django.conf import settings
from django.contrib.auth.models import User
from django.utils import timezone

from ui_templates.selectors import published_templates

from . import fragments
from .feed import FeedInputs, OfferData, ProductInfo, assemble_feed, build_feed, build_section
from .feed_plan import PlannedSection, plan_feed, render_inputs
from .fragment_index import (
    deals_inputs,
    live_offers,
    offer_index,
    offers_clicked,
    products_for_feed,
    templates_revision,
)
from .models import Offer


class OfferFields(Protocol):
    """An offer's fields as rendering reads them: an ``Offer``, or a row of feed_sql.py."""

    @property
    def external_id(self) -> str: ...
    @property
    def title(self) -> str: ...
    @property
    def body(self) -> str: ...
    @property
    def image_url(self) -> str: ...
    @property
    def price_amount(self) -> Decimal | None: ...
    @property
    def price_currency(self) -> str: ...
    @property
    def price_period(self) -> str: ...
    @property
    def cta_label(self) -> str: ...
    @property
    def cta_url(self) -> str: ...
    @property
    def priority(self) -> int: ...
    @property
    def expires_at(self) -> datetime | None: ...
    @property
    def updated_at(self) -> datetime: ...
    @property
    def data(self) -> Any: ...


def offer_data(offer: OfferFields) -> OfferData:
    price = None
    if offer.price_amount is not None:
        price = {"amount": str(offer.price_amount), "currency": offer.price_currency, "period": offer.price_period}
    return OfferData(
        id=offer.external_id,
        title=offer.title,
        body=offer.body,
        image_url=offer.image_url,
        price=price,
        cta_label=offer.cta_label,
        cta_url=offer.cta_url,
        priority=offer.priority,
        expires_at=offer.expires_at,
        updated_at=offer.updated_at,
        data=offer.data,
        clicked=bool(getattr(offer, "clicked", False)),
    )


def offers_live_for_user(*, user: User, product_ids: list[int], now: datetime) -> list[Offer]:
    """The user's offers that may be shown now (not withdrawn, not expired); one query."""
    return list(
        Offer.objects.filter(live_offers(now), user=user, product_id__in=product_ids)
        .annotate(clicked=offers_clicked())
        .select_related("product")
    )


def home_feed_inputs(*, user: User, now: datetime) -> FeedInputs:
    """Load everything a user's feed needs in a fixed number of queries (four)."""
    products = products_for_feed()
    offers: dict[str, list[OfferData]] = {}
    for offer in offers_live_for_user(user=user, product_ids=[p.pk for p in products], now=now):
        offers.setdefault(offer.product.slug, []).append(offer_data(offer))
    return FeedInputs(
        products=[ProductInfo(slug=p.slug, name=p.name) for p in products],
        offers=offers,
        deals=deals_inputs([p for p in products if p.latest_snapshot_id]),
        templates=published_templates(),
    )


def home_feed_uncached(*, user: User, now: datetime | None = None, client_version: int | None = None) -> dict[str, Any]:
    """The home feed rendered from the database, no cache involved."""
    now = now or timezone.now()
    return build_feed(
        inputs=home_feed_inputs(user=user, now=now),
        now=now,
        stale_after=settings.DEALS_STALE_AFTER,
        client_version=client_version,
    )


# --- the feed from the fragment caches ------------------------------------------------------------


class HomeFeedDocument(NamedTuple):
    feed: dict[str, Any]
    # When this document stops being the answer without any change being announced: the first
    # offer in it expires, or a generic section's deals turn stale. None: only an announced
    # change (recommendations/live.py) makes it out of date.
    valid_until: datetime | None


def home_feed(*, user: User, now: datetime | None = None, client_version: int | None = None) -> dict[str, Any]:
    """The home feed document for ``user`` as a client of ``client_version`` renders it (feed.py),
    from the fragment caches (see ``home_feed_document``)."""
    return home_feed_document(user=user, now=now, client_version=client_version).feed


def home_feed_document(
    *, user: User, now: datetime | None = None, client_version: int | None = None
) -> HomeFeedDocument:
    """The home feed for ``user`` and how long it stays valid unless a change is announced.

    Queries: three on a warm cache (products with their deals' identity, the user's live offers'
    versions, the live templates' versions); on misses one more per kind of data missing (the
    missing products' offers, their deal snapshots, the live templates).
    """
    now = now or timezone.now()
    stale_after = settings.DEALS_STALE_AFTER
    products = products_for_feed()
    offers = offer_index(user=user, product_ids=[p.pk for p in products], now=now)
    plan = plan_feed(
        user_id=user.pk,
        products=products,
        offers=offers,
        templates=templates_revision(),
        client_version=client_version,
        now=now,
        stale_after=stale_after,
    )

    def render(missing: list[str]) -> dict[str, dict[str, Any] | None]:
        wanted = [s for s in plan.sections if s.key in set(missing)]
        inputs = _inputs_for(user=user, sections=wanted, now=now)
        return {
            s.key: build_section(
                product=ProductInfo(slug=s.product.slug, name=s.product.name),
                inputs=inputs,
                now=now,
                stale_after=stale_after,
                client_version=client_version,
            )
            for s in wanted
        }

    keys = [s.key for s in plan.sections]
    sections = fragments.store().get_sections(keys, render)
    feed = assemble_feed(sections=[s for key in keys if (s := sections[key]) is not None], now=now)
    return HomeFeedDocument(feed=feed, valid_until=plan.valid_until)


def _inputs_for(*, user: User, sections: list[PlannedSection], now: datetime) -> FeedInputs:
    """What rendering ``sections`` needs: their offers or deal snapshots, and the live templates
    (a query each, only for what is needed)."""
    personal = [s.product.pk for s in sections if s.personal]
    offers: dict[str, list[OfferData]] = {}
    if personal:
        for offer in offers_live_for_user(user=user, product_ids=personal, now=now):
            offers.setdefault(offer.product.slug, []).append(offer_data(offer))
    generic = [s.product for s in sections if not s.personal]
    return render_inputs(
        sections=sections,
        offers=offers,
        deals=deals_inputs(generic) if generic else {},
        templates=published_templates(),
    )
