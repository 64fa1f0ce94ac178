"""A token bucket for one connection's incoming messages (in memory, per connection).

Per connection and in process on purpose: the limit protects this process from one socket, so it
needs no shared state, and a round trip to Redis per message would cost more than the message.
(django-ratelimit, used for the HTTP endpoints, keys counters in the cache per request.)
"""

from __future__ import annotations

import time
from collections.abc import Callable


class TokenBucket:
    """``burst`` messages at once, refilled at ``rate`` per second."""

    def __init__(self, *, rate: float, burst: float, clock: Callable[[], float] = time.monotonic) -> None:
        self.rate = rate
        self.burst = burst
        self._clock = clock
        self._tokens = burst
        self._at = clock()

    def take(self) -> bool:
        now = self._clock()
        self._tokens = min(self.burst, self._tokens + (now - self._at) * self.rate)
        self._at = now
        if self._tokens >= 1:
            self._tokens -= 1
            return True
        return False
