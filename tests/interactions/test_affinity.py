"""The affinity score (pure) and ``product_affinity`` (the user's counts per product)."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from recommendations.interactions.affinity import AffinityCounts, affinity_score
from recommendations.interactions.models import Interaction, PlanSelection
from recommendations.interactions.selectors import product_affinity
from tests.factories import PlanFactory, ProductFactory, UserFactory


def test_score_weighs_engagement_against_dismissals() -> None:
    assert affinity_score(AffinityCounts()) == 0.0
    assert affinity_score(AffinityCounts(clicks=2, conversions=1, selections=1, dismissals=1)) == 2 + 3 + 2 - 2
    assert affinity_score(AffinityCounts(dismissals=3)) < 0


def _interaction(user, product, kind: str, n: int, *, days_ago: int = 0) -> None:
    for i in range(n):
        Interaction.objects.create(
            user=user,
            product=product,
            kind=kind,
            section_id=f"product-{product.slug}",
            client_event_id=f"{product.slug}-{kind}-{days_ago}-{i}",
            occurred_at=timezone.now() - timedelta(days=days_ago),
        )


@pytest.mark.django_db
def test_product_affinity_counts_the_users_own_recent_interactions() -> None:
    user, other = UserFactory.create(), UserFactory.create()
    mobile, tv = ProductFactory.create(slug="mobile"), ProductFactory.create(slug="tv")
    _interaction(user, mobile, "click", 2)
    _interaction(user, mobile, "convert", 1)
    _interaction(user, mobile, "impression", 5)  # impressions do not count
    _interaction(user, tv, "dismiss", 1)
    _interaction(user, tv, "click", 4, days_ago=120)  # outside the window
    _interaction(other, tv, "click", 9)  # another user's
    PlanSelection.objects.create(user=user, plan=PlanFactory.create(product=tv), product=tv)

    assert product_affinity(user_id=user.pk) == {"mobile": 5.0, "tv": 0.0}
    assert product_affinity(user_id=UserFactory.create().pk) == {}
