"""Reads of the interactions app."""

from __future__ import annotations

from dataclasses import replace

from django.db.models import Count
from django.utils import timezone

from .affinity import AFFINITY_WINDOW, AffinityCounts, affinity_score
from .models import Interaction, PlanSelection


def product_affinity(*, user_id: int) -> dict[str, float]:
    """Product slug → the user's affinity score (interactions/affinity.py) over the last 90 days;
    ``{}`` when the user clicked, converted, dismissed and selected nothing. Two queries."""
    since = timezone.now() - AFFINITY_WINDOW
    counts: dict[str, AffinityCounts] = {}
    rows = (
        Interaction.objects.filter(
            user_id=user_id,
            occurred_at__gte=since,
            kind__in=[Interaction.Kind.CLICK, Interaction.Kind.CONVERT, Interaction.Kind.DISMISS],
        )
        .values_list("product__slug", "kind")
        .annotate(n=Count("id"))
        .order_by()
    )
    field = {
        Interaction.Kind.CLICK: "clicks",
        Interaction.Kind.CONVERT: "conversions",
        Interaction.Kind.DISMISS: "dismissals",
    }
    for slug, kind, n in rows:
        counts[slug] = replace(counts.get(slug, AffinityCounts()), **{field[Interaction.Kind(kind)]: n})
    selections = (
        PlanSelection.objects.filter(user_id=user_id, selected_at__gte=since)
        .values_list("product__slug")
        .annotate(n=Count("id"))
        .order_by()
    )
    for slug, n in selections:
        counts[slug] = replace(counts.get(slug, AffinityCounts()), selections=n)
    return {slug: affinity_score(c) for slug, c in sorted(counts.items())}
