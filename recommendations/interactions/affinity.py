"""The affinity score of a user for a product: a pure function over counts (no database).

    score = 1.0 * clicks + 3.0 * conversions + 2.0 * plan selections - 2.0 * dismissals

counted over the last ``AFFINITY_WINDOW`` (90 days). Impressions do not count: being shown
something says nothing about wanting it. A positive score means the user engages with the
product; a negative one that they mostly dismiss it. Used by the plan finder's enrichment and by
the feed's ranking (recommendations/ranking.py).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

AFFINITY_WINDOW = timedelta(days=90)

CLICK_WEIGHT = 1.0
CONVERT_WEIGHT = 3.0
SELECTION_WEIGHT = 2.0
DISMISS_WEIGHT = -2.0


@dataclass(frozen=True)
class AffinityCounts:
    clicks: int = 0
    conversions: int = 0
    dismissals: int = 0
    selections: int = 0


def affinity_score(counts: AffinityCounts) -> float:
    return (
        CLICK_WEIGHT * counts.clicks
        + CONVERT_WEIGHT * counts.conversions
        + SELECTION_WEIGHT * counts.selections
        + DISMISS_WEIGHT * counts.dismissals
    )
