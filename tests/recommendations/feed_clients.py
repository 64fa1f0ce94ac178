"""Two ways to ask for the home feed, for contract tests that must hold for both.

- ``ViewClient``: the reference, the DRF view through Django's test client and all middleware.
- ``FastPathClient``: the ASGI fast path (recommendations/api/home_fast.py) in front of the view.
  Every request is put to the fast path first and to the view too, and the two answers are
  compared: when the fast path answers, it must answer what the view answers at that moment
  (status, headers, and body, all but the document's ``generated_at``); when it stands aside and
  the view answers 200 or 304, the same request is put to the fast path again, which must now
  answer from the stored document, byte for byte what the view sent. A test therefore fails if
  the fast path answers differently, or answers nothing it could.

Where the fast path builds missing documents itself (recommendations/feed_build.py: PostgreSQL),
it must: standing aside on a request the view then answers 200 or 304 fails the test. Its builder
reads through its own database connections, so the data must be committed: tests using these
clients run with ``transactional_db`` (the fixtures that make them ask for it).
"""

from __future__ import annotations

import asyncio
import json
from dataclasses import dataclass, field
from typing import Any

from rest_framework.test import APIClient

from recommendations.api.home_fast import HomeFeedFastPath
from recommendations.feed_build import build_possible
from recommendations.fragments.metrics import FAST_PATH, FAST_PATH_OUTCOMES

IGNORED_HEADERS = {"date", "server"}


@dataclass
class FeedResponse:
    status_code: int
    headers: dict[str, str]  # lower-case names
    content: bytes
    served_by: str = "view"  # or "fast path"

    def __getitem__(self, name: str) -> str:
        return self.headers[name.lower()]

    def __contains__(self, name: str) -> bool:
        return name.lower() in self.headers

    def json(self) -> Any:
        return json.loads(self.content)


def _from_django(response: Any) -> FeedResponse:
    return FeedResponse(
        status_code=response.status_code,
        headers={k.lower(): v for k, v in response.headers.items() if k.lower() not in IGNORED_HEADERS},
        content=response.content,
    )


class ViewClient:
    def __init__(self) -> None:
        self.api = APIClient()

    def credentials(self, **extra: str) -> None:
        self.api.credentials(**extra)

    def get(self, path: str, **extra: str) -> FeedResponse:
        return _from_django(self.api.get(path, **extra))  # type: ignore[arg-type]  # extra: META headers


@dataclass
class _Passed:
    called: bool = False

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        self.called = True


@dataclass
class FastPathClient:
    loop: asyncio.AbstractEventLoop
    view: ViewClient = field(default_factory=ViewClient)
    answered: int = 0  # requests the fast path answered

    def __post_init__(self) -> None:
        self.passed = _Passed()
        self.app = HomeFeedFastPath(self.passed)
        self._credentials: dict[str, str] = {}

    def credentials(self, **extra: str) -> None:
        self._credentials = dict(extra)
        self.view.credentials(**extra)

    def get(self, path: str, **extra: str) -> FeedResponse:
        fast = self._fast(path, {**self._credentials, **extra})
        reference = self.view.get(path, **extra)
        if fast is None and reference.status_code in (200, 304):
            why_not = build_possible()
            assert why_not, "the fast path did not build a document the view answered"
            fast = self._fast(path, {**self._credentials, **extra})
            assert fast is not None, "the fast path did not answer from the document the view stored"
            assert _same(fast, reference, exact=True)
        elif fast is not None:
            assert _same(fast, reference, exact=False)
        if fast is None:
            return reference
        self.answered += 1
        return fast

    def _fast(self, path: str, extra: dict[str, str]) -> FeedResponse | None:
        self.passed.called = False
        headers = [(b"host", b"testserver")]
        for key, value in extra.items():
            assert key.startswith("HTTP_"), key
            headers.append((key.removeprefix("HTTP_").lower().replace("_", "-").encode(), value.encode("latin-1")))
        scope = {
            "type": "http",
            "asgi": {"version": "3.0"},
            "http_version": "1.1",
            "method": "GET",
            "scheme": "http",
            "path": path,
            "raw_path": path.encode(),
            "query_string": b"",
            "root_path": "",
            "headers": headers,
            "client": ("127.0.0.1", 50000),
            "server": ("testserver", 80),
        }
        sent: list[Any] = []

        async def receive() -> dict[str, Any]:
            return {"type": "http.request", "body": b"", "more_body": False}

        async def send(message: Any) -> None:
            sent.append(message)

        self.loop.run_until_complete(self.app(scope, receive, send))
        if self.passed.called:
            assert not sent
            return None
        start, body = sent
        return FeedResponse(
            status_code=start["status"],
            headers={k.decode().lower(): v.decode("latin-1") for k, v in start["headers"]},
            content=body["body"],
            served_by="fast path",
        )

    def close(self) -> None:
        self.loop.run_until_complete(self.app.aclose())


def _same(fast: FeedResponse, view: FeedResponse, *, exact: bool) -> bool:
    assert fast.status_code == view.status_code
    assert fast.headers == view.headers or _only_length_differs(fast, view, exact=exact), (fast.headers, view.headers)
    if exact or not fast.content:
        assert fast.content == view.content
    else:
        mine, theirs = fast.json(), view.json()
        mine.pop("generated_at"), theirs.pop("generated_at")
        assert mine == theirs
    return True


def _only_length_differs(fast: FeedResponse, view: FeedResponse, *, exact: bool) -> bool:
    """A stored document and a fresh one differ in ``generated_at``, whose length may differ
    (microseconds are left out when zero)."""
    if exact:
        return False
    strip = {"content-length"}
    return {k: v for k, v in fast.headers.items() if k not in strip} == {
        k: v for k, v in view.headers.items() if k not in strip
    }


def fast_path_outcomes() -> dict[str, float]:
    return {outcome: FAST_PATH.labels(outcome=outcome)._value.get() for outcome in FAST_PATH_OUTCOMES}


def documents_missed(before: dict[str, float]) -> float:
    """Requests since ``before`` that found no servable document (the fast path built it, or the
    view answered)."""
    after = fast_path_outcomes()
    return after["built"] + after["miss"] - before["built"] - before["miss"]
