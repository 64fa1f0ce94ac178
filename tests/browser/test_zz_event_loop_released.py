"""After the browser tests (this module runs after test_web_client.py), ``asyncio.run()`` works
again: Playwright's sync API runs an event loop on the test thread while chromium is open, so
the browser must be closed with its module, not kept for the session (the e2e tests that run
next use ``asyncio.run``)."""

from __future__ import annotations

import asyncio


def test_asyncio_run_works_after_the_browser_tests() -> None:
    async def answer() -> int:
        return 42

    assert asyncio.run(answer()) == 42
