"""How many ``/ws/home/`` sockets each user holds, across every server process.

A user may hold ``LIVE_MAX_SOCKETS_PER_USER`` sockets (0: no limit); the next handshake is closed
with 4429 (consumers.py). The count lives in Redis (``REDIS_URL``), so it holds across processes:

- a sorted set per user, ``<REDIS_KEY_PREFIX>:live:sockets:<user>``: one member per socket (its
  channel name), scored with the end of its lease (epoch seconds);
- ``claim``: one Lua script drops ended leases, counts, and adds the socket if under the limit,
  so two processes racing for the last place cannot both take it;
- ``renew``: each process's hub timer renews its sockets' leases (every ``LIVE_SWEEP_SECONDS``;
  one script per thousand sockets);
- ``release``: on disconnect.

A process that dies renews nothing: its sockets' leases end within ``lease_seconds()`` (four
sweeps, at least 10 s) and their places are free again. Without ``REDIS_URL`` (one process, the
in-memory channel layer) the same code runs against an in-process fakeredis.
"""

from __future__ import annotations

import asyncio
import time
import weakref
from collections.abc import Iterable

import fakeredis
import redis.asyncio as aioredis
from django.conf import settings

from homeservice.fast_path import RedisClients

_CLAIM = """
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', ARGV[1])
if redis.call('ZCARD', KEYS[1]) >= tonumber(ARGV[3]) then
  return 0
end
redis.call('ZADD', KEYS[1], ARGV[2], ARGV[4])
redis.call('EXPIRE', KEYS[1], ARGV[5])
return 1
"""

# KEYS: one user's key per socket; ARGV: lease end, key TTL, then the sockets in KEYS' order.
_RENEW = """
for i, key in ipairs(KEYS) do
  redis.call('ZADD', key, ARGV[1], ARGV[i + 2])
  redis.call('EXPIRE', key, ARGV[2])
end
return #KEYS
"""
_RENEW_BATCH = 1000

_clients = RedisClients()
# Without REDIS_URL: one in-process server, a client per event loop.
_local_server = fakeredis.FakeServer()
_local_clients: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, fakeredis.FakeAsyncRedis] = (
    weakref.WeakKeyDictionary()
)


def limit() -> int:
    return int(settings.LIVE_MAX_SOCKETS_PER_USER)


def lease_seconds() -> float:
    return max(10.0, 4 * float(settings.LIVE_SWEEP_SECONDS))


def _key(user_id: int) -> str:
    return f"{settings.REDIS_KEY_PREFIX}:live:sockets:{user_id}"


def _redis() -> aioredis.Redis:
    if settings.REDIS_URL:
        return _clients.get(settings.REDIS_URL)
    loop = asyncio.get_running_loop()
    client = _local_clients.get(loop)
    if client is None:
        client = _local_clients[loop] = fakeredis.FakeAsyncRedis(server=_local_server)
    return client


async def claim(*, user_id: int, socket: str) -> bool:
    """Take a place for ``socket``; False when the user already holds the limit. Raises the Redis
    client's error when Redis is unreachable."""
    if limit() <= 0:
        return True
    now = time.time()
    lease = lease_seconds()
    result = await _redis().eval(_CLAIM, 1, _key(user_id), now, now + lease, limit(), socket, int(lease) + 1)
    return bool(result)


async def renew(sockets: Iterable[tuple[int, str]]) -> None:
    """Extend the leases of ``(user id, socket)`` this process holds (a script per thousand
    sockets); a lease lost meanwhile (Redis was unreachable longer than a lease) is taken again."""
    if limit() <= 0:
        return
    lease = lease_seconds()
    ends = time.time() + lease
    batch: list[tuple[int, str]] = []
    for socket in sockets:
        batch.append(socket)
        if len(batch) == _RENEW_BATCH:
            await _renew(batch, ends=ends, ttl=int(lease) + 1)
            batch = []
    if batch:
        await _renew(batch, ends=ends, ttl=int(lease) + 1)


async def _renew(batch: list[tuple[int, str]], *, ends: float, ttl: int) -> None:
    keys = [_key(user_id) for user_id, _ in batch]
    await _redis().eval(_RENEW, len(keys), *keys, ends, ttl, *(socket for _, socket in batch))


async def release(*, user_id: int, socket: str) -> None:
    if limit() <= 0:
        return
    await _redis().zrem(_key(user_id), socket)
