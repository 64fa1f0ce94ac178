"""One attempt at polling a product's deals: through its circuit breaker, then record the result.

The task (tasks.py) decides about retries from ``DealsPollAttempt.retry``: only transient
failures (unreachable, timeouts, HTTP 5xx or 429) are worth another attempt, and only while the
product's breaker is still closed. Every failed attempt is recorded in the product's poll state
at once, so the admin and the metrics show it even while retries are pending.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime

from . import services
from .backend_client import BackendError, TransientBackendError, deals_fetch
from .breakers import CLOSED, BreakerError, backend_breaker
from .models import Product

logger = logging.getLogger(__name__)

CHANGED, UNCHANGED, NOT_MODIFIED, FAILED, BREAKER_OPEN = (
    "changed",
    "unchanged",
    "not_modified",
    "failed",
    "breaker_open",
)


@dataclass(frozen=True)
class DealsPollAttempt:
    outcome: str  # changed | unchanged | not_modified | failed | breaker_open
    retry: bool = False


def deals_poll_attempt(*, product: Product, now: datetime) -> DealsPollAttempt:
    """Fetch ``product``'s deals (conditional on the stored ETag) and record what came back."""
    state = getattr(product, "poll_state", None)
    breaker = backend_breaker(product_slug=product.slug)
    try:
        fetched = breaker.call(deals_fetch, url=product.deals_endpoint, etag=state.etag if state else "")
    except BreakerError as exc:
        error = f"not polled: circuit breaker open ({exc})"
        logger.info("deals poll of %s skipped: %s", product.slug, error)
        services.deals_poll_failed(product=product, at=now, error=error)
        return DealsPollAttempt(BREAKER_OPEN)
    except BackendError as exc:
        transient = isinstance(exc, TransientBackendError)
        closed = breaker.current_state == CLOSED
        error = str(exc) if closed or not transient else f"{exc} (circuit breaker opened)"
        logger.warning("deals poll of %s failed: %s", product.slug, error)
        services.deals_poll_failed(product=product, at=now, error=error)
        return DealsPollAttempt(FAILED, retry=transient and closed)
    if fetched.not_modified:
        services.deals_poll_not_modified(product=product, at=now)
        return DealsPollAttempt(NOT_MODIFIED)
    result = services.deals_record(product=product, deals=fetched.deals, etag=fetched.etag, fetched_at=now)
    return DealsPollAttempt(CHANGED if result.changed else UNCHANGED)
