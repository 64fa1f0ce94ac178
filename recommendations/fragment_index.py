"""The fragment index: which fragments a feed needs and their versions, read from the database.

Shared by the feed (``selectors.home_feed_document``) and live updates (``live_selectors``), so
that both find the same fragment keys and a screen patched live has the version
``GET /api/v1/home/`` gives.

Generic deals: a section's ``as_of`` is when its deals were fetched (the snapshot's time); it is
``stale`` once no poll has confirmed them (a 200 with the same content, or a 304) for
``DEALS_STALE_AFTER``. A confirming poll therefore changes nothing a client sees unless it ends
staleness, and products announce exactly that (products/services.py), so the feed's version
only changes with what it shows.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, NamedTuple

from django.contrib.auth.models import User
from django.db.models import DateTimeField, Exists, OuterRef, Q, Subquery

from products.models import DealSnapshot, Product
from products.selectors import deal_snapshots_by_id
from recommendations.interactions.models import Interaction, OfferDismissal, ProductRanking
from ui_templates.models import ComponentTemplate

from .feed import DealsData
from .fragments.keys import inputs_version
from .models import Offer
from .ranking import SectionInputs, section_order


def live_offers(now: datetime) -> Q:
    """Offers that may be shown at ``now``: not withdrawn, not expired, not dismissed by their user.

    A dismissal (interactions.OfferDismissal) therefore takes the offer out of the offer index
    too: the user's personal section gets a new version (a new fragment key) and, with its last
    offer dismissed, the product's generic section instead.
    """
    dismissed = OfferDismissal.objects.filter(
        user_id=OuterRef("user_id"), product_id=OuterRef("product_id"), offer_id=OuterRef("external_id")
    )
    return Q(withdrawn=False) & (Q(expires_at__isnull=True) | Q(expires_at__gt=now)) & Q(~Exists(dismissed))


@dataclass(frozen=True)
class FeedProduct:
    """What the feed needs of an active product: its identity and rank, and its deals' state."""

    pk: int
    slug: str
    name: str
    rank_weight: int
    ranking_ctr: float | None  # the stored click-through rate (ranking.py); None: no figures yet
    latest_snapshot_id: int | None  # its newest deal snapshot (None: none yet)
    latest_snapshot_at: datetime | None  # when that snapshot was fetched
    last_success_at: datetime | None  # the last successful poll


def in_feed_order(products: Iterable[FeedProduct]) -> list[FeedProduct]:
    """``products`` in home-screen order (recommendations/ranking.py)."""
    products = list(products)
    order = section_order([SectionInputs(p.slug, p.rank_weight, p.ranking_ctr) for p in products])
    by_slug = {p.slug: p for p in products}
    return [by_slug[slug] for slug in order]


def products_for_feed() -> list[FeedProduct]:
    """Active products in home-screen order (recommendations/ranking.py: rank weight and the
    stored click-through rate of their template version), each with its newest snapshot's id and
    fetch time and its last successful poll; one query."""
    latest = DealSnapshot.objects.filter(product=OuterRef("pk")).order_by("-fetched_at", "-id")
    rows = (
        Product.objects.filter(active=True)
        .annotate(
            latest_snapshot_id=Subquery(latest.values("id")[:1]),
            latest_snapshot_at=Subquery(latest.values("fetched_at")[:1], output_field=DateTimeField()),
            ranking_ctr=Subquery(ProductRanking.objects.filter(product=OuterRef("pk")).values("ctr")[:1]),
        )
        .order_by("-rank_weight", "slug")
        .values_list(
            "pk",
            "slug",
            "name",
            "rank_weight",
            "ranking_ctr",
            "latest_snapshot_id",
            "latest_snapshot_at",
            "poll_state__last_success_at",
        )
    )
    return in_feed_order(FeedProduct(*row) for row in rows)


def offers_clicked() -> Exists:
    """Annotation: the offer's user has clicked it (ranking.offer_sort_key)."""
    return Exists(
        Interaction.objects.filter(
            user_id=OuterRef("user_id"),
            product_id=OuterRef("product_id"),
            offer_id=OuterRef("external_id"),
            kind=Interaction.Kind.CLICK,
        )
    )


class DealSnapshotRow(NamedTuple):
    deals: list[dict[str, Any]]
    fetched_at: datetime


class OfferIndex(NamedTuple):
    versions: dict[int, str]  # per product with live offers for the user: those offers' version
    expires_at: datetime | None  # when the first of those offers expires (None: none expires)


class OfferIndexRow(NamedTuple):
    product_id: int
    external_id: str
    version: int
    updated_at: datetime
    expires_at: datetime | None
    clicked: bool


def offer_index_of(rows: Iterable[OfferIndexRow]) -> OfferIndex:
    """The offer index of a user's live offers, ordered by product and external id."""
    by_product: dict[int, list[tuple[str, int, datetime, bool]]] = {}
    expiries: list[datetime] = []
    for row in rows:
        by_product.setdefault(row.product_id, []).append((row.external_id, row.version, row.updated_at, row.clicked))
        if row.expires_at is not None:
            expiries.append(row.expires_at)
    return OfferIndex(
        versions={product_id: inputs_version(offers) for product_id, offers in by_product.items()},
        expires_at=min(expiries, default=None),
    )


def offer_index(*, user: User, product_ids: list[int], now: datetime) -> OfferIndex:
    """Per product where the user has live offers, a version of those offers (ids, versions,
    update times, whether the user clicked them: what their order depends on), and the first of
    their expiry times; one query over a few columns, no offer is loaded."""
    rows = (
        Offer.objects.filter(live_offers(now), user=user, product_id__in=product_ids)
        .annotate(clicked=offers_clicked())
        .order_by("product_id", "external_id")
        .values_list("product_id", "external_id", "version", "updated_at", "expires_at", "clicked")
    )
    return offer_index_of(OfferIndexRow(*row) for row in rows)


def templates_revision_of(rows: Iterable[tuple[str, int]]) -> str:
    """A version of the set of live templates from their (key, published version id), by key."""
    return inputs_version(list(rows))


def templates_revision() -> str:
    """A version of the set of live templates (which version of which template); one query.

    Published versions are immutable, so their primary keys are their content's identity.
    """
    return templates_revision_of(
        ComponentTemplate.objects.filter(published_version__isnull=False)
        .order_by("key")
        .values_list("key", "published_version_id")
    )


def deals_confirmed_at(product: FeedProduct, snapshot_fetched_at: datetime) -> datetime:
    """When ``product``'s newest deals were last known to be current: the last successful poll,
    or their fetch if that is later."""
    return max(product.last_success_at or snapshot_fetched_at, snapshot_fetched_at)


@dataclass(frozen=True)
class GenericIndex:
    version: str  # of the product's generic section
    stale: bool
    turns_stale_at: datetime | None  # None: stale already


def generic_index(product: FeedProduct, *, templates: str, now: datetime, stale_after: timedelta) -> GenericIndex:
    """The version of ``product``'s generic deals section (it must have a snapshot)."""
    assert product.latest_snapshot_at is not None, "generic_index needs a product with deals"
    confirmed = deals_confirmed_at(product, product.latest_snapshot_at)
    stale = now - confirmed > stale_after
    snapshot = (product.latest_snapshot_id, product.latest_snapshot_at)
    version = inputs_version(snapshot, stale, product.name, templates)
    return GenericIndex(version=version, stale=stale, turns_stale_at=None if stale else confirmed + stale_after)


def personal_version(*, offers_version: str, product: FeedProduct, templates: str) -> str:
    """The version of a user's section for ``product`` made of offers with ``offers_version``."""
    return inputs_version(offers_version, product.name, templates)


def deals_of(products: Iterable[FeedProduct], snapshots: Mapping[int, DealSnapshotRow]) -> dict[str, DealsData]:
    """Each of ``products``' newest deals as rendering takes them, from their snapshots by id."""
    return {
        p.slug: DealsData(
            deals=snapshot.deals, as_of=snapshot.fetched_at, confirmed_at=deals_confirmed_at(p, snapshot.fetched_at)
        )
        for p in products
        if p.latest_snapshot_id is not None and (snapshot := snapshots.get(p.latest_snapshot_id)) is not None
    }


def deals_inputs(products: list[FeedProduct]) -> dict[str, DealsData]:
    """The newest deal snapshot of each of ``products``, as rendering takes them; one query."""
    snapshots = deal_snapshots_by_id(snapshot_ids=[p.latest_snapshot_id for p in products if p.latest_snapshot_id])
    return deals_of(products, {pk: DealSnapshotRow(s.deals, s.fetched_at) for pk, s in snapshots.items()})
