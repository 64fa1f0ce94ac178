"""Sets of templates to render with: the published ones (or a draft over them), plus built-ins.

Compiled templates are cached per (key, version tag), so each template version compiles once
per process.
"""

from __future__ import annotations

import hashlib
from collections import OrderedDict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from threading import Lock
from typing import Any

import orjson

from .defaults import BUILT_IN, built_in_key
from .engine import CompiledTemplate, compile_template
from .schema import Issue

_CACHE_SIZE = 1024
_cache: OrderedDict[tuple[str, str], CompiledTemplate] = OrderedDict()
_cache_lock = Lock()


def compiled(key: str, revision: str, tree: Any) -> CompiledTemplate:
    """The compiled form of one template revision (compiled on first use, then cached)."""
    cache_key = (key, revision)
    with _cache_lock:
        hit = _cache.get(cache_key)
        if hit is not None:
            _cache.move_to_end(cache_key)
            return hit
    result = compile_template(key, tree)
    with _cache_lock:
        _cache[cache_key] = result
        while len(_cache) > _CACHE_SIZE:
            _cache.popitem(last=False)
    return result


def built_in(slot: str) -> CompiledTemplate:
    return compiled(built_in_key(slot), "builtin", BUILT_IN[slot])


@dataclass(frozen=True)
class TemplateEntry:
    key: str
    version_tag: str  # e.g. "v3"; names the version in logs and metrics
    tree: Any
    slot: str = ""
    product_slug: str = ""
    # What the compile cache keys on: the immutable version's primary key for published versions;
    # for drafts and tests, a hash of the tree (computed when not given).
    revision: str = ""

    def __post_init__(self) -> None:
        if not self.revision:
            digest = hashlib.sha256(orjson.dumps(self.tree, option=orjson.OPT_SORT_KEYS)).hexdigest()[:16]
            object.__setattr__(self, "revision", f"tree:{digest}")


@dataclass(frozen=True)
class TemplateSet:
    """Templates by key and by (slot, product); anything a slot lacks falls back to the built-in."""

    entries: Mapping[str, TemplateEntry] = field(default_factory=dict)
    # for_slot's answers: the set never changes, and every included card asks again
    _for_slot: dict[tuple[str, str], CompiledTemplate] = field(
        default_factory=dict, init=False, repr=False, compare=False
    )

    @classmethod
    def of(cls, entries: Iterable[TemplateEntry]) -> TemplateSet:
        return cls({entry.key: entry for entry in entries})

    def with_entry(self, entry: TemplateEntry) -> TemplateSet:
        """This set with one template replaced (a draft previewed over the published set)."""
        return TemplateSet({**self.entries, entry.key: entry})

    def by_key(self, key: str) -> CompiledTemplate | None:
        entry = self.entries.get(key)
        return compiled(entry.key, entry.revision, entry.tree) if entry else None

    def entry_for_slot(self, slot: str, product_slug: str) -> TemplateEntry | None:
        fallback = None
        for entry in self.entries.values():
            if entry.slot == slot and entry.product_slug == product_slug:
                return entry
            if entry.slot == slot and entry.product_slug == "":
                fallback = entry
        return fallback

    def for_slot(self, slot: str, product_slug: str) -> CompiledTemplate:
        found = self._for_slot.get((slot, product_slug))
        if found is None:
            entry = self.entry_for_slot(slot, product_slug)
            found = compiled(entry.key, entry.revision, entry.tree) if entry else built_in(slot)
            self._for_slot[(slot, product_slug)] = found
        return found

    def version_tag(self, key: str) -> str:
        entry = self.entries.get(key)
        return entry.version_tag if entry else "builtin"


BUILT_INS_ONLY = TemplateSet()


def include_issues(template: CompiledTemplate, source: TemplateSet, product_slugs: Iterable[str]) -> list[Issue]:
    """Missing references and include cycles reachable from ``template``, for every product."""
    issues: dict[str, Issue] = {}

    def visit(current: CompiledTemplate, product: str, chain: tuple[str, ...]) -> None:
        for ref in sorted(current.refs):
            included = source.by_key(ref)
            if included is None:
                issues[f"ref:{ref}"] = Issue(
                    "$", f"references template {ref!r}, which does not exist or is unpublished"
                )
                continue
            step(included, product, chain)
        for slot in sorted(current.slots):
            if slot not in BUILT_IN:
                issues[f"slot:{slot}"] = Issue("$", f"includes unknown slot {slot!r}")
                continue
            step(source.for_slot(slot, product), product, chain)

    def step(included: CompiledTemplate, product: str, chain: tuple[str, ...]) -> None:
        if included.key in chain:
            cycle = " → ".join((*chain[chain.index(included.key) :], included.key))
            issues[f"cycle:{cycle}"] = Issue("$", f"include cycle: {cycle}")
            return
        visit(included, product, (*chain, included.key))

    for product in [*product_slugs, ""]:
        visit(template, product, (template.key,))
    return list(issues.values())
