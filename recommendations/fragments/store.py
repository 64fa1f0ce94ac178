"""Looking fragments up: L1, then L2 in one round trip, then render what is missing.

Stampede protection on a miss, in two steps:

- inside a process, single flight: a key's renderer holds one of ``_STRIPES`` locks chosen by
  the key's hash; a request that wanted the same key waits for it, then finds it in L1;
- across processes, a short lease (``cache.add`` = ``SET NX EX`` of ``lease:<key>``, expiring after
  ``FRAGMENT_LEASE_SECONDS``): a process that does not get it polls L2 for up to
  ``FRAGMENT_LEASE_WAIT_SECONDS`` for the lease holder's result, then renders anyway (a slow or
  dead holder costs one duplicate render, never an unanswered request).
"""

from __future__ import annotations

import time
import zlib
from collections.abc import Callable
from contextlib import ExitStack
from threading import Lock
from typing import Any

from django.conf import settings

from . import l2, metrics
from .invalidation import Invalidator
from .l1 import L1Cache

Section = dict[str, Any]
# What a fragment holds when its product rendered to nothing (a cached "no section").
EMPTY: dict[str, Any] = {"empty": True}
Render = Callable[[list[str]], dict[str, Section | None]]

_STRIPES = [Lock() for _ in range(64)]
_POLL_SECONDS = 0.05


def _stripe(key: str) -> int:
    return zlib.crc32(key.encode()) % len(_STRIPES)


class FragmentStore:
    def __init__(self, *, l1: L1Cache) -> None:
        self.l1 = l1
        self.invalidator = Invalidator(l1)

    def get_sections(self, keys: list[str], render: Render) -> dict[str, Section | None]:
        """Each key's section (None: the product shows nothing); ``render(missing keys)`` makes
        the ones no layer has. One L2 round trip for everything L1 lacks."""
        self.invalidator.ensure_subscriber()
        found = self.l1.get_many(keys)
        metrics.count("l1", hits=len(found), misses=len(keys) - len(found))
        missing = [key for key in keys if key not in found]
        if missing:
            from_l2 = l2.get_many(missing)
            metrics.count("l2", hits=len(from_l2), misses=len(missing) - len(from_l2))
            for key, value in from_l2.items():
                self.l1.set(key, value)
            found.update(from_l2)
            missing = [key for key in missing if key not in found]
        if missing:
            found.update(self._fill(missing, render))
        return {key: None if found[key] == EMPTY else found[key] for key in keys}

    def _fill(self, missing: list[str], render: Render) -> dict[str, Any]:
        with ExitStack() as held:
            for stripe in sorted({_stripe(key) for key in missing}):
                held.enter_context(_STRIPES[stripe])
            # Another thread of this process may have filled some while we waited.
            filled = self.l1.get_many(missing)
            todo = [key for key in missing if key not in filled]
            leased = [key for key in todo if l2.lease(key)]
            try:
                waiting = [key for key in todo if key not in leased]
                if waiting:
                    filled.update(self._wait_for_others(waiting))
                todo = [key for key in todo if key not in filled]
                if todo:
                    rendered = {key: EMPTY if section is None else section for key, section in render(todo).items()}
                    metrics.RENDERS.inc(len(rendered))
                    for key, value in rendered.items():
                        self.l1.set(key, value)
                    l2.set_many(rendered)
                    filled.update(rendered)
            finally:
                for key in leased:
                    l2.release(key)
        return filled

    def _wait_for_others(self, keys: list[str]) -> dict[str, Any]:
        got: dict[str, Any] = {}
        deadline = time.monotonic() + settings.FRAGMENT_LEASE_WAIT_SECONDS
        while len(got) < len(keys) and time.monotonic() < deadline:
            time.sleep(_POLL_SECONDS)
            got.update(l2.get_many([key for key in keys if key not in got]))
        for key, value in got.items():
            self.l1.set(key, value)
        return got


_store: FragmentStore | None = None
_store_lock = Lock()


def store() -> FragmentStore:
    """This process's fragment store (created on first use, with the settings then in force)."""
    global _store
    if _store is None:
        with _store_lock:
            if _store is None:
                _store = FragmentStore(
                    l1=L1Cache(maxsize=settings.FRAGMENT_L1_MAXSIZE, ttl=settings.FRAGMENT_L1_TTL_SECONDS)
                )
    return _store
