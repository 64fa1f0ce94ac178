"""L1: this process's fragments, short-lived and bounded (``cachetools.TTLCache`` under a lock).

Keys are also indexed by their user or product (``keys.group``), so that dropping one user's or
one product's fragments touches those entries only, not the whole cache (an invalidation comes
with every pushed offer). The index may name entries that have expired meanwhile; it is rebuilt
from the live entries when it outgrows them.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from threading import Lock
from typing import Any

from cachetools import TTLCache

from . import keys


class L1Cache:
    def __init__(self, *, maxsize: int, ttl: float) -> None:
        self._entries: TTLCache[str, Any] = TTLCache(maxsize=maxsize, ttl=ttl)
        self._groups: dict[str, set[str]] = {}
        self._indexed = 0  # keys in ``_groups``, live or not
        self._lock = Lock()

    def get_many(self, keys: Iterable[str]) -> dict[str, Any]:
        with self._lock:
            return {key: value for key in keys if (value := self._entries.get(key)) is not None}

    def get(self, key: str) -> Any:
        with self._lock:
            return self._entries.get(key)

    def set(self, key: str, value: Any) -> None:
        with self._lock:
            self._entries[key] = value
            group = keys.group(key)
            if group is not None:
                members = self._groups.setdefault(group, set())
                if key not in members:
                    members.add(key)
                    self._indexed += 1
            if self._indexed > 2 * self._entries.maxsize + 64:
                self._reindex()

    def _reindex(self) -> None:
        self._groups.clear()
        self._indexed = 0
        for key in list(self._entries.keys()):
            group = keys.group(key)
            if group is not None:
                self._groups.setdefault(group, set()).add(key)
                self._indexed += 1

    def drop(self, predicate: Callable[[str], bool], *, group: str | None = None) -> int:
        """Drop every entry whose key ``predicate`` accepts, looking only at ``group``'s entries
        when given (a user's or a product's: ``keys.group_of_invalidation``); how many."""
        with self._lock:
            if group is None:
                doomed = [key for key in self._entries if predicate(key)]
            else:
                members = self._groups.get(group, set())
                doomed = [key for key in members if predicate(key)]
                members.difference_update(doomed)
                self._indexed -= len(doomed)
                if not members:
                    self._groups.pop(group, None)
            dropped = 0
            for key in doomed:
                if self._entries.pop(key, None) is not None:
                    dropped += 1
            return dropped

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()
            self._groups.clear()
            self._indexed = 0

    def __len__(self) -> int:
        with self._lock:
            return len(self._entries)
