"""Browser tests: Debian's chromium driven by Playwright (PyPI) against the real service.

Needs ``/usr/bin/chromium`` (``apt-get install -y chromium``; never a browser downloaded by a test
tool) and the built web client (``make web``, which ``make test`` runs when Node.js is there).
Without them the tests skip with the reason, unless ``CI`` is set: then they fail, loudly.
A failing test leaves a screenshot and the page's HTML in var/test-artifacts/browser/.
"""

from __future__ import annotations

import os
import re
import uuid
from collections.abc import Generator, Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.conftest import _full_stack_services, _with_path
from tests.e2e.harness import ROOT, free_port, launcher_env
from webclient.views import BUILD_DIR

from .stack import BrowserStack

CHROMIUM = "/usr/bin/chromium"
# Exactly these flags (docs/web-client.md, "Browser tests"): no sandbox in containers, no GPU,
# nothing phoning home.
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
ARTIFACTS = ROOT / "var" / "test-artifacts" / "browser"


def _missing() -> list[str]:
    missing = []
    if not Path(CHROMIUM).exists():
        missing.append(f"{CHROMIUM} is missing (apt-get install -y chromium)")
    try:
        import playwright  # noqa: F401
    except ImportError:
        missing.append("the playwright package is missing (make install)")
    if not (BUILD_DIR / "index.html").exists():
        missing.append(f"the web client is not built ({BUILD_DIR}; make web, which needs Node.js)")
    return missing


def require(missing: list[str], *, ci: bool) -> None:
    """Nothing missing: go on. Else skip saying why, or fail when running in CI."""
    if not missing:
        return
    reason = "browser tests cannot run: " + "; ".join(missing)
    if ci:
        pytest.fail(f"CI: {reason}", pytrace=False)
    pytest.skip(reason)


@pytest.fixture(scope="session")
def browser_requirements() -> None:
    require(_missing(), ci=bool(os.environ.get("CI")))


# Every page of a module logs in from 127.0.0.1: more logins a minute than one client address may
# make (THROTTLE_LOGIN_RATE; tests/test_throttling.py proves the default holds).
_STACK_SETTINGS = {"THROTTLE_LOGIN_RATE": "600/minute"}


@pytest.fixture(scope="module")
def browser_env(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, str]]:
    """Database and Redis for one module's stack: PostgreSQL + REDIS_URL when set, else embedded."""
    var_dir = tmp_path_factory.mktemp("browser-var")
    services = _full_stack_services()
    if services is None:
        from homeservice.embedded_redis import EmbeddedRedis

        redis_server = EmbeddedRedis().start()
        try:
            yield launcher_env(
                var_dir=var_dir,
                port=0,
                REDIS_URL=redis_server.url,
                REDIS_KEY_PREFIX=f"hs-browser-{uuid.uuid4().hex[:12]}",
                **_STACK_SETTINGS,
            )
        finally:
            redis_server.stop()
        return

    import psycopg
    import redis
    from psycopg import sql

    name = f"hs_browser_{uuid.uuid4().hex[:12]}"
    prefix = f"hs-browser-{uuid.uuid4().hex[:12]}"
    maintenance = _with_path(services[0], "/postgres")
    with psycopg.connect(maintenance, autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE DATABASE {} TEMPLATE template0").format(sql.Identifier(name)))
    try:
        yield launcher_env(
            var_dir=var_dir,
            port=0,
            DATABASE_URL=_with_path(services[0], f"/{name}"),
            REDIS_URL=services[1],
            REDIS_KEY_PREFIX=prefix,
            **_STACK_SETTINGS,
        )
    finally:
        with psycopg.connect(maintenance, autocommit=True) as conn:
            conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))
        client = redis.Redis.from_url(services[1])
        try:
            keys = list(client.scan_iter(match=f"{prefix}*", count=500))
            for start in range(0, len(keys), 500):
                client.delete(*keys[start : start + 500])
        finally:
            client.close()


@pytest.fixture(scope="module")
def stack(
    browser_requirements: None, browser_env: dict[str, str], tmp_path_factory: pytest.TempPathFactory
) -> Iterator[BrowserStack]:
    log_dir = tmp_path_factory.mktemp("browser-logs")
    running = BrowserStack(env=browser_env, port=free_port(), log_dir=log_dir).setup()
    try:
        running.start()
        yield running
    finally:
        running.stop()


@pytest.fixture(scope="module")
def browser(browser_requirements: None) -> Iterator[Any]:
    """Chromium for one module. Not longer: Playwright's sync API runs an event loop on this
    thread while it is open, and other tests' ``asyncio.run()`` refuse to start inside one."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            yield chromium
        finally:
            chromium.close()


def _artifact_name(item: pytest.Item) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", item.nodeid.split("::", 1)[-1])[:120]


@pytest.fixture
def new_page(browser: Any, request: pytest.FixtureRequest) -> Iterator[Any]:
    """``new_page(width=..., height=...)``: a page in a fresh context (its own storage); all are
    screenshotted into var/test-artifacts/browser/ if the test fails."""
    contexts: list[Any] = []
    pages: list[Any] = []

    def make(width: int = 1280, height: int = 900) -> Any:
        context = browser.new_context(viewport={"width": width, "height": height})
        context.set_default_timeout(30_000)
        contexts.append(context)
        page = context.new_page()
        page.console_messages = []
        page.on("console", lambda message: page.console_messages.append(f"{message.type}: {message.text}"))
        pages.append(page)
        return page

    yield make
    report = getattr(request.node, "rep_call", None)
    if report is not None and report.failed:
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        for index, page in enumerate(pages):
            base = ARTIFACTS / f"{_artifact_name(request.node)}-{index}"
            try:
                page.screenshot(path=str(base.with_suffix(".png")), full_page=True)
                base.with_suffix(".html").write_text(page.content())
                base.with_suffix(".console.txt").write_text("\n".join(page.console_messages))
            except Exception as exc:  # a screenshot must not hide the failure
                base.with_suffix(".error.txt").write_text(repr(exc))
    for context in contexts:
        context.close()


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(
    item: pytest.Item, call: pytest.CallInfo[None]
) -> Generator[None, pytest.TestReport, pytest.TestReport]:
    report = yield
    if report.when == "call":
        item.rep_call = report  # type: ignore[attr-defined]
        funcargs = getattr(item, "funcargs", {})
        if report.failed and "stack" in funcargs:
            report.sections.append(("service logs", funcargs["stack"].logs()))
    return report
