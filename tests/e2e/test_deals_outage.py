"""A product backend outage with the real processes: the worker's polls fail, the product's
circuit breaker opens in Redis and the *server* process reports it at /metrics (the breaker is
shared by all processes), the feed keeps serving the last good deals, and when the backend is
back the breaker closes again after its reset timeout. Embedded mode always; full stack when
DATABASE_URL and REDIS_URL are set. Harness: tests/e2e/harness.py and conftest.py.
"""

from __future__ import annotations

import time
import urllib.request
from collections.abc import Callable

import pytest
from prometheus_client.parser import text_string_to_metric_families

from .harness import Launcher, http

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(120)]

# Upper bound that only keeps a broken run from hanging; nothing is timed.
WITHIN = 45.0


@pytest.fixture
def stack_env(stack_env: dict[str, str]) -> dict[str, str]:
    """The usual stack, with a breaker that opens after 2 failures and tries again after 2 s."""
    return {
        **stack_env,
        "BACKEND_BREAKER_FAIL_MAX": "2",
        "BACKEND_BREAKER_RESET_SECONDS": "2",
        "DEALS_POLL_MAX_RETRIES": "1",
        "DEALS_POLL_RETRY_BACKOFF_SECONDS": "1",
    }


def deals_metrics(stack: Launcher) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """The server's homeservice_deals_* samples for mobile (DEBUG: /metrics answers)."""
    with urllib.request.urlopen(f"{stack.base_url}/metrics", timeout=10) as response:  # noqa: S310 - loopback
        body = response.read().decode()
    return {
        (s.name, tuple(sorted((k, v) for k, v in s.labels.items() if k != "product"))): s.value
        for family in text_string_to_metric_families(body)
        if family.name.startswith("homeservice_deals_")
        for s in family.samples
        if s.labels.get("product") == "mobile"
    }


def wait_until(what: str, check: Callable[[], bool]) -> None:
    deadline = time.monotonic() + WITHIN
    while not check():
        if time.monotonic() > deadline:
            pytest.fail(f"not within {WITHIN} s: {what}")
        time.sleep(0.25)


def breaker_is(stack: Launcher, state: str) -> bool:
    return deals_metrics(stack).get(("homeservice_deals_breaker_state", (("state", state),))) == 1


def mobile_section(stack: Launcher, token: str) -> dict[str, object] | None:
    status, _, feed = http("GET", f"{stack.base_url}/api/v1/home/", token=token)
    assert status == 200, feed
    return next((s for s in feed["sections"] if s["id"] == "product-mobile"), None)


def test_an_outage_opens_the_shared_breaker_keeps_the_last_deals_and_recovers(launcher: Launcher) -> None:
    status, _, body = http(
        "POST", f"{launcher.base_url}/api/v1/auth/token/", body={"username": "carol", "password": "demo1234"}
    )
    assert status == 200, body
    carol = body["access"]
    # given mobile's deals polled by the worker
    wait_until(
        "a successful poll of mobile",
        lambda: ("homeservice_deals_last_success_timestamp_seconds", ()) in deals_metrics(launcher),
    )
    before = mobile_section(launcher, carol)
    assert before is not None
    assert before["source"] == "generic"

    # when mobile's backend goes down
    status, _, body = http("PUT", f"{launcher.base_url}/simulator/products/mobile/outage/", body={"status": 503})
    assert status == 204, body

    # then the worker's failures open the breaker, which this server process reads from Redis
    wait_until("mobile's breaker open", lambda: breaker_is(launcher, "open"))
    metrics = deals_metrics(launcher)
    assert metrics[("homeservice_deals_failing", ())] == 1
    assert metrics[("homeservice_deals_breaker_failures", ())] >= 2
    # and the feed still shows the last good deals
    during = mobile_section(launcher, carol)
    assert during is not None
    assert (during["source"], during["component"]) == ("generic", before["component"])

    # when the backend is back, the trial call after the reset timeout closes the breaker
    status, _, body = http("DELETE", f"{launcher.base_url}/simulator/products/mobile/outage/")
    assert status == 204, body
    wait_until("mobile's breaker closed and its poll healthy", lambda: breaker_is(launcher, "closed"))
    wait_until("mobile's last error cleared", lambda: deals_metrics(launcher)[("homeservice_deals_failing", ())] == 0)
