"""A connection's outgoing frames: queued without waiting, written in order by one task, bounded.

Whoever produces a frame (the consumer, or the broadcast hub fanning a change out to thousands of
connections) calls ``put`` and never waits for the client: one client that does not read cannot
delay anyone else. The frames are written by a task that exists only while frames are waiting.
When the bytes waiting pass ``max_bytes`` the client is too slow: ``put`` refuses and calls
``on_overflow`` (the consumer then closes the connection with 4413, docs/websocket.md).
"""

from __future__ import annotations

import asyncio
import logging
from collections import deque
from collections.abc import Awaitable, Callable

logger = logging.getLogger(__name__)

Send = Callable[[str], Awaitable[None]]


class Outbox:
    def __init__(self, send: Send, *, max_bytes: int, on_overflow: Callable[[], None]) -> None:
        self._send = send
        self._max_bytes = max_bytes
        self._on_overflow = on_overflow
        self._frames: deque[str] = deque()
        self.pending_bytes = 0
        self._writer: asyncio.Task[None] | None = None
        self.overflowed = False
        self.closed = False

    def put(self, frame: str) -> bool:
        """Queue ``frame``; False (and ``on_overflow`` once) if the client is too far behind."""
        if self.closed or self.overflowed:
            return False
        if self.pending_bytes + len(frame) > self._max_bytes:
            self.overflowed = True
            self._on_overflow()
            return False
        self._frames.append(frame)
        self.pending_bytes += len(frame)
        if self._writer is None:
            self._writer = asyncio.get_running_loop().create_task(self._write())
        return True

    async def _write(self) -> None:
        try:
            while self._frames:
                frame = self._frames[0]
                await self._send(frame)
                self._frames.popleft()
                self.pending_bytes -= len(frame)
        except Exception:
            # The socket is gone (the disconnect arrives separately): drop what is left.
            logger.debug("write to a closed WebSocket", exc_info=True)
            self._frames.clear()
            self.pending_bytes = 0
        finally:
            self._writer = None

    async def flush(self) -> None:
        """Wait until everything queued so far has been written (or dropped)."""
        while self._writer is not None:
            await asyncio.shield(self._writer)

    def close(self) -> None:
        """Drop what is waiting and stop writing (the connection is gone or being dropped)."""
        self.closed = True
        self._frames.clear()
        self.pending_bytes = 0
        if self._writer is not None:
            self._writer.cancel()
            self._writer = None
