"""L1: this process's fragments, short-lived and bounded (``cachetools.TTLCache`` under a lock)."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from threading import Lock
from typing import Any

from cachetools import TTLCache


class L1Cache:
    def __init__(self, *, maxsize: int, ttl: float) -> None:
        self._entries: TTLCache[str, Any] = TTLCache(maxsize=maxsize, ttl=ttl)
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

    def drop(self, predicate: Callable[[str], bool]) -> int:
        """Drop every entry whose key ``predicate`` accepts; how many were dropped."""
        with self._lock:
            doomed = [key for key in self._entries if predicate(key)]
            for key in doomed:
                self._entries.pop(key, None)
            return len(doomed)

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()

    def __len__(self) -> int:
        with self._lock:
            return len(self._entries)
