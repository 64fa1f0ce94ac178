"""The stored ranking inputs (``ProductRanking``): each product's smoothed click-through rate for
the template version that renders its sections, refreshed by beat (``ranking_refresh``).

Per product, the template version with the most recent interactions is taken as the current
one, and its impressions and clicks over the last ``RANKING_WINDOW`` (30 days) give its CTR
(recommendations/ranking.py ``smoothed_ctr``). When the refreshed figures change the order of
the products' sections, every feed is announced as changed (``feed_changed_for_all``): the order
is part of the feed's version, and documents the fast path stores must not keep the old one.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from django.db import transaction
from django.db.models import Count, Max, Q
from django.utils import timezone

from products.models import Product
from recommendations import live
from recommendations.fragment_index import products_for_feed
from recommendations.ranking import smoothed_ctr

from .models import Interaction, ProductRanking

RANKING_WINDOW = timedelta(days=30)


def ranking_refresh(*, now: datetime | None = None) -> bool:
    """Recompute every active product's ranking inputs; True when the home-screen order changed
    (and was announced)."""
    now = now or timezone.now()
    rows = (
        Interaction.objects.filter(occurred_at__gte=now - RANKING_WINDOW, product__active=True)
        .exclude(template_key="")
        .values("product_id", "template_key", "template_version")
        .annotate(
            impressions=Count("id", filter=Q(kind=Interaction.Kind.IMPRESSION)),
            clicks=Count("id", filter=Q(kind=Interaction.Kind.CLICK)),
            last=Max("occurred_at"),
        )
        .order_by("product_id", "-last", "template_key", "template_version")
    )
    current: dict[int, tuple[str, int | None, int, int]] = {}
    for row in rows:  # the most recently used version of each product first
        current.setdefault(
            row["product_id"], (row["template_key"], row["template_version"], row["impressions"], row["clicks"])
        )
    with transaction.atomic():
        before = [p.slug for p in products_for_feed()]
        for product in Product.objects.filter(active=True):
            figures = current.get(product.pk)
            if figures is None:
                ProductRanking.objects.filter(product=product).delete()
                continue
            template_key, template_version, impressions, clicks = figures
            ProductRanking.objects.update_or_create(
                product=product,
                defaults={
                    "template_key": template_key,
                    "template_version": template_version,
                    "impressions": impressions,
                    "clicks": clicks,
                    "ctr": smoothed_ctr(impressions=impressions, clicks=clicks),
                    "computed_at": now,
                },
            )
        changed = [p.slug for p in products_for_feed()] != before
        if changed:
            live.feed_changed_for_all(reason="ranking.changed")
    return changed
