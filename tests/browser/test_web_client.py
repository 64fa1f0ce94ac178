"""The reference web client in a real browser (chromium) against the real service.

One stack per module (server, worker with beat, database, Redis; tests/browser/stack.py); each
test logs in in a fresh browser context. Playwright's ``expect`` polls up to a bound; nothing
is timed.
"""

from __future__ import annotations

import os
import shutil
import uuid
from typing import Any

import pytest

from tests.e2e.harness import ROOT

from .conftest import ARTIFACTS
from .helpers import WAIT_MS, log_in, push_offer, rest_feed, shown_version, webhook_secret
from .stack import BrowserStack

pytestmark = [pytest.mark.browser, pytest.mark.e2e, pytest.mark.timeout(300)]

DEMO_CUSTOMERS = ("alice", "bob", "carol")


def expect(target: Any) -> Any:
    from playwright.sync_api import expect as playwright_expect

    return playwright_expect(target)


def section_ids(page: Any) -> list[str]:
    ids: list[str] = page.locator("[data-section-id]").evaluate_all("els => els.map(e => e.dataset.sectionId)")
    return ids


def headings(node: dict[str, Any]) -> list[str]:
    """The headings a component tree draws, in order: section titles and title-style texts."""
    found: list[str] = []
    props = node.get("props", {})
    if node.get("type") == "section":
        found.append(props.get("title", ""))
    elif node.get("type") in ("text",) and props.get("style") == "title":
        found.append(props.get("text", ""))
    elif node.get("type") == "banner":
        found.append(props.get("title", ""))
    for child in node.get("children", []):
        found += headings(child)
    return found


def converge(page: Any, stack: BrowserStack, username: str) -> dict[str, Any]:
    """Wait until the page draws what GET /api/v1/home/ says (its sections, in order, and every
    heading in them); that feed. Content, not the version string: a generic section's version
    also moves with its deals' as-of time, which changes nothing drawn."""
    import time

    deadline = time.monotonic() + WAIT_MS / 1000
    while True:
        feed = rest_feed(stack, username)
        expected = [(s["id"], headings(s["component"])) for s in feed["sections"]]
        shown = page.locator("[data-section-id]").evaluate_all(
            "els => els.map(e => [e.dataset.sectionId, [...e.querySelectorAll('h2, h3')].map(h => h.textContent)])"
        )
        if [tuple(item) for item in shown] == expected:
            return feed
        if time.monotonic() > deadline:
            raise AssertionError(f"the page shows {shown}, the API {expected}")
        page.wait_for_timeout(250)


def test_alice_logs_in_and_sees_her_sections(stack: BrowserStack, new_page: Any) -> None:
    page = new_page()

    log_in(page, stack, "alice")

    feed = converge(page, stack, "alice")
    assert section_ids(page) == [s["id"] for s in feed["sections"]]
    assert feed["sections"], "alice has a home screen"
    for section in feed["sections"]:
        title = section["component"]["props"]["title"]
        expect(page.get_by_role("region", name=title, exact=True)).to_be_visible()
    personalised = [s for s in feed["sections"] if s["source"] == "personalised"]
    assert personalised, "alice has offers of her own"
    block = page.locator(f'[data-section-id="{personalised[0]["id"]}"]')
    expect(block.get_by_text("Just for you")).to_be_visible()
    expect(block.get_by_role("article").first).to_be_visible()
    expect(page.get_by_test_id("connection")).to_contain_text("Live")
    # Accessible: every image has alt text; the keyboard reaches the offers with a visible focus ring.
    assert page.locator("img:not([alt])").count() == 0
    page.keyboard.press("Tab")  # the skip link
    expect(page.get_by_role("link", name="Skip to your offers")).to_be_focused()
    for _ in range(4):
        page.keyboard.press("Tab")
    focus = page.evaluate(
        "(() => { const s = getComputedStyle(document.activeElement);"
        " return {tag: document.activeElement.tagName, outline: s.outlineStyle, ring: s.boxShadow}; })()"
    )
    assert focus["tag"] != "BODY", focus
    assert focus["outline"] not in ("", "none") or focus["ring"] not in ("", "none"), focus


def test_an_offer_pushed_by_a_product_appears_without_a_reload(stack: BrowserStack, new_page: Any) -> None:
    page = new_page()
    log_in(page, stack, "alice")
    page.evaluate("window.__sameDocument = true")
    title = f"Browser flash offer {uuid.uuid4().hex[:6]}"
    assert page.get_by_text(title).count() == 0

    push_offer(stack, webhook_secret(stack, "mobile"), user="alice", title=title)

    card = page.get_by_role("article").filter(has=page.get_by_role("heading", name=title))
    expect(card).to_be_visible(timeout=WAIT_MS)
    expect(card.get_by_text("€9.99")).to_be_visible()
    assert page.evaluate("window.__sameDocument") is True  # no reload: the socket brought it
    converge(page, stack, "alice")


def test_carol_sees_generic_deals(stack: BrowserStack, new_page: Any) -> None:
    page = new_page()

    log_in(page, stack, "carol")

    feed = converge(page, stack, "carol")
    assert feed["sections"], "carol sees the products' deals"
    sources = page.locator("[data-section-id]").evaluate_all("els => els.map(e => e.dataset.source)")
    assert sources == ["generic"] * len(feed["sections"])
    expect(page.get_by_text("Top deals").first).to_be_visible()
    assert page.get_by_text("Just for you").count() == 0
    expect(page.get_by_role("link", name="See deal").first).to_be_visible()


def test_actions_dismiss_an_offer_open_the_plan_finder_and_open_deals_in_a_new_tab(
    stack: BrowserStack, new_page: Any
) -> None:
    page = new_page()
    log_in(page, stack, "alice")
    cards = page.get_by_role("article")
    before = cards.count()
    first = cards.filter(has=page.get_by_role("button", name="Not interested")).first
    title = first.get_by_role("heading").first.inner_text()

    first.get_by_role("button", name="Not interested").click()

    expect(page.get_by_test_id("notice")).to_have_text("Offer hidden.")
    expect(cards).to_have_count(before - 1)
    assert page.get_by_role("heading", name=title, exact=True).count() == 0
    page.get_by_role("button", name="Find the right plan").first.click()
    expect(page.get_by_test_id("plan-finder").get_by_role("heading", name="Find the right plan")).to_be_focused()
    link = page.get_by_role("link", name="See deal").first
    expect(link).to_have_attribute("target", "_blank")
    assert (link.get_attribute("href") or "").startswith("https://")


def test_the_client_falls_back_to_polling_without_websocket(stack: BrowserStack, new_page: Any) -> None:
    page = new_page()
    page.add_init_script("delete window.WebSocket")
    requests: list[dict[str, str]] = []
    page.on(
        "request",
        lambda request: requests.append(request.headers) if request.url.endswith("/api/v1/home/") else None,
    )
    page.goto(f"{stack.base_url}/")
    page.get_by_label("Username").fill("bob")
    page.get_by_label("Password").fill("demo1234")
    page.get_by_role("button", name="Log in").click()
    expect(page.get_by_test_id("connection")).to_have_attribute("data-state", "polling")
    title = f"Polled offer {uuid.uuid4().hex[:6]}"

    push_offer(stack, webhook_secret(stack, "mobile"), user="bob", title=title)

    expect(page.get_by_role("heading", name=title)).to_be_visible(timeout=WAIT_MS)
    assert any("if-none-match" in headers for headers in requests)


def test_a_marketer_publishes_a_template_in_the_admin_and_alice_sees_it(stack: BrowserStack, new_page: Any) -> None:
    alice = new_page()
    log_in(alice, stack, "alice")
    alice.evaluate("window.__sameDocument = true")
    marker = f"Marketing pick {uuid.uuid4().hex[:6]}"
    mia = new_page()
    mia.goto(f"{stack.base_url}/admin/login/")
    mia.get_by_label("Username").fill("mia")
    mia.get_by_label("Password").fill("demo1234")
    mia.get_by_role("button", name="Log in").click()
    mia.goto(f"{stack.base_url}/admin/ui_templates/componenttemplate/add/?editor=raw")
    mia.locator("#id_key").fill(f"browser-card-{uuid.uuid4().hex[:6]}")
    mia.locator("#id_name").fill("Mobile offer card (browser test)")
    mia.locator("#id_slot").select_option("offer.card")
    mia.locator("#id_product_slug").fill("mobile")
    tree = (
        '{"type": "card", "props": {"offer_id": "{{ offer.id }}"}, "children": ['
        f'{{"type": "badge", "props": {{"label": "{marker}", "tone": "promo"}}}},'
        '{"type": "text", "props": {"style": "title", "text": "{{ offer.title }}"}},'
        '{"type": "button", "props": {"label": "{{ offer.cta_label }}", "style": "primary"},'
        ' "action": {"type": "open_url", "url": "{{ offer.cta_url }}"}}]}'
    )
    mia.locator("textarea[name=draft_tree]").fill(tree)

    mia.get_by_role("button", name="Save and publish draft").click()

    expect(mia.locator(".messagelist .success").first).to_be_visible()
    expect(alice.get_by_text(marker).first).to_be_visible(timeout=WAIT_MS)
    assert alice.evaluate("window.__sameDocument") is True
    converge(alice, stack, "alice")


def test_the_client_reconnects_after_the_server_is_killed_and_converges(stack: BrowserStack, new_page: Any) -> None:
    page = new_page()
    sockets: list[Any] = []
    sent: dict[int, list[str]] = {}

    def opened(socket: Any) -> None:
        sockets.append(socket)
        frames = sent.setdefault(len(sockets) - 1, [])
        socket.on("framesent", lambda payload: frames.append(str(payload)))

    page.on("websocket", opened)
    log_in(page, stack, "alice")
    before = shown_version(page)
    assert len(sockets) == 1

    stack.kill_server()
    expect(page.get_by_test_id("connection")).not_to_have_attribute("data-state", "live", timeout=WAIT_MS)
    stack.start_server()
    title = f"After the restart {uuid.uuid4().hex[:6]}"
    push_offer(stack, webhook_secret(stack, "mobile"), user="alice", title=title)

    expect(page.get_by_test_id("connection")).to_have_attribute("data-state", "live", timeout=WAIT_MS)
    expect(page.get_by_role("heading", name=title)).to_be_visible(timeout=WAIT_MS)
    feed = converge(page, stack, "alice")
    assert feed["version"] != before
    assert len(sockets) >= 2
    # The socket that got through again resumed from the version the page held.
    reconnected = sockets[-1]
    assert "resume=1" in reconnected.url
    assert any('"type":"resume"' in frame for frame in sent[len(sockets) - 1]), sent


def save_screenshot(target: Any, name: str, **options: Any) -> None:
    """Into var/test-artifacts/screenshots/; with UPDATE_SCREENSHOTS=1 also docs/screenshots/."""
    shots = ARTIFACTS.parent / "screenshots"
    shots.mkdir(parents=True, exist_ok=True)
    target.screenshot(path=str(shots / f"{name}.png"), **options)
    if os.environ.get("UPDATE_SCREENSHOTS"):
        docs = ROOT / "docs" / "screenshots"
        docs.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(shots / f"{name}.png", docs / f"{name}.png")


@pytest.mark.parametrize("username", DEMO_CUSTOMERS)
def test_home_screen_of_each_demo_customer_fits_phone_and_desktop(
    stack: BrowserStack, new_page: Any, username: str
) -> None:
    """Screenshots in var/test-artifacts/screenshots/; UPDATE_SCREENSHOTS=1 copies them to
    docs/screenshots/ (the README shows them)."""
    for name, width, height in (("phone", 390, 844), ("desktop", 1280, 900)):
        page = new_page(width=width, height=height)
        log_in(page, stack, username)
        converge(page, stack, username)
        page.wait_for_load_state("networkidle")
        overflow = page.evaluate("document.documentElement.scrollWidth - window.innerWidth")
        assert overflow <= 0, f"{name}: the page scrolls sideways by {overflow}px"
        save_screenshot(page, f"home-{username}-{name}", full_page=True)


def test_the_template_editor_previews_the_draft_beside_the_published_screen_as_it_is_edited(
    stack: BrowserStack, new_page: Any
) -> None:
    mia = new_page(width=1400, height=1000)
    mia.goto(f"{stack.base_url}/admin/login/")
    mia.get_by_label("Username").fill("mia")
    mia.get_by_label("Password").fill("demo1234")
    mia.get_by_role("button", name="Log in").click()
    mia.goto(f"{stack.base_url}/admin/ui_templates/componenttemplate/add/?editor=raw")
    mia.locator("#id_key").fill(f"browser-preview-{uuid.uuid4().hex[:6]}")
    mia.locator("#id_name").fill("Broadband offer card (preview test)")
    mia.locator("#id_slot").select_option("offer.card")
    mia.locator("#id_product_slug").fill("broadband")

    def tree(label: str) -> str:
        return (
            '{"type": "card", "children": ['
            f'{{"type": "badge", "props": {{"label": "{label}", "tone": "info"}}}},'
            '{"type": "text", "props": {"style": "title", "text": "{{ offer.title }}"}}]}'
        )

    mia.locator("textarea[name=draft_tree]").fill(tree("Draft one"))
    mia.locator("input[name=_continue]").click()
    expect(mia.locator(".messagelist .success").first).to_be_visible()

    draft = mia.frame_locator('iframe[data-side="draft"]')
    published = mia.frame_locator('iframe[data-side="published"]')
    expect(draft.get_by_text("Draft one")).to_be_visible(timeout=WAIT_MS)
    expect(draft.get_by_role("heading", name="Fibre 1 Gbit at your address")).to_be_visible()
    expect(published.get_by_role("heading", name="Fibre 1 Gbit at your address")).to_be_visible()
    assert published.get_by_text("Draft one").count() == 0

    # An unsaved edit reaches the draft frame; the published one stays as it is.
    mia.locator("textarea[name=draft_tree]").fill(tree("Draft two"))

    expect(draft.get_by_text("Draft two")).to_be_visible(timeout=WAIT_MS)
    assert draft.get_by_text("Draft one").count() == 0
    assert published.get_by_text("Draft two").count() == 0
    expect(mia.locator("[data-preview-note]")).to_have_text("Showing your unsaved changes.")
    save_screenshot(mia.locator("#hs-visual-preview"), "admin-visual-preview")
