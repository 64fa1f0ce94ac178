from __future__ import annotations

from datetime import datetime

from django.db.models import OuterRef, Subquery

from .models import DealSnapshot, Product


def products_active() -> list[Product]:
    """Active products in home-screen order, each with its poll state and the id of its newest
    deal snapshot (``latest_snapshot_id``); one query."""
    latest = DealSnapshot.objects.filter(product=OuterRef("pk")).order_by("-fetched_at", "-id").values("id")[:1]
    return list(
        Product.objects.filter(active=True)
        .select_related("poll_state")
        .annotate(latest_snapshot_id=Subquery(latest))
        .order_by("-rank_weight", "slug")
    )


def deal_snapshots_by_id(*, snapshot_ids: list[int]) -> dict[int, DealSnapshot]:
    """Snapshots by primary key; one query (none for an empty list)."""
    if not snapshot_ids:
        return {}
    return {s.pk: s for s in DealSnapshot.objects.filter(pk__in=snapshot_ids)}


def products_due_for_deals_poll(*, now: datetime) -> list[Product]:
    """Active products with a deals endpoint whose poll interval has passed since the last poll."""
    due = []
    for product in Product.objects.filter(active=True).exclude(deals_endpoint="").select_related("poll_state"):
        state = getattr(product, "poll_state", None)
        last = state.last_polled_at if state else None
        if last is None or (now - last).total_seconds() >= product.poll_interval_seconds:
            due.append(product)
    return due
