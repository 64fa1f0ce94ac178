"""Reads for recommendations: the home feed and what it is made of.

``home_feed`` reads through the fragment caches (recommendations/fragments/): it asks the
database only for what decides which fragments a user needs and their versions (the fragment
index: three small queries), then takes the sections from L1/L2 and renders only what is missing.
``home_feed_inputs`` loads everything for an uncached render (the template admin's preview).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, NamedTuple

from django.conf import settings
from django.contrib.auth.models import User
from django.db.models import DateTimeField, OuterRef, Q, Subquery
from django.utils import timezone

from products.models import DealSnapshot, Product
from products.selectors import deal_snapshots_by_id, products_active
from ui_templates.models import ComponentTemplate
from ui_templates.selectors import published_templates

from . import fragments
from .feed import DealsData, FeedInputs, OfferData, ProductInfo, assemble_feed, build_feed, build_section
from .fragments.keys import generic_key, inputs_version, personal_key
from .models import Offer


def offer_data(offer: Offer) -> OfferData:
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
    )


def offers_live_for_user(*, user: User, product_ids: list[int], now: datetime) -> list[Offer]:
    """The user's offers that may be shown now (not withdrawn, not expired); one query."""
    return list(
        Offer.objects.filter(user=user, product_id__in=product_ids, withdrawn=False)
        .filter(Q(expires_at__isnull=True) | Q(expires_at__gt=now))
        .select_related("product")
    )


def home_feed_inputs(*, user: User, now: datetime) -> FeedInputs:
    """Load everything a user's feed needs in a fixed number of queries (four)."""
    products = products_active()
    snapshots = deal_snapshots_by_id(
        snapshot_ids=[p.latest_snapshot_id for p in products if p.latest_snapshot_id]  # type: ignore[attr-defined]
    )
    offers: dict[str, list[OfferData]] = {}
    for offer in offers_live_for_user(user=user, product_ids=[p.pk for p in products], now=now):
        offers.setdefault(offer.product.slug, []).append(offer_data(offer))
    deals: dict[str, DealsData] = {}
    for product in products:
        snapshot = snapshots.get(product.latest_snapshot_id)  # type: ignore[attr-defined]
        if snapshot is None:
            continue
        state = getattr(product, "poll_state", None)
        confirmed = state.last_success_at if state and state.last_success_at else snapshot.fetched_at
        deals[product.slug] = DealsData(deals=snapshot.deals, as_of=max(confirmed, snapshot.fetched_at))
    return FeedInputs(
        products=[ProductInfo(slug=p.slug, name=p.name) for p in products],
        offers=offers,
        deals=deals,
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


# --- the fragment index: which fragments a user's feed needs, and their versions -----------------


def _live(now: datetime) -> Q:
    return Q(withdrawn=False) & (Q(expires_at__isnull=True) | Q(expires_at__gt=now))


def _products_for_feed() -> list[Product]:
    """Active products in home-screen order, each with its poll state and its newest snapshot's id
    and fetch time (``latest_snapshot_id``, ``latest_snapshot_at``); one query."""
    latest = DealSnapshot.objects.filter(product=OuterRef("pk")).order_by("-fetched_at", "-id")
    return list(
        Product.objects.filter(active=True)
        .select_related("poll_state")
        .annotate(
            latest_snapshot_id=Subquery(latest.values("id")[:1]),
            latest_snapshot_at=Subquery(latest.values("fetched_at")[:1], output_field=DateTimeField()),
        )
        .order_by("-rank_weight", "slug")
    )


class _OfferIndex(NamedTuple):
    versions: dict[int, str]  # per product with live offers for the user: those offers' version
    expires_at: datetime | None  # when the first of those offers expires (None: none expires)


def _offer_index(*, user: User, product_ids: list[int], now: datetime) -> _OfferIndex:
    """Per product where the user has live offers, a version of those offers (ids, versions,
    update times), and the first of their expiry times; one query over a few columns, no offer
    is loaded."""
    rows: dict[int, list[tuple[str, int, datetime]]] = {}
    expiries: list[datetime] = []
    for product_id, external_id, version, updated_at, expires_at in (
        Offer.objects.filter(_live(now), user=user, product_id__in=product_ids)
        .order_by("product_id", "external_id")
        .values_list("product_id", "external_id", "version", "updated_at", "expires_at")
    ):
        rows.setdefault(product_id, []).append((external_id, version, updated_at))
        if expires_at is not None:
            expiries.append(expires_at)
    return _OfferIndex(
        versions={product_id: inputs_version(offers) for product_id, offers in rows.items()},
        expires_at=min(expiries, default=None),
    )


def _templates_revision() -> str:
    """A version of the set of live templates (which version of which template); one query.

    Published versions are immutable, so their primary keys are their content's identity.
    """
    return inputs_version(
        list(
            ComponentTemplate.objects.filter(published_version__isnull=False)
            .order_by("key")
            .values_list("key", "published_version_id")
        )
    )


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
    products = _products_for_feed()
    offer_index = _offer_index(user=user, product_ids=[p.pk for p in products], now=now)
    offer_versions = offer_index.versions
    templates = _templates_revision()
    wanted: list[tuple[str, Product]] = []
    turns_stale: list[datetime] = []
    for product in products:
        if product.pk in offer_versions:
            version = inputs_version(offer_versions[product.pk], product.name, templates)
            key = personal_key(
                user_id=user.pk, product_slug=product.slug, client_version=client_version, version=version
            )
        elif product.latest_snapshot_id:  # type: ignore[attr-defined]
            as_of = _deals_as_of(product, product.latest_snapshot_at)  # type: ignore[attr-defined]
            stale = now - as_of > stale_after
            if not stale:
                turns_stale.append(as_of + stale_after)
            version = inputs_version(
                product.latest_snapshot_id,  # type: ignore[attr-defined]
                as_of,
                stale,
                product.name,
                templates,
            )
            key = generic_key(product_slug=product.slug, client_version=client_version, version=version)
        else:
            continue
        wanted.append((key, product))

    def render(missing: list[str]) -> dict[str, dict[str, Any] | None]:
        by_key = {key: product for key, product in wanted if key in set(missing)}
        inputs = _inputs_for(user=user, products=list(by_key.values()), offer_versions=offer_versions, now=now)
        return {
            key: build_section(
                product=ProductInfo(slug=product.slug, name=product.name),
                inputs=inputs,
                now=now,
                stale_after=stale_after,
                client_version=client_version,
            )
            for key, product in by_key.items()
        }

    sections = fragments.store().get_sections([key for key, _ in wanted], render)
    feed = assemble_feed(sections=[s for key, _ in wanted if (s := sections[key]) is not None], now=now)
    ends = [moment for moment in (offer_index.expires_at, *turns_stale) if moment is not None]
    return HomeFeedDocument(feed=feed, valid_until=min(ends, default=None))


def _deals_as_of(product: Product, snapshot_fetched_at: datetime) -> datetime:
    state = getattr(product, "poll_state", None)
    confirmed = state.last_success_at if state and state.last_success_at else snapshot_fetched_at
    return max(confirmed, snapshot_fetched_at)


def _inputs_for(*, user: User, products: list[Product], offer_versions: dict[int, str], now: datetime) -> FeedInputs:
    """What rendering ``products``' sections needs: their offers or deal snapshots, and the
    live templates (a query each, only for what is needed)."""
    personal = [p.pk for p in products if p.pk in offer_versions]
    offers: dict[str, list[OfferData]] = {}
    if personal:
        for offer in offers_live_for_user(user=user, product_ids=personal, now=now):
            offers.setdefault(offer.product.slug, []).append(offer_data(offer))
    generic = [p for p in products if p.pk not in offer_versions]
    snapshots = deal_snapshots_by_id(snapshot_ids=[p.latest_snapshot_id for p in generic])  # type: ignore[attr-defined]
    deals: dict[str, DealsData] = {}
    for product in generic:
        snapshot = snapshots.get(product.latest_snapshot_id)  # type: ignore[attr-defined]
        if snapshot is not None:
            deals[product.slug] = DealsData(deals=snapshot.deals, as_of=_deals_as_of(product, snapshot.fetched_at))
    return FeedInputs(
        products=[ProductInfo(slug=p.slug, name=p.name) for p in products],
        offers=offers,
        deals=deals,
        templates=published_templates(),
    )
