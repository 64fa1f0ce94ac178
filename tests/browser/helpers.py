"""Small helpers of the browser tests: tokens, the REST feed, signed offers, logging in."""

from __future__ import annotations

import urllib.error
import urllib.request
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

from products.simulation import encode_events, event_source, signature_headers
from tests.e2e.harness import http

from .stack import BrowserStack, manage

PASSWORD = "demo1234"
# Upper bounds that keep a broken run from hanging; nothing is timed (Playwright's expect polls).
WAIT_MS = 30_000


def token(stack: BrowserStack, username: str) -> str:
    status, _, body = http(
        "POST", f"{stack.base_url}/api/v1/auth/token/", body={"username": username, "password": PASSWORD}
    )
    assert status == 200, body
    access: str = body["access"]
    return access


def rest_feed(stack: BrowserStack, username: str) -> dict[str, Any]:
    status, _, body = http("GET", f"{stack.base_url}/api/v1/home/", token=token(stack, username))
    assert status == 200, body
    feed: dict[str, Any] = body
    return feed


def webhook_secret(stack: BrowserStack, product: str) -> str:
    """A new active webhook secret for ``product`` (what its backend signs with)."""
    return manage(stack.env, "webhook_secret", product, "--rotate").strip().splitlines()[-1]


def push_offer(stack: BrowserStack, secret: str, *, user: str, title: str, product: str = "mobile") -> None:
    """What a product backend does: a signed ``offer.upserted`` webhook (docs/webhooks.md)."""
    now = datetime.now(tz=UTC)
    event: dict[str, Any] = {
        "specversion": "1.0",
        "id": f"browser-{uuid.uuid4().hex}",
        "source": event_source(product),
        "type": "offer.upserted",
        "time": now.isoformat(timespec="seconds").replace("+00:00", "Z"),
        "subject": user,
        "sequence": int(now.timestamp() * 1000),
        "data": {
            "id": f"browser-{uuid.uuid4().hex[:8]}",
            "title": title,
            "body": "Pushed by the browser test",
            "price": {"amount": "9.99", "currency": "EUR", "period": "month"},
            "cta_label": "See offer",
            "cta_url": f"https://example.com/{product}/browser",
            "priority": 90,
            "expires_at": (now + timedelta(hours=1)).isoformat(timespec="seconds").replace("+00:00", "Z"),
        },
    }
    body = encode_events([event])
    headers = {"Content-Type": "application/json", **signature_headers(secret=secret, body=body, msg_id=event["id"])}
    request = urllib.request.Request(  # noqa: S310 - loopback
        f"{stack.base_url}/api/v1/products/{product}/events/", data=body, method="POST", headers=headers
    )
    try:
        with urllib.request.urlopen(request, timeout=10) as response:  # noqa: S310 - loopback
            status = response.status
    except urllib.error.HTTPError as exc:
        status = exc.code
    assert status in (200, 202), status


def log_in(page: Any, stack: BrowserStack, username: str) -> None:
    """Log in through the web client's form and wait for the feed and the live connection."""
    from playwright.sync_api import expect

    page.goto(f"{stack.base_url}/")
    page.get_by_label("Username").fill(username)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    expect(page.get_by_test_id("username")).to_have_text(username)
    expect(page.locator("main[data-feed-version]")).to_have_count(1, timeout=WAIT_MS)
    expect(page.get_by_test_id("connection")).to_have_attribute("data-state", "live", timeout=WAIT_MS)


def shown_version(page: Any) -> str:
    version: str = page.locator("main").get_attribute("data-feed-version")
    return version
