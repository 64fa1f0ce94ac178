"""Ranking: the order of sections on the home screen and of offers within a section.

Pure functions over plain values (no database, no clock), so that a given set of inputs always
gives the same order: the feed's version (its ETag) hashes the sections in order, and the view,
the fast path's stored documents and live updates must agree on it. Nothing here reads "now":
an order that drifted with time would change the feed's version unannounced.

**Sections** (one per product) are ordered by ``section_score``, highest first, ties by slug::

    section_score = rank_weight + CTR_WEIGHT * ctr

- ``rank_weight``: the product's priority, set in the admin;
- ``ctr``: the click-through rate of the template version that renders the product's sections,
  smoothed (``smoothed_ctr``: a prior of PRIOR_CTR worth PRIOR_IMPRESSIONS impressions, so a
  version shown three times does not jump the queue), over the last 30 days. It is computed by a
  periodic task (recommendations/interactions/ranking_inputs.py) and stored, rounded to 3 places; when the
  resulting order changes, every feed is announced as changed. Products without figures get
  no CTR term.

The section order is the same for every user, because live updates place a changed section in
one shared product order (the broadcast hub works per screen, not per user); what is personal is
within a section.

**Offers** within a personal section are ordered by ``offer_sort_key``: priority (higher first),
then offers the user has clicked before, then time to expiry (sooner first; never last), then
freshness (most recently updated first), then id. The user's dismissed offers are not there at
all (recommendations/fragment_index.py ``live_offers``). A section's offer order is fixed when its
fragment is rendered; every input of the key is part of the fragment's version (the offer index
hashes each offer's id, version, update time and clicked flag), so a change renders a new fragment.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

CTR_WEIGHT = 10.0  # 10% click-through adds one point of rank_weight
PRIOR_CTR = 0.05
PRIOR_IMPRESSIONS = 20


def smoothed_ctr(*, impressions: int, clicks: int) -> float:
    """Clicks per impression, pulled towards PRIOR_CTR when there are few impressions; in [0, 1]."""
    impressions, clicks = max(impressions, 0), max(min(clicks, impressions), 0)
    return round((clicks + PRIOR_CTR * PRIOR_IMPRESSIONS) / (impressions + PRIOR_IMPRESSIONS), 3)


@dataclass(frozen=True)
class SectionInputs:
    slug: str
    rank_weight: int
    ctr: float | None = None  # None: no figures yet


def section_score(inputs: SectionInputs) -> float:
    return inputs.rank_weight + (CTR_WEIGHT * inputs.ctr if inputs.ctr is not None else 0.0)


def section_order(sections: Sequence[SectionInputs]) -> list[str]:
    """Product slugs in home-screen order."""
    return [s.slug for s in sorted(sections, key=lambda s: (-section_score(s), s.slug))]


def offer_sort_key(
    *, offer_id: str, priority: int, clicked: bool, expires_at: datetime | None, updated_at: datetime | None
) -> tuple[int, int, int, float, float, str]:
    """Sort key of an offer within its section (ascending = first on screen)."""
    return (
        -priority,
        0 if clicked else 1,
        0 if expires_at is not None else 1,
        expires_at.timestamp() if expires_at is not None else 0.0,
        -(updated_at.timestamp()) if updated_at is not None else 0.0,
        offer_id,
    )
