"""recommendations/ranking.py: the documented scores, as pure functions."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from recommendations.ranking import (
    PRIOR_CTR,
    SectionInputs,
    offer_sort_key,
    section_order,
    section_score,
    smoothed_ctr,
)

T0 = datetime(2026, 11, 23, 12, tzinfo=UTC)


def test_smoothed_ctr_starts_at_the_prior_and_follows_the_figures() -> None:
    assert smoothed_ctr(impressions=0, clicks=0) == PRIOR_CTR
    assert smoothed_ctr(impressions=3, clicks=3) < 0.2  # three lucky clicks do not make a winner
    assert smoothed_ctr(impressions=10_000, clicks=2_000) == 0.2
    assert smoothed_ctr(impressions=10, clicks=50) <= 1.0  # more clicks than impressions: capped


def test_section_score_is_priority_plus_weighted_ctr() -> None:
    assert section_score(SectionInputs("a", rank_weight=3)) == 3
    assert section_score(SectionInputs("a", rank_weight=3, ctr=0.1)) == 4


def test_sections_by_score_then_slug() -> None:
    sections = [
        SectionInputs("tv", rank_weight=5),
        SectionInputs("mobile", rank_weight=5),
        SectionInputs("energy", rank_weight=4, ctr=0.2),  # 6: a well-clicked version lifts it
        SectionInputs("broadband", rank_weight=10),
    ]
    assert section_order(sections) == ["broadband", "energy", "mobile", "tv"]
    assert section_order(list(reversed(sections))) == section_order(sections)  # deterministic


def _key(
    offer_id: str, priority: int = 0, *, clicked: bool = False, expires: int | None = None, updated: int | None = None
) -> tuple[int, int, int, float, float, str]:
    return offer_sort_key(
        offer_id=offer_id,
        priority=priority,
        clicked=clicked,
        expires_at=T0 + timedelta(hours=expires) if expires is not None else None,
        updated_at=T0 + timedelta(hours=updated) if updated is not None else None,
    )


def test_offers_by_priority_clicks_expiry_freshness_then_id() -> None:
    keys = {
        "top": _key("top", 9),
        "clicked": _key("clicked", clicked=True),
        "ends-soon": _key("ends-soon", expires=1),
        "ends-later": _key("ends-later", expires=48),
        "new": _key("new", updated=5),
        "old": _key("old", updated=1),
        "b": _key("b"),
        "a": _key("a"),
    }
    assert sorted(keys, key=keys.__getitem__) == ["top", "clicked", "ends-soon", "ends-later", "new", "old", "a", "b"]
