"""Pure functions over what one WebSocket connection's client shows (its *screen*).

A screen is the feed's sections in order and the feed version they make (``feed.feed_version``).
A live change replaces one product's section (or every section); these functions compute the new
screen and what the client must apply, with no database and no I/O, so the consumer and the
broadcast hub only look sections up and send.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from .feed import feed_diff, feed_version, section_id

Section = dict[str, Any]


@dataclass(frozen=True)
class Screen:
    sections: tuple[Section, ...]
    version: str

    @classmethod
    def of_feed(cls, feed: Mapping[str, Any]) -> Screen:
        return cls(sections=tuple(feed["sections"]), version=feed["version"])

    @classmethod
    def of_sections(cls, sections: Sequence[Section]) -> Screen:
        return cls(sections=tuple(sections), version=feed_version(sections))

    def source_of(self, product_slug: str) -> str | None:
        """``personalised``/``generic`` for the product's section on this screen, None if absent."""
        sid = section_id(product_slug)
        for section in self.sections:
            if section["id"] == sid:
                source: str = section["source"]
                return source
        return None

    def shows_personalised(self) -> bool:
        return any(section["source"] == "personalised" for section in self.sections)


@dataclass(frozen=True)
class Change:
    screen: Screen
    changed: list[Section]
    removed: list[str]
    order: list[str]


def change_between(old: Screen, new: Screen) -> Change | None:
    """What a client showing ``old`` applies to show ``new``; None if nothing changed."""
    if old.version == new.version:
        return None
    diff = feed_diff({"sections": old.sections}, {"sections": new.sections})
    return Change(screen=new, changed=diff.changed, removed=diff.removed, order=diff.order)


def with_product_section(
    screen: Screen, *, product_slug: str, section: Section | None, product_order: Sequence[str]
) -> Screen:
    """``screen`` with ``product_slug``'s section replaced by ``section`` (None: removed), in
    ``product_order`` (the active products' slugs in home-screen order; sections of products no
    longer in it are dropped, as the feed drops them)."""
    by_product = {s["product"]: s for s in screen.sections}
    if section is None:
        by_product.pop(product_slug, None)
    else:
        by_product[product_slug] = section
    return Screen.of_sections([by_product[slug] for slug in product_order if slug in by_product])


def refreshed_screen(
    screen: Screen,
    *,
    product_order: Sequence[str],
    generic: Mapping[str, Section | None],
    replace: Mapping[str, Section | None] | None = None,
) -> Screen:
    """``screen`` with the sections in ``replace`` (by product; None: removed) and, for every other
    product where it does not show the user's own offers, the product's current generic section
    from ``generic`` (None or absent: none); in ``product_order``, as the feed orders them."""
    replace = replace or {}
    by_product = {s["product"]: s for s in screen.sections}
    sections = []
    for slug in product_order:
        if slug in replace:
            section = replace[slug]
        elif (held := by_product.get(slug)) is not None and held["source"] == "personalised":
            section = held
        else:
            section = generic.get(slug)
        if section is not None:
            sections.append(section)
    return Screen.of_sections(sections)


def change_from_refs(refs: Sequence[Mapping[str, Any]], current: Screen) -> Change | None:
    """What a client holding the sections ``refs`` (their ids and versions) applies to show
    ``current``; None if it already shows it."""
    if feed_version(refs) == current.version:
        return None
    diff = feed_diff({"sections": refs}, {"sections": current.sections})
    return Change(screen=current, changed=diff.changed, removed=diff.removed, order=diff.order)
