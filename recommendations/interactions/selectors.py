"""Reads of the interactions app."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, date, datetime
from typing import Literal

from django.db.models import Count
from django.db.models.functions import TruncDate
from django.utils import timezone

from .affinity import AFFINITY_WINDOW, AffinityCounts, affinity_score
from .models import Interaction, PlanSelection


def product_affinity(*, user_id: int) -> dict[str, float]:
    """Product slug → the user's affinity score (recommendations/interactions/affinity.py) over the last 90 days;
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


def interaction_daily_counts(
    *, since: datetime, until: datetime, by: Literal["template", "offer"], product_id: int | None = None
) -> list[tuple[str, date, str, int]]:
    """``(label, day, kind, count)`` of impressions, clicks and conversions between ``since`` and
    ``until`` (UTC days), labelled ``<template key> v<version>`` or ``<product>/<offer id>``; one
    query."""
    rows = Interaction.objects.filter(
        occurred_at__gte=since,
        occurred_at__lt=until,
        kind__in=[Interaction.Kind.IMPRESSION, Interaction.Kind.CLICK, Interaction.Kind.CONVERT],
    )
    if product_id is not None:
        rows = rows.filter(product_id=product_id)
    if by == "template":
        rows = rows.exclude(template_key="")
        fields = ("template_key", "template_version")
    else:
        rows = rows.exclude(offer_id="")
        fields = ("product__slug", "offer_id")
    counted = (
        rows.annotate(day=TruncDate("occurred_at", tzinfo=UTC))
        .values_list(*fields, "day", "kind")
        .annotate(n=Count("id"))
        .order_by()
    )
    result: list[tuple[str, date, str, int]] = []
    for first, second, day, kind, n in counted:
        label = f"{first} v{second}" if by == "template" else f"{first}/{second}"
        if by == "template" and second is None:
            label = str(first)
        result.append((label, day, kind, n))
    return result
