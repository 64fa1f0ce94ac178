"""Ranking plans (pure; no I/O). docs/api.md, "Ranking", describes the scores.

Synchronous answer: a plan's score is the number of chosen options of multiple choice questions
it meets (all plans meet at least one per such question); higher first, then the base order of
the catalogue (cheapest, then the product's rank, slug, code: recommendations/plans/catalogue.py).

Refined answer (the enrichment task): the same score plus ``OFFER_BOOST`` when the user has live
personal offers for the plan's product, plus ``AFFINITY_WEIGHT`` times the user's affinity for
the product (recommendations/interactions/affinity.py: clicks, conversions and plan selections up, dismissals
down), that part clamped to ±``AFFINITY_CAP``; ties keep the synchronous order.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass

OFFER_BOOST = 1.0
AFFINITY_WEIGHT = 0.25
AFFINITY_CAP = 2.0


@dataclass(frozen=True, slots=True)
class Ranked:
    position: int  # the plan's bit position in the catalogue index
    score: float


def positions(mask: int) -> Iterator[int]:
    """The set bits of ``mask``, lowest first (the catalogue's base order)."""
    bits = bin(mask)[:1:-1]  # least significant first
    at = bits.find("1")
    while at >= 0:
        yield at
        at = bits.find("1", at + 1)


def score_levels(matched: int, preferences: list[int]) -> list[tuple[int, int]]:
    """``(score, mask)`` pairs, highest score first: the matched plans meeting exactly ``score``
    of the ``preferences`` masks. Counted bit-sliced (a binary counter per position, kept as one
    big integer per counter bit), so it costs a few operations per preference, not per plan."""
    if not preferences:
        return [(0, matched)] if matched else []
    counters: list[int] = []
    for preference in preferences:
        carry = preference & matched
        for bit, counter in enumerate(counters):
            counters[bit], carry = counter ^ carry, counter & carry
            if not carry:
                break
        if carry:
            counters.append(carry)
    levels = []
    for score in range(len(preferences), -1, -1):
        mask = matched
        for bit, counter in enumerate(counters):
            mask &= counter if score >> bit & 1 else ~counter
        if score >> len(counters):
            mask = 0
        if mask:
            levels.append((score, mask))
    return levels


def rank(matched: int, preferences: list[int], *, limit: int | None) -> list[Ranked]:
    """The matched plans in synchronous order, at most ``limit`` (None: all)."""
    ranked: list[Ranked] = []
    for score, mask in score_levels(matched, preferences):
        for position in positions(mask):
            if limit is not None and len(ranked) >= limit:
                return ranked
            ranked.append(Ranked(position=position, score=float(score)))
    return ranked


def refine(
    ranked: list[Ranked],
    *,
    products: list[str],
    offer_products: set[str] | frozenset[str],
    affinity: Mapping[str, float],
    limit: int | None,
) -> list[Ranked]:
    """``ranked`` (all matched plans in synchronous order) reordered for one user; ``products[i]``
    is the product slug of the plan at position ``i``."""

    def personal(item: Ranked) -> float:
        product = products[item.position]
        boost = OFFER_BOOST if product in offer_products else 0.0
        taste = max(-AFFINITY_CAP, min(AFFINITY_CAP, AFFINITY_WEIGHT * float(affinity.get(product, 0.0))))
        return item.score + boost + taste

    rescored = [Ranked(position=item.position, score=personal(item)) for item in ranked]
    ordered = sorted(enumerate(rescored), key=lambda pair: (-pair[1].score, pair[0]))
    result = [item for _, item in ordered]
    return result if limit is None else result[:limit]
