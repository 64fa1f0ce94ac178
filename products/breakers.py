"""A circuit breaker per product backend (pybreaker), shared by every process through Redis.

After ``BACKEND_BREAKER_FAIL_MAX`` consecutive transient failures (unreachable, timeouts, HTTP 5xx
or 429) the product's breaker opens: calls fail at once, without touching the backend, for
``BACKEND_BREAKER_RESET_SECONDS``; then one trial call goes through, and closes it again if it
succeeds (or opens it for another period if it fails). Answers that are wrong but prompt (4xx,
bad JSON, a body of the wrong shape, a refused host) say nothing about the backend being down:
they do not count, and like a success they reset the count.

The state lives in Redis (``pybreaker.CircuitRedisStorage``, keys ``<REDIS_KEY_PREFIX>:breaker:
<slug>:pybreaker:*``) whenever ``REDIS_URL`` is set, which includes embedded mode under ``make run``
(the embedded Redis-protocol server): a breaker opened by one worker process is open for all.
Without ``REDIS_URL`` (plain ``manage.py`` commands, the
test suite in embedded mode) the cache is per process, and so is the breaker (pybreaker's memory
storage).
"""

from __future__ import annotations

import functools
import logging
import threading
from dataclasses import dataclass
from datetime import datetime, timedelta

import pybreaker
import redis
from django.conf import settings

from .backend_errors import BackendError, TransientBackendError

logger = logging.getLogger(__name__)

BreakerError = pybreaker.CircuitBreakerError
CLOSED, OPEN, HALF_OPEN = pybreaker.STATE_CLOSED, pybreaker.STATE_OPEN, pybreaker.STATE_HALF_OPEN


def _not_a_backend_outage(exc: BaseException) -> bool:
    return isinstance(exc, BackendError) and not isinstance(exc, TransientBackendError)


class _LogStateChanges(pybreaker.CircuitBreakerListener):
    def state_change(
        self,
        cb: pybreaker.CircuitBreaker,
        old_state: pybreaker.CircuitBreakerState | None,
        new_state: pybreaker.CircuitBreakerState,
    ) -> None:
        if old_state is None or old_state.name == new_state.name:
            return
        log = logger.warning if new_state.name == OPEN else logger.info
        log("circuit breaker of product backend %s: %s -> %s", cb.name, old_state.name, new_state.name)


_breakers: dict[tuple[str, str], tuple[pybreaker.CircuitBreaker, pybreaker.CircuitBreakerStorage]] = {}
_lock = threading.Lock()


@functools.cache
def _redis(url: str) -> redis.Redis:
    # Bytes replies (pybreaker decodes them), and the cache's short timeouts: a Redis outage
    # leaves the breaker closed (pybreaker's fallback) rather than stalling the poll.
    return redis.Redis.from_url(url, socket_connect_timeout=2, socket_timeout=2)


def _storage(namespace: str) -> pybreaker.CircuitBreakerStorage:
    if not settings.REDIS_URL:
        return pybreaker.CircuitMemoryStorage(CLOSED)
    return pybreaker.CircuitRedisStorage(CLOSED, _redis(settings.REDIS_URL), namespace=namespace)


def breaker_namespace(product_slug: str) -> str:
    """The Redis key prefix of a product's breaker (its keys are ``<namespace>:pybreaker:*``)."""
    return f"{settings.REDIS_KEY_PREFIX}:breaker:{product_slug}"


def _breaker_and_storage(product_slug: str) -> tuple[pybreaker.CircuitBreaker, pybreaker.CircuitBreakerStorage]:
    namespace = breaker_namespace(product_slug) if settings.REDIS_URL else ""
    with _lock:
        pair = _breakers.get((product_slug, f"{settings.REDIS_URL}|{namespace}"))
        if pair is None:
            storage = _storage(namespace)
            breaker = pybreaker.CircuitBreaker(
                state_storage=storage,
                exclude=[_not_a_backend_outage],
                listeners=[_LogStateChanges()],
                name=product_slug,
                throw_new_error_on_trip=False,  # the failure that trips it is reported as itself
            )
            pair = _breakers[(product_slug, f"{settings.REDIS_URL}|{namespace}")] = (breaker, storage)
    breaker = pair[0]
    breaker.fail_max = settings.BACKEND_BREAKER_FAIL_MAX
    breaker.reset_timeout = settings.BACKEND_BREAKER_RESET_SECONDS
    return pair


def backend_breaker(*, product_slug: str) -> pybreaker.CircuitBreaker:
    """The breaker of ``product_slug``'s backend (one object per process; its state is shared)."""
    return _breaker_and_storage(product_slug)[0]


@dataclass(frozen=True)
class BreakerStatus:
    state: str  # closed | open | half-open
    failures: int  # consecutive failures counted
    opened_at: datetime | None
    trial_after: datetime | None  # when open: the next call after this is let through

    def __str__(self) -> str:
        if self.state == OPEN and self.trial_after is not None:
            return f"open (trial call after {self.trial_after:%Y-%m-%d %H:%M:%S} UTC)"
        if self.state == CLOSED and self.failures:
            return f"closed ({self.failures} failure{'s' if self.failures != 1 else ''})"
        return self.state


UNKNOWN = BreakerStatus(state="unknown", failures=0, opened_at=None, trial_after=None)


def backend_breaker_status(*, product_slug: str) -> BreakerStatus:
    """The breaker as stored; ``unknown`` when its storage cannot be read."""
    try:
        breaker, storage = _breaker_and_storage(product_slug)
        state = breaker.current_state
        opened_at = storage.opened_at if state != CLOSED else None
        failures = breaker.fail_counter
    except Exception:
        logger.warning("circuit breaker of %s unreadable", product_slug, exc_info=True)
        return UNKNOWN
    trial_after = opened_at + timedelta(seconds=breaker.reset_timeout) if state == OPEN and opened_at else None
    return BreakerStatus(state=state, failures=failures, opened_at=opened_at, trial_after=trial_after)


def backend_breaker_close(*, product_slug: str) -> None:
    """Close the breaker and forget its failures (an operator's reset; tests)."""
    backend_breaker(product_slug=product_slug).close()


def backend_breakers_close_all() -> None:
    """Close every breaker this process has used (tests start each case with closed breakers)."""
    with _lock:
        breakers = [breaker for breaker, _ in _breakers.values()]
    for breaker in breakers:
        breaker.close()
