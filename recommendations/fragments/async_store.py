"""Looking fragments up on the event loop: the same layers and keys as ``store.py``, asyncio I/O.

The fast path's builder (recommendations/feed_build.py) takes sections from here; the view takes
them from ``store.FragmentStore``. Both use this process's one L1 (``store().l1``) and the same
L2 entries (django-redis' key format and value encoding, read and written with ``redis.asyncio``),
so what one renders the other finds. The steps are the synchronous store's, in fewer round trips:

- L1;
- single flight inside the process: a key another request on this loop is already looking up or
  rendering is awaited, not looked up or rendered again;
- one round trip for everything else: a script that returns each key's value from L2 or, for a
  key L2 lacks, takes its render lease across processes (``SET NX PX`` of ``lease:<key>``), as the
  synchronous store's ``get_many`` then ``lease`` do in two; a key leased elsewhere is polled in
  L2 for up to ``FRAGMENT_LEASE_WAIT_SECONDS``, then rendered anyway;
- render what is still missing;
- the rendered fragments, their key sets (``fragset:*``) and the released leases are returned as
  ``Writes``, for the caller to send with its own writes in one pipeline.

Redis errors are handled as in ``l2.py``: counted, treated as misses, L2 skipped for
``FRAGMENT_L2_RETRY_SECONDS`` (the same pause as the synchronous side's).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import redis.asyncio as aioredis
from django.conf import settings
from django.core.cache import caches
from redis.asyncio.client import Pipeline
from redis.commands.core import AsyncScript

from . import keys, l2, metrics
from .l1 import L1Cache
from .store import EMPTY, Section

logger = logging.getLogger(__name__)

Render = Callable[[list[str]], Awaitable[dict[str, Section | None]]]
REDIS_ERRORS = (aioredis.RedisError, OSError)
_POLL_SECONDS = 0.05

# KEYS: n fragment keys, then their n lease keys; ARGV[1]: the lease's lifetime in milliseconds.
# Answers per key: its value (in L2), 1 (not in L2, lease taken here) or 0 (leased elsewhere).
_GET_OR_LEASE = """
local n = #KEYS / 2
local out = {}
for i = 1, n do
  local value = redis.call('GET', KEYS[i])
  if value then
    out[i] = value
  elseif redis.call('SET', KEYS[n + i], '1', 'NX', 'PX', ARGV[1]) then
    out[i] = 1
  else
    out[i] = 0
  end
end
return out
"""


def _backend() -> Any:
    """The cache L2 is in (``caches`` looks it up in a context-local: once per lookup, not per key)."""
    return caches["default"]


def l2_usable() -> bool:
    """Whether L2 is django-redis (whose format this module writes)."""
    return callable(getattr(getattr(_backend(), "client", None), "encode", None))


def l2_url() -> str:
    return str(settings.CACHES["default"]["LOCATION"])


@dataclass
class Writes:
    """What a lookup leaves to write to L2: fragments it rendered, leases it took."""

    rendered: dict[str, Any] = field(default_factory=dict)
    leased: set[str] = field(default_factory=set)

    def __bool__(self) -> bool:
        return bool(self.rendered or self.leased)

    def add_to(self, pipe: Pipeline) -> None:
        """Queue them on ``pipe``, as ``l2.set_many`` and ``l2.release`` write them (a time to
        live of 0 deletes, as django-redis does)."""
        if not self or not l2.available():
            return
        ttl = settings.FRAGMENT_L2_TTL_SECONDS
        backend = _backend()
        make_key, encode = backend.make_key, backend.client.encode
        doomed = [make_key(f"lease:{key}") for key in self.leased]
        groups: dict[str, list[str]] = {}
        for key, value in self.rendered.items():
            if ttl <= 0:  # nothing is kept (django-redis deletes), so nothing is indexed either
                doomed.append(make_key(key))
                continue
            pipe.set(make_key(key), encode(value), px=int(ttl * 1000))
            group = keys.group(key)
            if group is not None:
                groups.setdefault(make_key(group), []).append(key)
        for group, members in groups.items():
            pipe.sadd(group, *members)
            pipe.expire(group, ttl)
        if doomed:
            pipe.delete(*doomed)


class AsyncFragmentStore:
    def __init__(self, *, l1: L1Cache, ensure_subscriber: Callable[[], None]) -> None:
        self.l1 = l1
        self._ensure_subscriber = ensure_subscriber
        self._loop: asyncio.AbstractEventLoop | None = None
        self._flights: dict[str, asyncio.Future[Any]] = {}
        self._scripts: dict[int, AsyncScript] = {}  # by client: EVALSHA, loading the script when Redis lacks it

    async def get_sections(
        self, client: aioredis.Redis, keys: list[str], render: Render
    ) -> tuple[dict[str, Section | None], Writes]:
        """Each key's section (None: the product shows nothing), ``await render(missing keys)``
        making what no layer has; and what is left to write to L2 (``Writes.add_to``)."""
        self._ensure_subscriber()
        found = self.l1.get_many(keys)
        metrics.count("l1", hits=len(found), misses=len(keys) - len(found))
        writes = Writes()
        missing = [key for key in keys if key not in found]
        if missing:
            found.update(await self._fill(client, missing, render, writes))
        return {key: None if found[key] == EMPTY else found[key] for key in keys}, writes

    def _flights_here(self) -> dict[str, asyncio.Future[Any]]:
        loop = asyncio.get_running_loop()
        if self._loop is not loop:
            self._loop, self._flights = loop, {}
        return self._flights

    async def _fill(self, client: aioredis.Redis, missing: list[str], render: Render, writes: Writes) -> dict[str, Any]:
        flights = self._flights_here()
        others = {key: flights[key] for key in missing if key in flights}
        mine = [key for key in missing if key not in others]
        loop = asyncio.get_running_loop()
        for key in mine:
            flights[key] = loop.create_future()
        filled: dict[str, Any] = {}
        try:
            if mine:
                filled.update(await self._look_up_and_render(client, mine, render, writes))
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

    async def _look_up_and_render(
        self, client: aioredis.Redis, todo: list[str], render: Render, writes: Writes
    ) -> dict[str, Any]:
        filled, writes.leased = await self._get_or_lease(client, todo)
        metrics.count("l2", hits=len(filled), misses=len(todo) - len(filled))
        for key, value in filled.items():
            self.l1.set(key, value)
        waiting = [key for key in todo if key not in filled and key not in writes.leased]
        if waiting:
            filled.update(await self._wait_for_others(client, waiting))
        todo = [key for key in todo if key not in filled]
        if todo:
            rendered = {key: EMPTY if section is None else section for key, section in (await render(todo)).items()}
            metrics.RENDERS.inc(len(rendered))
            for key, value in rendered.items():
                self.l1.set(key, value)
            filled.update(rendered)
            writes.rendered = rendered
        return filled

    async def _get_or_lease(self, client: aioredis.Redis, wanted: list[str]) -> tuple[dict[str, Any], set[str]]:
        """The values L2 has, and the keys whose render lease this request took (all of those
        missing when Redis cannot say: rendering twice is the lesser evil)."""
        if not l2.available():
            return {}, set(wanted)
        backend = _backend()
        raw = [backend.make_key(key) for key in wanted] + [backend.make_key(f"lease:{key}") for key in wanted]
        script = self._scripts.get(id(client))
        if script is None or script.registered_client is not client:
            script = self._scripts[id(client)] = client.register_script(_GET_OR_LEASE)
        try:
            answers = await script(keys=raw, args=[int(settings.FRAGMENT_LEASE_SECONDS * 1000)])
        except REDIS_ERRORS:
            l2.failed("get_many")
            return {}, set(wanted)
        decode = backend.client.decode
        values: dict[str, Any] = {}
        leased: set[str] = set()
        for key, answer in zip(wanted, answers, strict=True):
            if isinstance(answer, bytes):
                values[key] = decode(answer)
            elif answer == 1:
                leased.add(key)
        return values, leased

    async def _get_many(self, client: aioredis.Redis, wanted: list[str]) -> dict[str, Any]:
        if not wanted or not l2.available():
            return {}
        backend = _backend()
        try:
            values = await client.mget([backend.make_key(key) for key in wanted])
        except REDIS_ERRORS:
            l2.failed("get_many")
            return {}
        decode = backend.client.decode
        return {key: decode(value) for key, value in zip(wanted, values, strict=True) if value is not None}

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
