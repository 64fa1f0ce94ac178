"""The plan finder's use of the shared cache (Redis through django-redis; LocMem without it).

Keys (under the project's ``REDIS_KEY_PREFIX``):

- ``plans:catalogue``: the catalogue version, a random token replaced after every committed
  change to plans, products, questions or options (recommendations/plans/signals.py);
- ``plans:filter:<version>:<answers digest>``: a synchronous answer (total and ranked plans),
  ``PLANS_CACHE_TTL_SECONDS``; a new version makes new keys, so no invalidation deletes anything;
- ``plans:latest:<user>``: the user's newest filter request (its id and normalised answers),
  ``PLANS_LATEST_REQUEST_TTL_SECONDS``: the enrichment refines it, and marks its answer
  superseded when another came meanwhile;
- ``plans:enrich:<user>``: an enrichment is queued for the user (``cache.add``; cleared when it
  starts, at most ``PLANS_ENRICH_DEDUPE_SECONDS``), so a burst of requests queues one task.

Every call survives Redis being down: the error is logged and the call answers "nothing" (a
miss, no version, no latest request); the cache is then skipped for ``FRAGMENT_L2_RETRY_SECONDS``
so that a Redis that times out does not add its timeout to every request (the same rule as the
fragment cache, recommendations/fragments/l2.py). A version bump that failed is done again on
the next call that reaches Redis.
"""

from __future__ import annotations

import logging
import secrets
import time
from typing import Any

from django.conf import settings
from django.core.cache import cache

logger = logging.getLogger(__name__)

VERSION_KEY = "plans:catalogue"
_down_until = 0.0
_bump_pending = False


def _available() -> bool:
    return time.monotonic() >= _down_until


def _failed(operation: str) -> None:
    global _down_until
    _down_until = time.monotonic() + float(settings.FRAGMENT_L2_RETRY_SECONDS)
    logger.warning("plan finder cache %s failed; answering without it", operation, exc_info=True)


def usable() -> bool:
    """False while this process skips the cache after an error, or owes it a version bump
    (the plan filter's fast path then leaves the request to the view)."""
    return _available() and not _bump_pending


def reset() -> None:
    """Forget earlier failures (tests)."""
    global _down_until, _bump_pending
    _down_until = 0.0
    _bump_pending = False


def version() -> str | None:
    """The catalogue version (created when missing); None when the cache cannot be reached."""
    global _bump_pending
    if not _available():
        return None
    try:
        if _bump_pending:
            cache.set(VERSION_KEY, secrets.token_hex(8), timeout=None)
            _bump_pending = False
        found = cache.get(VERSION_KEY)
        if found is None:
            cache.add(VERSION_KEY, secrets.token_hex(8), timeout=None)
            found = cache.get(VERSION_KEY)
        return str(found) if found is not None else None
    except Exception:
        _failed("version")
        return None


def bump_version() -> None:
    """A new catalogue version: every cached answer and every process's index is out of date."""
    global _bump_pending
    try:
        cache.set(VERSION_KEY, secrets.token_hex(8), timeout=None)
    except Exception:
        _bump_pending = True
        _failed("version bump")


def result_key(catalogue_version: str, digest: str) -> str:
    return f"plans:filter:{catalogue_version}:{digest}"


def result_get(catalogue_version: str, digest: str) -> Any:
    if not _available():
        return None
    try:
        return cache.get(result_key(catalogue_version, digest))
    except Exception:
        _failed("get")
        return None


def result_set(catalogue_version: str, digest: str, value: Any) -> None:
    if not _available():
        return
    try:
        cache.set(result_key(catalogue_version, digest), value, timeout=settings.PLANS_CACHE_TTL_SECONDS)
    except Exception:
        _failed("set")


def latest_key(user_id: int) -> str:
    return f"plans:latest:{user_id}"


def latest_value(request_id: str, answers: dict[str, Any]) -> dict[str, Any]:
    return {"request_id": request_id, "answers": answers}


def latest_request_set(user_id: int, request_id: str, answers: dict[str, Any]) -> None:
    if not _available():
        return
    try:
        cache.set(
            latest_key(user_id),
            latest_value(request_id, answers),
            timeout=settings.PLANS_LATEST_REQUEST_TTL_SECONDS,
        )
    except Exception:
        _failed("latest request set")


def latest_request(user_id: int) -> dict[str, Any] | None:
    """``{"request_id", "answers"}`` of the user's newest request; None when unknown."""
    if not _available():
        return None
    try:
        found = cache.get(latest_key(user_id))
    except Exception:
        _failed("latest request get")
        return None
    return found if isinstance(found, dict) else None


def enrich_key(user_id: int) -> str:
    return f"plans:enrich:{user_id}"


def enrich_mark(user_id: int) -> bool:
    """Mark an enrichment as queued for the user: True when none was (queue one), False when one
    is already waiting (it will refine the newest request). True when the cache cannot say."""
    if not _available():
        return True
    try:
        return bool(cache.add(enrich_key(user_id), 1, timeout=settings.PLANS_ENRICH_DEDUPE_SECONDS))
    except Exception:
        _failed("enrich mark")
        return True


def enrich_clear(user_id: int) -> None:
    if not _available():
        return
    try:
        cache.delete(enrich_key(user_id))
    except Exception:
        _failed("enrich clear")
