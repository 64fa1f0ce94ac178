"""Looking fragments up on the event loop: the same layers and keys as ``store.py``, asyncio I/O.

The fast path's builder (recommendations/feed_build.py) takes sections from here; the view takes
them from ``store.FragmentStore``. Both use this process's one L1 (``store().l1``) and the same
L2 entries (django-redis' key format and value encoding, read and written with ``redis.asyncio``),
so what one renders the other finds. The steps are the synchronous store's:

- L1, then one ``MGET`` for what L1 lacks;
- single flight inside the process: a key being rendered by another request on this loop is
  awaited, not rendered again;
- a render lease across processes (``SET NX PX`` of ``lease:<key>`` for all missing keys in one
  pipeline); a key leased elsewhere is polled in L2 for up to ``FRAGMENT_LEASE_WAIT_SECONDS``, then
  rendered anyway;
- the rendered fragments, their key sets (``fragset:*``) and the released leases in one pipeline.

Redis errors are handled as in ``l2.py``: counted, treated as misses, L2 skipped for
``FRAGMENT_L2_RETRY_SECONDS`` (the same pause as the synchronous side's).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from typing import Any

import redis.asyncio as aioredis
from django.conf import settings
from django.core.cache import cache

from . import keys, l2, metrics
from .l1 import L1Cache
from .store import EMPTY, Section

logger = logging.getLogger(__name__)

Render = Callable[[list[str]], dict[str, Section | None]]
_POLL_SECONDS = 0.05
_REDIS_ERRORS = (aioredis.RedisError, OSError)


def l2_usable() -> bool:
    """Whether L2 is django-redis (whose format this module writes)."""
    return callable(getattr(getattr(cache, "client", None), "encode", None))


def l2_url() -> str:
    return str(settings.CACHES["default"]["LOCATION"])


class AsyncFragmentStore:
    def __init__(self, *, l1: L1Cache, ensure_subscriber: Callable[[], None]) -> None:
        self.l1 = l1
        self._ensure_subscriber = ensure_subscriber
        self._loop: asyncio.AbstractEventLoop | None = None
        self._flights: dict[str, asyncio.Future[Any]] = {}

    async def get_sections(self, client: aioredis.Redis, keys: list[str], render: Render) -> dict[str, Section | None]:
        """Each key's section (None: the product shows nothing); ``render(missing keys)`` makes
        what no layer has."""
        self._ensure_subscriber()
        found = self.l1.get_many(keys)
        metrics.count("l1", hits=len(found), misses=len(keys) - len(found))
        missing = [key for key in keys if key not in found]
        if missing:
            from_l2 = await self._get_many(client, missing)
            metrics.count("l2", hits=len(from_l2), misses=len(missing) - len(from_l2))
            for key, value in from_l2.items():
                self.l1.set(key, value)
            found.update(from_l2)
            missing = [key for key in missing if key not in found]
        if missing:
            found.update(await self._fill(client, missing, render))
        return {key: None if found[key] == EMPTY else found[key] for key in keys}

    def _flights_here(self) -> dict[str, asyncio.Future[Any]]:
        loop = asyncio.get_running_loop()
        if self._loop is not loop:
            self._loop, self._flights = loop, {}
        return self._flights

    async def _fill(self, client: aioredis.Redis, missing: list[str], render: Render) -> dict[str, Any]:
        flights = self._flights_here()
        others = {key: flights[key] for key in missing if key in flights}
        mine = [key for key in missing if key not in others]
        loop = asyncio.get_running_loop()
        for key in mine:
            flights[key] = loop.create_future()
        filled: dict[str, Any] = {}
        try:
            if mine:
                filled.update(await self._lease_and_render(client, mine, render))
        except BaseException as exc:
            for key in mine:
                if not flights[key].done():
                    flights[key].set_exception(exc)
                    flights[key].exception()  # retrieved: the error is this request's to raise
            raise
        finally:
            for key in mine:
                future = flights.pop(key)
                if not future.done():
                    future.set_result(filled.get(key, EMPTY))
        for key, future in others.items():
            filled[key] = await future
        return filled

    async def _lease_and_render(self, client: aioredis.Redis, todo: list[str], render: Render) -> dict[str, Any]:
        leased = await self._lease(client, todo)
        filled: dict[str, Any] = {}
        rendered: dict[str, Any] = {}
        try:
            waiting = [key for key in todo if key not in leased]
            if waiting:
                filled.update(await self._wait_for_others(client, waiting))
            todo = [key for key in todo if key not in filled]
            if todo:
                rendered = {key: EMPTY if section is None else section for key, section in render(todo).items()}
                metrics.RENDERS.inc(len(rendered))
                for key, value in rendered.items():
                    self.l1.set(key, value)
                filled.update(rendered)
        finally:
            await self._store(client, rendered, released=leased)
        return filled

    async def _get_many(self, client: aioredis.Redis, wanted: list[str]) -> dict[str, Any]:
        if not wanted or not l2.available():
            return {}
        try:
            values = await client.mget([cache.make_key(key) for key in wanted])
        except _REDIS_ERRORS:
            l2.failed("get_many")
            return {}
        decode = cache.client.decode  # type: ignore[attr-defined]
        return {key: decode(value) for key, value in zip(wanted, values, strict=True) if value is not None}

    async def _lease(self, client: aioredis.Redis, wanted: list[str]) -> set[str]:
        """The keys whose render lease this request took (all of them when Redis cannot say:
        rendering twice is the lesser evil)."""
        if not l2.available():
            return set(wanted)
        lease_ms = int(settings.FRAGMENT_LEASE_SECONDS * 1000)
        try:
            pipe = client.pipeline(transaction=False)
            for key in wanted:
                pipe.set(cache.make_key(f"lease:{key}"), 1, nx=True, px=lease_ms)
            taken = await pipe.execute()
        except _REDIS_ERRORS:
            l2.failed("lease")
            return set(wanted)
        return {key for key, ok in zip(wanted, taken, strict=True) if ok}

    async def _wait_for_others(self, client: aioredis.Redis, wanted: list[str]) -> dict[str, Any]:
        got: dict[str, Any] = {}
        loop = asyncio.get_running_loop()
        deadline = loop.time() + settings.FRAGMENT_LEASE_WAIT_SECONDS
        while len(got) < len(wanted) and loop.time() < deadline:
            await asyncio.sleep(_POLL_SECONDS)
            got.update(await self._get_many(client, [key for key in wanted if key not in got]))
        for key, value in got.items():
            self.l1.set(key, value)
        return got

    async def _store(self, client: aioredis.Redis, values: dict[str, Any], *, released: set[str]) -> None:
        """Write rendered fragments and their key sets, release leases (one pipeline), as
        ``l2.set_many`` and ``l2.release`` do (a time to live of 0 deletes, as django-redis does)."""
        if not (values or released) or not l2.available():
            return
        ttl = settings.FRAGMENT_L2_TTL_SECONDS
        encode = cache.client.encode  # type: ignore[attr-defined]
        try:
            pipe = client.pipeline(transaction=False)
            doomed = [cache.make_key(f"lease:{key}") for key in released]
            groups: dict[str, list[str]] = {}
            for key, value in values.items():
                if ttl > 0:
                    pipe.set(cache.make_key(key), encode(value), px=int(ttl * 1000))
                else:
                    doomed.append(cache.make_key(key))
                group = keys.group(key)
                if group is not None:
                    groups.setdefault(cache.make_key(group), []).append(key)
            for group, members in groups.items():
                pipe.sadd(group, *members)
                pipe.expire(group, ttl)
            if doomed:
                pipe.delete(*doomed)
            await pipe.execute()
        except _REDIS_ERRORS:
            l2.failed("set_many")
