"""The feed's fast path in the real server process, with the real worker changing what it serves.

The worker (another process) records changed deals and replaces the shared document generation
in Redis; the server's fast path, which had been answering carol's feed from her stored document,
must stop at once and let the view answer the new deals. Harness: tests/e2e/harness.py.
"""

from __future__ import annotations

import json
import time
import urllib.request

import pytest

from .harness import Launcher, http
from .test_stack import E2E_DEAL, E2E_TITLE, UPDATE_WITHIN, token_for

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(120)]


def fast_path_hits(stack: Launcher) -> float:
    """The server's count of feed requests answered by the fast path (/metrics; DEBUG is on)."""
    with urllib.request.urlopen(f"{stack.base_url}/metrics", timeout=10) as response:  # noqa: S310 - loopback
        text = response.read().decode()
    prefix = 'homeservice_feed_fast_path_requests_total{outcome="hit"} '
    return float(next(line for line in text.splitlines() if line.startswith(prefix)).removeprefix(prefix))


def test_the_fast_path_answers_repeats_and_never_serves_a_replaced_document(launcher: Launcher, mode: str) -> None:
    token = token_for(launcher, "carol")
    url = f"{launcher.base_url}/api/v1/home/"

    # the first request is the view's, which stores the document; repeats come from the fast path
    status, _, _ = http("GET", url, token=token)
    assert status == 200
    repeat_answered_by_fast_path(launcher, url, token, showing="")

    # when the product's deals change (the worker polls the simulator and records them)
    status, _, body = http("PUT", f"{launcher.base_url}/simulator/products/mobile/deals/", body={"deals": [E2E_DEAL]})
    assert status == 204, body

    # then the feed shows them: the old document is not served once the worker has recorded them
    deadline = time.monotonic() + UPDATE_WITHIN
    while True:
        status, _, feed = http("GET", url, token=token)
        assert status == 200
        if E2E_TITLE in json.dumps(feed):
            break
        if time.monotonic() > deadline:
            pytest.fail(f"the feed never showed {E2E_TITLE!r} within {UPDATE_WITHIN} s")
        time.sleep(0.2)
    # and from then on repeats are answered by the fast path, with the new deals
    repeat_answered_by_fast_path(launcher, url, token, showing=E2E_TITLE)


def repeat_answered_by_fast_path(stack: Launcher, url: str, token: str, *, showing: str) -> None:
    """Repeat the request until the fast path answers one; every answer shows ``showing``. The
    demo's other products are polled meanwhile, and a change of theirs replaces the documents:
    a few repeats are allowed for that."""
    hits = fast_path_hits(stack)
    for _ in range(20):
        status, _, feed = http("GET", url, token=token)
        assert status == 200
        assert showing in json.dumps(feed)
        if fast_path_hits(stack) > hits:
            return
        time.sleep(0.2)
    pytest.fail("no repeat was answered by the fast path")
