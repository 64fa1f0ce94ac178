"""Prometheus metrics of the deals pollers' health (exposed at /metrics, homeservice/metrics.py).

Polls run in Celery workers, which serve no /metrics, so these are not counters kept in the
worker: a collector reads the health (poll_health.py: the database and the breakers in Redis)
when /metrics is scraped, and every server process reports the same figures. One series per
product with a deals endpoint, labelled ``product``:

- ``homeservice_deals_last_success_timestamp_seconds``: the last poll that stored or confirmed deals;
- ``homeservice_deals_last_error_timestamp_seconds``: the last failed attempt;
- ``homeservice_deals_failing``: 1 while the last attempt failed (cleared by a success);
- ``homeservice_deals_next_poll_timestamp_seconds``: when the next poll is due (polled products);
- ``homeservice_deals_as_of_timestamp_seconds``: the time of the deals being served;
- ``homeservice_deals_stale``: 1 when those are older than ``DEALS_STALE_AFTER`` (served as stale);
- ``homeservice_deals_breaker_state{state}``: 1 for the breaker's state (closed, open, half-open,
  unknown), 0 for the others;
- ``homeservice_deals_breaker_failures``: consecutive failures the breaker has counted.

``homeservice_deals_poll_health_up`` is 0 when the health could not be read (e.g. the database
is down), and then no per-product series are reported.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from datetime import datetime

from django.utils import timezone
from prometheus_client import REGISTRY
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from .poll_health import deals_poll_health

logger = logging.getLogger(__name__)

PREFIX = "homeservice_deals_"
BREAKER_STATES = ("closed", "open", "half-open", "unknown")


def _ts(value: datetime | None) -> float | None:
    return value.timestamp() if value is not None else None


class DealsPollHealthCollector(Collector):
    def _families(self) -> dict[str, GaugeMetricFamily]:
        def gauge(name: str, doc: str, labels: tuple[str, ...] = ("product",)) -> GaugeMetricFamily:
            return GaugeMetricFamily(PREFIX + name, doc, labels=list(labels))

        return {
            "up": gauge("poll_health_up", "1 when the deals poll health could be read.", ()),
            "success": gauge("last_success_timestamp_seconds", "Last deals poll that stored or confirmed deals."),
            "error": gauge("last_error_timestamp_seconds", "Last failed deals poll attempt."),
            "failing": gauge("failing", "1 while the product's last deals poll attempt failed."),
            "next": gauge("next_poll_timestamp_seconds", "When the product's next deals poll is due."),
            "as_of": gauge("as_of_timestamp_seconds", "Time of the generic deals being served."),
            "stale": gauge("stale", "1 when the deals served are older than DEALS_STALE_AFTER."),
            "breaker": gauge(
                "breaker_state", "Circuit breaker of the product's backend: 1 for its state.", ("product", "state")
            ),
            "failures": gauge("breaker_failures", "Consecutive failures counted by the product's breaker."),
        }

    def describe(self) -> Iterable[Metric]:
        return list(self._families().values())

    def collect(self) -> Iterable[Metric]:
        families = self._families()
        try:
            health = deals_poll_health(now=timezone.now())
        except Exception:
            logger.warning("deals poll health unreadable for /metrics", exc_info=True)
            families["up"].add_metric([], 0)
            return [families["up"]]
        families["up"].add_metric([], 1)
        for h in health:
            labels = [h.product_slug]
            for key, value in (
                ("success", _ts(h.last_success_at)),
                ("error", _ts(h.last_error_at)),
                ("next", _ts(h.next_poll_at)),
                ("as_of", _ts(h.deals_as_of)),
            ):
                if value is not None:
                    families[key].add_metric(labels, value)
            families["failing"].add_metric(labels, 1 if h.last_error else 0)
            if h.deals_as_of is not None:
                families["stale"].add_metric(labels, 1 if h.stale else 0)
            for state in BREAKER_STATES:
                families["breaker"].add_metric([h.product_slug, state], 1 if h.breaker.state == state else 0)
            families["failures"].add_metric(labels, h.breaker.failures)
        return list(families.values())


_registered = False


def register() -> None:
    """Add the collector to the default registry once per process (ProductsConfig.ready)."""
    global _registered
    if not _registered:
        REGISTRY.register(DealsPollHealthCollector())
        _registered = True
