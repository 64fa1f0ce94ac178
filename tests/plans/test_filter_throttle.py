"""The plan filter's throttle in its fast path (recommendations/plans/filter_fast.py): the view's
rule (homeservice/throttling.py, ``THROTTLE_PLANS_FILTER_RATE`` per user) on the same counts, each
request counted once, and the view's 429 when the user's rate is used up."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from typing import Any

import pytest
from django.contrib.auth.models import User
from rest_framework_simplejwt.tokens import AccessToken

from homeservice import throttling
from tests.plans.conftest import Shop
from tests.plans.filter_clients import FILTER, FastPathClient, FilterResponse, fast_path_outcomes

pytestmark = pytest.mark.django_db

ANSWERS = {"answers": {"product": "mobile", "budget": 60, "extras": ["5g"]}}
BODY = json.dumps(ANSWERS).encode()


@pytest.fixture
def client(plans_redis: Any, user: User, monkeypatch: pytest.MonkeyPatch, settings) -> Iterator[FastPathClient]:
    from recommendations.plans.tasks import plans_enrich_task

    settings.THROTTLE_RATES = {**settings.THROTTLE_RATES, "plans_filter": "4/minute"}
    monkeypatch.setattr(plans_enrich_task, "apply_async", lambda **kwargs: None)
    loop = asyncio.new_event_loop()
    made = FastPathClient(loop=loop)
    made.credentials(HTTP_AUTHORIZATION=f"Bearer {AccessToken.for_user(user)}")
    yield made
    made.close()
    loop.close()


def warm(client: FastPathClient) -> None:
    """The view has answered once (the user marked, the index loaded), then no request is counted."""
    assert client.post(FILTER, ANSWERS, format="json").served_by == "fast path"
    throttling.reset()


def fast(client: FastPathClient) -> FilterResponse | None:
    return client.fast(FILTER, BODY, "application/json", client._credentials)


def view(client: FastPathClient) -> FilterResponse:
    return client.view.post(FILTER, BODY, content_type="application/json")


def without_the_wait(response: FilterResponse) -> tuple[int, dict[str, str], bytes]:
    """Status, headers and body with the number of seconds taken out (the two answers may be made
    on either side of a second's tick)."""
    wait = response["Retry-After"].encode()
    headers = {k: v for k, v in response.headers.items() if k not in ("retry-after", "content-length")}
    return response.status_code, headers, response.content.replace(wait, b"<wait>")


def test_the_fast_path_counts_each_answer_once_and_then_answers_429(client, shop: Shop) -> None:
    warm(client)
    before = fast_path_outcomes()

    answers = [fast(client) for _ in range(5)]

    assert all(a is not None for a in answers)  # all answered by the fast path
    assert [a.status_code for a in answers if a] == [200, 200, 200, 200, 429]
    after = {k: v - before[k] for k, v in fast_path_outcomes().items()}
    assert (after["cached"], after["throttled"], after["pass"]) == (4, 1, 0)
    refused = answers[-1]
    assert refused is not None
    wait = int(refused["Retry-After"])
    assert 1 <= wait <= 60
    assert refused.json() == {
        "error": {
            "code": "throttled",
            "message": f"Request was throttled. Expected available in {wait} second{'s' if wait > 1 else ''}.",
            "details": {"retry_after": wait},
        }
    }


def test_the_fast_path_and_the_view_share_the_counts(client, shop: Shop) -> None:
    warm(client)

    by_view = [view(client).status_code for _ in range(2)]
    by_fast_path = [a.status_code for a in (fast(client), fast(client), fast(client)) if a]

    assert by_view == [200, 200]
    assert by_fast_path == [200, 200, 429]
    assert view(client).status_code == 429


def test_the_fast_paths_429_is_the_views(client, shop: Shop, settings) -> None:
    settings.SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    settings.SECURE_HSTS_SECONDS = 3600
    warm(client)
    for _ in range(4):
        fast(client)

    mine = client.fast(FILTER, BODY, "application/json", {**client._credentials, "HTTP_X_FORWARDED_PROTO": "https"})
    theirs = client.view.post(FILTER, BODY, content_type="application/json", HTTP_X_FORWARDED_PROTO="https")

    assert mine is not None
    assert mine.served_by == "fast path"
    assert (mine.status_code, theirs.status_code) == (429, 429)
    assert without_the_wait(mine) == without_the_wait(theirs)
    assert abs(int(mine["Retry-After"]) - int(theirs["Retry-After"])) <= 1
    assert mine["Strict-Transport-Security"].startswith("max-age=3600")


def test_a_deactivated_user_over_the_rate_is_left_to_the_view(
    client, shop: Shop, user: User, django_capture_on_commit_callbacks
) -> None:
    warm(client)
    for _ in range(4):
        fast(client)
    with django_capture_on_commit_callbacks(execute=True):
        user.is_active = False
        user.save()

    assert fast(client) is None  # passed on: the view authenticates before it throttles
    assert view(client).status_code == 401


def counted_so_far(user: User) -> int:
    """The requests counted for ``user`` in the plan filter's scope (limits' own key)."""
    item = throttling._item("plans_filter")
    assert item is not None
    storage = throttling._sync_limiter(throttling._where()).storage
    return int(storage.get(item.key_for("plans_filter", throttling.user_identity(user.pk))))


def test_a_request_left_to_the_view_carries_the_fast_paths_count(
    client, shop: Shop, user: User, django_capture_on_commit_callbacks
) -> None:
    """The user's mark is gone (saved since the view last answered them): the fast path counts
    the request in its read, then leaves it to the view with its verdict in the ASGI scope."""
    warm(client)
    with django_capture_on_commit_callbacks(execute=True):
        user.save()

    assert fast(client) is None
    assert client.passed.scope[throttling.COUNTED] == {"plans_filter": None}
    assert counted_so_far(user) == 1


def test_the_view_takes_a_fast_paths_verdict_instead_of_counting_again(client, shop: Shop, user: User) -> None:
    from rest_framework.test import APIRequestFactory, force_authenticate

    from recommendations.plans.api import PlansFilterApi

    def post_with(verdict: int | None) -> Any:
        request = APIRequestFactory().post(FILTER, ANSWERS, format="json")
        request.scope = {throttling.COUNTED: {"plans_filter": verdict}}  # type: ignore[attr-defined]  # as ASGI's has
        force_authenticate(request, user=user)
        return PlansFilterApi.as_view()(request)

    allowed, refused = post_with(None), post_with(7)

    assert allowed.status_code == 200
    assert (refused.status_code, refused["Retry-After"]) == (429, "7")
    assert counted_so_far(user) == 0  # neither was counted again
