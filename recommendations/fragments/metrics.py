"""Prometheus counters of the fragment caches (exposed at /metrics, homeservice/metrics.py)."""

from __future__ import annotations

from prometheus_client import Counter

LOOKUPS = Counter(
    "homeservice_fragment_cache_lookups",
    "Fragment cache lookups by layer (l1: in-process, l2: Redis) and result (hit, miss).",
    ["layer", "result"],
)
RENDERS = Counter("homeservice_fragment_renders", "Sections rendered because no cache layer had them.")
L2_ERRORS = Counter(
    "homeservice_fragment_l2_errors", "Redis errors around the fragment cache (the feed was served without it)."
)
SUBSCRIBER_RECONNECTS = Counter(
    "homeservice_fragment_subscriber_reconnects",
    "Times the invalidation subscriber lost its Redis connection (and cleared this process's L1).",
)

DOCUMENT_ERRORS = Counter(
    "homeservice_feed_document_errors",
    "Redis errors around the feed document cache (the feed was served by the view, without it).",
)
FAST_PATH = Counter(
    "homeservice_feed_fast_path_requests",
    "Home feed requests seen by the fast path, by outcome: hit (200 from a stored document), "
    "not_modified (304 for a stored document), built (no servable document: the fast path built "
    "it, as the view would, and answered 200 or 304), miss (no servable document: the view "
    "answered), pass (not a request the fast path answers: the view answered), error (Redis "
    "failed: the view answered).",
    ["outcome"],
)
FAST_PATH_OUTCOMES = ("hit", "not_modified", "built", "miss", "pass", "error")
for _outcome in FAST_PATH_OUTCOMES:
    FAST_PATH.labels(outcome=_outcome)

for _layer in ("l1", "l2"):
    for _result in ("hit", "miss"):
        LOOKUPS.labels(layer=_layer, result=_result)  # exported as 0 before the first lookup


def count(layer: str, *, hits: int, misses: int) -> None:
    if hits:
        LOOKUPS.labels(layer=layer, result="hit").inc(hits)
    if misses:
        LOOKUPS.labels(layer=layer, result="miss").inc(misses)
