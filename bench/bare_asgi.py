"""The baseline: a bare ASGI callable, no framework, serving the feed bytes from Redis.

On every request it GETs one key from Redis with ``redis.asyncio`` and returns the bytes with the
content type the project's feed had. bench/run.py writes the key (the project's real response for
alice) and serves this module with the same uvicorn command and CPU pinning as the project, so
the gap between the two is what the framework stack and the view cost (the "bare ASGI + Redis" row
of docs/benchmarks.md).

Configured through the environment bench/run.py sets:

- ``BENCH_REDIS_URL``: the Redis server (default ``redis://127.0.0.1:6379/0``);
- ``BENCH_FEED_KEY``: the key holding the feed bytes (default ``hs-bench:bare:feed``);
- ``BENCH_FEED_CONTENT_TYPE``: the ``Content-Type`` to answer with (default ``application/json``).

Run it by hand: ``uvicorn bench.bare_asgi:application --lifespan off``.
"""

from __future__ import annotations

import os
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

import redis.asyncio as aioredis

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]

REDIS_URL = os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/0")
FEED_KEY = os.environ.get("BENCH_FEED_KEY", "hs-bench:bare:feed")
CONTENT_TYPE = os.environ.get("BENCH_FEED_CONTENT_TYPE", "application/json").encode("latin-1")

# One client (and connection pool) per process, created on the first request so that it belongs
# to uvicorn's event loop. The pool is larger than any connection count the bench uses: redis-py
# 8's async pool raises instead of waiting when it is exhausted.
_client: aioredis.Redis | None = None


def _redis() -> aioredis.Redis:
    global _client
    if _client is None:
        _client = aioredis.Redis.from_url(REDIS_URL, max_connections=4096, socket_timeout=5)
    return _client


async def application(scope: Scope, receive: Receive, send: Send) -> None:
    """Answer every HTTP request with the feed bytes read from Redis (503 when the key is missing)."""
    if scope["type"] != "http":
        # Served with --lifespan off, so only HTTP scopes arrive; refuse anything else plainly.
        raise RuntimeError(f"bare_asgi serves HTTP only, got {scope['type']!r}")
    raw = await _redis().get(FEED_KEY)  # bytes (no decode_responses); typed as bytes | str
    body = raw.encode() if isinstance(raw, str) else raw
    if body is None:
        status, content_type, body = 503, b"text/plain; charset=utf-8", b"feed key missing in Redis\n"
    else:
        status, content_type = 200, CONTENT_TYPE
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [(b"content-type", content_type), (b"content-length", str(len(body)).encode("ascii"))],
        }
    )
    await send({"type": "http.response.body", "body": body})
