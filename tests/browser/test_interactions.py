"""The web client's interaction loop in a real browser: what it sends, and what the server stores.

A module of its own (its own stack): the select_plan test publishes a template that stays
published, which the screens and screenshots of test_web_client.py must not see. Reads of what
the server stored go through ``manage.py shell`` against the stack's database. Nothing is timed:
``expect`` and ``wait_until`` poll up to a bound, only so a broken run ends.
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Callable
from typing import Any, TypeVar

import pytest

from tests.e2e.harness import http

from .helpers import WAIT_MS, log_in, rest_feed, token
from .stack import BrowserStack, manage

pytestmark = [pytest.mark.browser, pytest.mark.e2e, pytest.mark.timeout(300)]

T = TypeVar("T")


def expect(target: Any) -> Any:
    from playwright.sync_api import expect as playwright_expect

    return playwright_expect(target)


def wait_until(what: str, probe: Callable[[], T | None]) -> T:
    """``probe()`` until it answers something truthy; fails after WAIT_MS."""
    deadline = time.monotonic() + WAIT_MS / 1000
    while True:
        found = probe()
        if found:
            return found
        if time.monotonic() > deadline:
            raise AssertionError(f"not within {WAIT_MS} ms: {what}")
        time.sleep(0.25)


def stored(stack: BrowserStack, model: str, username: str) -> list[dict[str, Any]]:
    """Rows of ``interactions.<model>`` of ``username`` as the server stored them (newest last)."""
    code = (
        "import json; from django.apps import apps; "
        f"model = apps.get_model('interactions', {model!r}); "
        f"rows = model.objects.filter(user__username={username!r}).order_by('pk'); "
        "print(json.dumps([{f.attname: getattr(r, f.attname) for f in model._meta.concrete_fields} "
        "for r in rows], default=str))"
    )
    rows: list[dict[str, Any]] = json.loads(manage(stack.env, "shell", "-c", code).strip().splitlines()[-1])
    return rows


def offer_ids(feed: dict[str, Any]) -> set[str]:
    found: set[str] = set()

    def walk(node: dict[str, Any]) -> None:
        offer = node.get("props", {}).get("offer_id")
        if offer:
            found.add(offer)
        for child in node.get("children", []):
            walk(child)

    for section in feed["sections"]:
        walk(section["component"])
    return found


def test_a_dismissal_hides_the_offer_at_once_and_the_server_stores_it(stack: BrowserStack, new_page: Any) -> None:
    page = new_page()
    posted: list[dict[str, Any]] = []
    page.on(
        "request",
        lambda request: (
            posted.append(json.loads(request.post_data or "{}")) if request.url.endswith("/api/v1/events/") else None
        ),
    )
    log_in(page, stack, "alice")
    offer = (
        page.locator("[data-offer-id]")
        .filter(has=page.get_by_role("button", name="Not interested"))
        .first.get_attribute("data-offer-id")
    )
    assert offer
    assert offer in offer_ids(rest_feed(stack, "alice"))
    card = page.locator(f'[data-offer-id="{offer}"]')
    button_id = card.get_by_role("button", name="Not interested").get_attribute("data-sdui-id")
    section_id = page.locator("[data-section-id]").filter(has=card).get_attribute("data-section-id")

    card.get_by_role("button", name="Not interested").click()

    expect(page.locator(f'[data-offer-id="{offer}"]')).to_have_count(0)
    expect(page.get_by_test_id("notice")).to_have_text("Offer hidden.")
    dismissals = wait_until(
        "the dismissal is stored",
        lambda: [r for r in stored(stack, "Interaction", "alice") if r["kind"] == "dismiss" and r["offer_id"] == offer],
    )
    assert len(dismissals) == 1
    assert dismissals[0]["section_id"] == section_id
    assert dismissals[0]["component_id"] == button_id
    sent = [e for body in posted for e in body.get("events", []) if e["kind"] == "dismiss"]
    assert [e["id"] for e in sent][:1] == [dismissals[0]["client_event_id"]]
    # The server hides it too: the API's feed no longer has it, and a new login (another tab,
    # nothing in its sessionStorage) does not show it.
    assert offer not in offer_ids(rest_feed(stack, "alice"))
    other = new_page()
    log_in(other, stack, "alice")
    expect(other.locator("[data-offer-id]").first).to_be_visible()
    assert other.locator(f'[data-offer-id="{offer}"]').count() == 0


def test_impressions_of_the_sections_shown_are_stored_once_each(stack: BrowserStack, new_page: Any) -> None:
    page = new_page(width=1280, height=3000)  # every section on screen
    log_in(page, stack, "bob")
    shown = page.locator("[data-section-id]").evaluate_all("els => els.map(e => e.dataset.sectionId)")
    assert shown

    def section_impressions() -> list[dict[str, Any]] | None:
        rows = [
            r
            for r in stored(stack, "Interaction", "bob")
            if r["kind"] == "impression" and r["component_id"] == r["section_id"]
        ]
        return rows if {r["section_id"] for r in rows} >= set(shown) else None

    rows = wait_until("an impression of every section shown is stored", section_impressions)
    assert sorted(r["section_id"] for r in rows) == sorted(shown)  # once each
    # An event still queued when the page is left goes out with it (fetch with keepalive): the
    # interval that would send it never comes.
    section = page.locator("[data-section-id]").filter(has=page.get_by_role("button", name="Find the right plan")).first
    section_id = section.get_attribute("data-section-id")
    section.get_by_role("button", name="Find the right plan").click()
    page.goto("about:blank")
    wait_until(
        "the click queued when the page was left is stored",
        lambda: [
            r for r in stored(stack, "Interaction", "bob") if r["kind"] == "click" and r["section_id"] == section_id
        ],
    )


def test_select_plan_in_the_feed_stores_the_selection(stack: BrowserStack, new_page: Any) -> None:
    # A marketer puts a "choose this plan" button on the energy deals (authoring API, docs/sdui.md).
    mia = token(stack, "mia")
    key = f"energy-choose-{uuid.uuid4().hex[:6]}"
    tree = {
        "type": "card",
        "children": [
            {"type": "text", "props": {"style": "title", "text": "{{ deal.title }}"}},
            {
                "type": "button",
                "props": {"label": "Choose Green fix", "style": "primary"},
                "action": {"type": "select_plan", "product": "energy", "plan": "green-fix"},
            },
        ],
    }
    body = {"name": "Energy deal with a plan", "slot": "deal.card", "product_slug": "energy", "tree": tree}
    status, _, answer = http("PUT", f"{stack.base_url}/api/v1/ui/templates/{key}/draft/", body=body, token=mia)
    assert status in (200, 201), answer
    status, _, answer = http("POST", f"{stack.base_url}/api/v1/ui/templates/{key}/publish/", token=mia)
    assert status == 200, answer
    before = len(stored(stack, "PlanSelection", "carol"))
    page = new_page()
    log_in(page, stack, "carol")
    choose = page.get_by_role("button", name="Choose Green fix").first
    expect(choose).to_be_visible(timeout=WAIT_MS)

    choose.click()

    expect(page.get_by_test_id("notice")).to_contain_text("You chose plan “green-fix” (energy)")
    selections = stored(stack, "PlanSelection", "carol")
    assert len(selections) == before + 1
    plan = selections[-1]["plan_id"]
    status, _, plans = http(
        "POST",
        f"{stack.base_url}/api/v1/plans/filter/",
        body={"answers": {"product": "energy"}},
        token=token(stack, "carol"),
    )
    assert status == 200, plans
    assert plan in [p["id"] for p in plans["plans"] if p["code"] == "green-fix"]
    # The click and the conversion reach the events API.
    kinds = wait_until(
        "the click and the conversion are stored",
        lambda: (
            {r["kind"] for r in stored(stack, "Interaction", "carol") if r["section_id"] == "product-energy"}
            >= {"click", "convert"}
        ),
    )
    assert kinds


def test_the_plan_finder_shows_the_answer_then_the_refined_one_and_a_chosen_plan_is_stored(
    stack: BrowserStack, new_page: Any
) -> None:
    page = new_page()
    frames: list[dict[str, Any]] = []

    def opened(socket: Any) -> None:
        socket.on("framesent", lambda payload: frames.append({"sent": json.loads(str(payload))}))
        socket.on("framereceived", lambda payload: frames.append({"received": json.loads(str(payload))}))

    page.on("websocket", opened)
    log_in(page, stack, "alice")
    tv = page.locator('[data-section-id="product-tv"]')
    tv.get_by_role("button", name="Find the right plan").click()
    finder = page.get_by_test_id("plan-finder")
    expect(finder.get_by_role("radio", name="TV", exact=True)).to_be_checked()

    finder.get_by_role("button", name="Show plans").click()

    results = finder.get_by_test_id("plan-results")
    expect(results.get_by_role("article").first).to_be_visible()
    expect(results).to_have_attribute("data-refined", "true", timeout=WAIT_MS)
    expect(results.get_by_text("Ranked for you")).to_be_visible()
    request_id = results.get_attribute("data-request-id")
    asked = [f["sent"] for f in frames if f.get("sent", {}).get("type") == "plans.filter"]
    assert [m["request_id"] for m in asked] == [request_id]
    assert asked[0]["answers"] == {"product": "tv"}
    answers = [
        f["received"]
        for f in frames
        if f.get("received", {}).get("type") == "recommendations.updated" and f["received"]["request_id"] == request_id
    ]
    assert [a["refined"] for a in answers][:2] == [False, True]
    name = results.get_by_role("heading").first.inner_text()

    results.get_by_role("button", name="Choose this plan").first.click()

    expect(page.get_by_test_id("notice")).to_contain_text(f"You chose “{name}” (tv)")
    selections = stored(stack, "PlanSelection", "alice")
    assert selections[-1]["request_id"] == request_id
