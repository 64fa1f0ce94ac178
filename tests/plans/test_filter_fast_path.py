"""The plan filter's fast path (recommendations/plans/filter_fast.py): when it answers, and that it hands every
other request to Django with its body intact.

The API tests (test_api.py) run against it through ``FastPathClient``, which compares each answer
with the view's. These tests look at the fast path itself: ``client.fast(...)`` puts a request to
it alone and returns None when it passed the request on.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest
from django.contrib.auth.models import User
from django.test import Client
from rest_framework_simplejwt.tokens import AccessToken

from recommendations.plans import cache, selectors
from recommendations.plans.answers import answers_key
from recommendations.plans.filter_fast import fast_path_possible
from tests.plans.conftest import Shop, plan
from tests.plans.filter_clients import FILTER, FastPathClient, fast_path_outcomes

pytestmark = pytest.mark.django_db

ANSWERS = {"answers": {"product": "mobile", "budget": 60, "extras": ["5g"]}}


@pytest.fixture
def client(plans_redis: Any, user: User, monkeypatch: pytest.MonkeyPatch) -> Iterator[FastPathClient]:
    from recommendations.plans.tasks import plans_enrich_task

    monkeypatch.setattr(plans_enrich_task, "apply_async", lambda **kwargs: None)
    loop = asyncio.new_event_loop()
    made = FastPathClient(loop=loop)
    made.credentials(HTTP_AUTHORIZATION=f"Bearer {AccessToken.for_user(user)}")
    yield made
    made.close()
    loop.close()


def body(value: Any = ANSWERS) -> bytes:
    return json.dumps(value).encode()


def fast(client: FastPathClient, data: bytes = b"", content_type: str = "application/json", **extra: str) -> Any:
    headers = {**client._credentials, **extra}
    return client.fast(FILTER, data or body(), content_type, headers)


def warmed(client: FastPathClient) -> FastPathClient:
    """The view has answered once (user marked, index loaded); the fast path answers the repeat."""
    assert client.post(FILTER, ANSWERS, format="json").served_by == "fast path"
    return client


# --- it answers --------------------------------------------------------------------------------------


def test_after_one_view_answer_the_fast_path_answers_cached_and_new_answers(client, shop: Shop) -> None:
    before = fast_path_outcomes()

    first = client.post(FILTER, ANSWERS, format="json")  # the view first, then the fast path (computed)
    again = client.post(FILTER, ANSWERS, format="json")  # cached
    other = client.post(FILTER, {"answers": {"product": "broadband"}}, format="json")  # new answers: computed

    assert (first.served_by, again.served_by, other.served_by) == ("fast path",) * 3
    assert [p["code"] for p in other.json()["plans"]] == ["fibre-500", "fibre-1000"]
    after = {k: after - before[k] for k, after in fast_path_outcomes().items()}
    # the first request: no index in this process yet; its repeat: the view had cached the answer
    assert after == {"cached": 2, "computed": 1, "pass": 0, "user": 0, "catalogue": 1, "error": 0, "throttled": 0}


def test_what_the_fast_path_writes_is_what_the_view_reads(client, shop: Shop, user: User) -> None:
    warmed(client)
    answers = {"extras": ["family", "5g"], "budget": 60}
    sent = fast(client, body({"answers": answers, "request_id": "r-9"}))
    assert sent is not None

    normalised = {"budget": 60.0, "extras": ["5g", "family"]}
    assert cache.latest_request(user.pk) == {"request_id": "r-9", "answers": normalised}
    loaded = selectors.loaded_catalogue()
    assert loaded is not None
    stored = cache.result_get(loaded.index.version, answers_key(normalised))
    assert stored == {"total": sent.json()["total"], "plans": sent.json()["plans"]}
    assert cache.enrich_mark(user.pk) is False  # the fast path marked the refinement as queued


def test_the_fast_path_queues_the_refinement_once_per_burst(client, shop: Shop, user: User, monkeypatch) -> None:
    from recommendations.plans.tasks import plans_enrich_task

    warmed(client)
    cache.enrich_clear(user.pk)
    queued: list[dict[str, Any]] = []
    monkeypatch.setattr(plans_enrich_task, "apply_async", lambda *, kwargs, **options: queued.append(kwargs))

    for request_id in ("r-1", "r-2"):
        answered = fast(client, body({"answers": {"extras": ["5g", "fibre"], "budget": 30}, "request_id": request_id}))
        assert answered is not None

    assert queued == [{"user_id": user.pk, "request_id": "r-1", "answers": {"budget": 30.0, "extras": ["5g", "fibre"]}}]


def test_behind_a_tls_proxy_it_sends_the_views_security_headers(client, shop: Shop, settings) -> None:
    settings.SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    settings.SECURE_SSL_REDIRECT = True
    settings.SECURE_HSTS_SECONDS = 3600
    settings.SECURE_HSTS_INCLUDE_SUBDOMAINS = True
    settings.SECURE_HSTS_PRELOAD = False

    client.post(FILTER, ANSWERS, format="json", HTTP_X_FORWARDED_PROTO="https")
    response = client.post(FILTER, ANSWERS, format="json", HTTP_X_FORWARDED_PROTO="https")  # compared with the view's

    assert response.served_by == "fast path"
    assert response["Strict-Transport-Security"] == "max-age=3600; includeSubDomains"
    assert response["X-Content-Type-Options"] == "nosniff"


# --- it stands aside ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("data", "content_type", "extra"),
    [
        (None, "application/json", {"HTTP_HOST": "evil.example.com"}),  # a host ALLOWED_HOSTS refuses
        (None, "application/json", {"HTTP_AUTHORIZATION": ""}),  # no token
        (None, "application/json", {"HTTP_AUTHORIZATION": "Bearer not-a-token"}),
        (None, "text/plain", {}),
        (None, "application/json; charset=utf-8", {}),  # the view reads it; the fast path leaves it
        (b"{", "application/json", {}),  # not JSON: the view's 400
        (b'{"answers": {"product": "boat"}}', "application/json", {}),  # invalid answers: the view's 400
        (b'{"answers": {}, "request_id": "has spaces"}', "application/json", {}),
        (b'{"answers": {"budget": NaN}}', "application/json", {}),
        (b'["answers"]', "application/json", {}),
        (json.dumps({"answers": {}, "pad": "x" * 70_000}).encode(), "application/json", {}),  # over 64 KiB
    ],
)
def test_it_passes_requests_it_does_not_answer(
    client, shop: Shop, data: bytes | None, content_type: str, extra: dict[str, str]
) -> None:
    warmed(client)
    before = fast_path_outcomes()
    headers = {**client._credentials, **extra}
    if "HTTP_HOST" in headers:
        host = headers.pop("HTTP_HOST").encode()
        assert _raw(client, data or body(), content_type, headers, host=host) is None
    else:
        assert client.fast(FILTER, data or body(), content_type, headers) is None
    assert fast_path_outcomes()["pass"] - before["pass"] == 1


def test_a_body_shorter_than_its_content_length_is_passed_on(client, shop: Shop) -> None:
    warmed(client)
    assert _raw(client, body(), "application/json", client._credentials, length=len(body()) + 5) is None


def test_plain_http_under_ssl_redirect_is_passed_on(client, shop: Shop, settings) -> None:
    warmed(client)
    settings.SECURE_SSL_REDIRECT = True
    assert fast(client) is None
    fresh = Client()  # its middleware is built under the new setting
    assert fresh.post(FILTER, body(), content_type="application/json").status_code == 301


def test_an_expired_token_is_refused_by_the_view(client, shop: Shop, user: User) -> None:
    token = AccessToken.for_user(user)
    token.set_exp(lifetime=timedelta(seconds=2))
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {token}")
    warmed(client)

    time.sleep(max(0.0, float(token["exp"]) - time.time()) + 0.2)
    response = client.post(FILTER, ANSWERS, format="json")

    assert (response.status_code, response.served_by) == (401, "view")


@pytest.mark.parametrize("change", ["deactivated", "deleted"])
def test_a_deactivated_or_deleted_user_is_refused_by_the_view(
    client, shop: Shop, user: User, change: str, django_capture_on_commit_callbacks
) -> None:
    warmed(client)
    before = fast_path_outcomes()

    with django_capture_on_commit_callbacks(execute=True):  # the generation is replaced after commit
        if change == "deactivated":
            user.is_active = False
            user.save()
        else:
            user.delete()
    response = client.post(FILTER, ANSWERS, format="json")

    assert (response.status_code, response.served_by) == (401, "view")
    assert fast_path_outcomes()["user"] - before["user"] == 1


@pytest.mark.django_db(transaction=True)  # the change is committed, as a bulk update in production
def test_a_user_deactivated_by_a_bulk_update_is_refused_within_a_second(client, shop: Shop, user: User) -> None:
    warmed(client)

    User.objects.filter(pk=user.pk).update(is_active=False)  # no signal
    client.loop.run_until_complete(asyncio.sleep(1.0))  # the server process runs for a second
    response = client.post(FILTER, ANSWERS, format="json")

    assert (response.status_code, response.served_by) == (401, "view")


def test_another_users_mark_does_not_count(client, shop: Shop) -> None:
    warmed(client)
    from tests.factories import UserFactory

    other = UserFactory.create()
    assert fast(client, HTTP_AUTHORIZATION=f"Bearer {AccessToken.for_user(other)}") is None  # not marked yet


def test_a_new_catalogue_version_goes_to_the_view_which_builds_its_index(
    client, shop: Shop, django_capture_on_commit_callbacks
) -> None:
    warmed(client)
    before = fast_path_outcomes()

    with django_capture_on_commit_callbacks(execute=True):  # bumps the version after commit
        plan(shop.products["mobile"], "mini", "4.99", data_gb=1, tags=["5g"])
    response = client.post(FILTER, ANSWERS, format="json")  # passes, the view answers, then the fast path

    assert response.json()["plans"][0]["code"] == "mini"
    assert fast_path_outcomes()["catalogue"] - before["catalogue"] == 1


def test_no_index_in_this_process_goes_to_the_view(client, shop: Shop) -> None:
    warmed(client)
    selectors.reset()
    before = fast_path_outcomes()
    assert fast(client) is None
    assert fast_path_outcomes()["catalogue"] - before["catalogue"] == 1


def test_with_redis_unreachable_the_view_answers(client, shop: Shop, settings) -> None:
    warmed(client)
    settings.FEED_DOC_REDIS_URL = "redis://127.0.0.1:1/0"  # nothing listens there
    before = fast_path_outcomes()

    assert fast(client) is None

    assert fast_path_outcomes()["error"] - before["error"] == 1
    assert fast(client) is None  # Redis is skipped for a while
    assert fast_path_outcomes()["pass"] - before["pass"] == 1


def test_the_fast_path_says_why_it_is_off(plans_redis, settings) -> None:
    settings.PLANS_FAST_PATH = False
    assert "PLANS_FAST_PATH" in fast_path_possible()
    settings.PLANS_FAST_PATH = True
    settings.MIDDLEWARE = [*settings.MIDDLEWARE, "django.middleware.gzip.GZipMiddleware"]
    assert "middleware" in fast_path_possible()


def test_switched_off_it_passes_everything(client, shop: Shop, settings) -> None:
    warmed(client)
    settings.PLANS_FAST_PATH = False
    assert fast(client) is None


def test_the_metrics_count_its_outcomes(client, shop: Shop, settings) -> None:
    settings.DEBUG = True  # /metrics answers anyone under DEBUG
    warmed(client)

    exported = Client().get("/metrics").content.decode()

    assert 'homeservice_plans_filter_fast_path_requests_total{outcome="cached"}' in exported


def _raw(
    client: FastPathClient,
    data: bytes,
    content_type: str,
    extra: dict[str, str],
    *,
    host: bytes = b"testserver",
    length: int | None = None,
) -> Any:
    """A request put to the fast path alone, with its own host or Content-Length; None if passed on."""
    client.passed.called = False
    headers = [
        (b"host", host),
        (b"content-type", content_type.encode()),
        (b"content-length", str(len(data) if length is None else length).encode()),
        *[(k.removeprefix("HTTP_").lower().replace("_", "-").encode(), v.encode()) for k, v in extra.items()],
    ]
    scope = {
        "type": "http",
        "method": "POST",
        "scheme": "http",
        "path": FILTER,
        "query_string": b"",
        "headers": headers,
    }
    sent: list[Any] = []
    messages = [{"type": "http.request", "body": data, "more_body": False}]

    async def receive() -> Any:
        return messages.pop(0) if messages else {"type": "http.disconnect"}

    async def send(message: Any) -> None:
        sent.append(message)

    client.loop.run_until_complete(client.app(scope, receive, send))
    if client.passed.called:
        assert not sent
        assert client.passed.body == data
        return None
    return sent
