"""Two ways to post to the plan filter, for contract tests that must hold for both.

- ``ViewClient``: the reference, the DRF view through Django's test client and all middleware.
- ``FastPathClient``: the ASGI fast path (recommendations/plans/filter_fast.py) in front of the view. Every
  request is put to the fast path first and to the view too, and the two answers are compared:
  when the fast path answers, the view must answer the same at that moment (status, headers and
  body; a generated ``request_id`` aside, as it is random); when it stands aside and the view
  answers 200, the same request is put to the fast path again, which must now answer (the view has
  marked the user and loaded the index) what the view answered. A test therefore fails if the
  fast path answers differently, answers what the view refuses, or answers nothing it could
  (``strict = False`` for a test where the view answers without the shared cache).
"""

from __future__ import annotations

import asyncio
import json
from dataclasses import dataclass, field
from typing import Any

from rest_framework.test import APIClient

from recommendations.plans.filter_fast import OUTCOMES, PlansFilterFastPath

FILTER = "/api/v1/plans/filter/"
IGNORED_HEADERS = {"date", "server"}


@dataclass
class FilterResponse:
    status_code: int
    headers: dict[str, str]  # lower-case names
    content: bytes
    served_by: str = "view"  # or "fast path"

    def __getitem__(self, name: str) -> str:
        return self.headers[name.lower()]

    def json(self) -> Any:
        return json.loads(self.content)


def _from_django(response: Any) -> FilterResponse:
    return FilterResponse(
        status_code=response.status_code,
        headers={k.lower(): v for k, v in response.headers.items() if k.lower() not in IGNORED_HEADERS},
        content=response.content,
    )


def _encode(body: Any, format: str | None, content_type: str | None) -> tuple[bytes, str]:
    if format == "json":
        return json.dumps(body).encode(), "application/json"
    assert content_type is not None
    return body if isinstance(body, bytes) else str(body).encode(), content_type


class ViewClient:
    served_by_fast_path = 0

    def __init__(self) -> None:
        self.api = APIClient()
        self.strict = True

    def credentials(self, **extra: str) -> None:
        self.api.credentials(**extra)

    def get(self, path: str, **extra: str) -> Any:
        return self.api.get(path, **extra)  # type: ignore[arg-type]  # extra: META headers

    def post(
        self, path: str, body: Any = None, format: str | None = None, content_type: str | None = None, **extra: str
    ) -> FilterResponse:
        data, kind = _encode(body, format, content_type)
        return _from_django(self.api.post(path, data, content_type=kind, **extra))  # type: ignore[arg-type]


@dataclass
class _Passed:
    called: bool = False
    body: bytes = b""
    scope: Any = None

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        self.called = True
        self.scope = scope
        chunks = []
        while True:
            message = await receive()
            chunks.append(message.get("body", b""))
            if not message.get("more_body"):
                break
        self.body = b"".join(chunks)


@dataclass
class FastPathClient:
    loop: asyncio.AbstractEventLoop
    view: ViewClient = field(default_factory=ViewClient)
    served_by_fast_path: int = 0
    strict: bool = True

    def __post_init__(self) -> None:
        self.passed = _Passed()
        self.app = PlansFilterFastPath(self.passed)
        self._credentials: dict[str, str] = {}

    def credentials(self, **extra: str) -> None:
        self._credentials = dict(extra)
        self.view.credentials(**extra)

    def get(self, path: str, **extra: str) -> Any:
        return self.view.get(path, **extra)

    def post(
        self, path: str, body: Any = None, format: str | None = None, content_type: str | None = None, **extra: str
    ) -> FilterResponse:
        data, kind = _encode(body, format, content_type)
        headers = {**self._credentials, **extra}
        fast = self.fast(path, data, kind, headers)
        reference = self.view.post(path, data, content_type=kind, **extra)
        if fast is None and reference.status_code == 200 and self.strict:
            fast = self.fast(path, data, kind, headers)
            assert fast is not None, "the fast path did not answer a request the view answered"
        if fast is None:
            return reference
        _same(fast, reference, request_id_given=_request_id_given(data))
        self.served_by_fast_path += 1
        return fast

    def fast(self, path: str, data: bytes, content_type: str, extra: dict[str, str]) -> FilterResponse | None:
        """The fast path's answer, or None when it passed the request on (with its body intact)."""
        self.passed.called = False
        headers = [
            (b"host", b"testserver"),
            (b"content-type", content_type.encode()),
            (b"content-length", str(len(data)).encode()),
        ]
        for key, value in extra.items():
            assert key.startswith("HTTP_"), key
            headers.append((key.removeprefix("HTTP_").lower().replace("_", "-").encode(), value.encode("latin-1")))
        scope = {
            "type": "http",
            "asgi": {"version": "3.0"},
            "http_version": "1.1",
            "method": "POST",
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
        pieces = [data[: len(data) // 2], data[len(data) // 2 :]]  # two messages: the body is reassembled

        async def receive() -> dict[str, Any]:
            if pieces:
                return {"type": "http.request", "body": pieces.pop(0), "more_body": bool(pieces)}
            return {"type": "http.disconnect"}

        async def send(message: Any) -> None:
            sent.append(message)

        self.loop.run_until_complete(self.app(scope, receive, send))
        if self.passed.called:
            assert not sent
            assert self.passed.body == data  # what the fast path read is handed on
            return None
        start, body = sent
        return FilterResponse(
            status_code=start["status"],
            headers={k.decode().lower(): v.decode("latin-1") for k, v in start["headers"]},
            content=body["body"],
            served_by="fast path",
        )

    def close(self) -> None:
        self.loop.run_until_complete(self.app.aclose())


def _request_id_given(data: bytes) -> bool:
    try:
        body = json.loads(data)
    except ValueError:
        return False
    return isinstance(body, dict) and "request_id" in body


def _same(fast: FilterResponse, view: FilterResponse, *, request_id_given: bool) -> None:
    assert fast.status_code == view.status_code == 200
    assert fast.headers == view.headers, (fast.headers, view.headers)
    if request_id_given:
        assert fast.content == view.content
    else:
        mine, theirs = fast.json(), view.json()
        assert mine.pop("request_id").startswith("pf-")
        assert theirs.pop("request_id").startswith("pf-")
        assert mine == theirs


def fast_path_outcomes() -> dict[str, float]:
    from recommendations.plans.filter_fast import FAST_PATH

    return {outcome: FAST_PATH.labels(outcome=outcome)._value.get() for outcome in OUTCOMES}
