"""The fast path for ``POST /api/v1/plans/filter/``: an ASGI app in front of Django.

The DRF view (``recommendations/plans/api.py``, ``PlansFilterApi``) is the reference. This app answers the same
request without Django's request, middleware, DRF or the user lookup, with the plan finder's own
functions and two Redis round trips, when it can answer exactly as the view would:

- a ``POST`` of the filter path, over HTTPS where ``SECURE_SSL_REDIRECT`` asks for it, for a host
  ``ALLOWED_HOSTS`` accepts (homeservice/fast_path.py, shared with the home feed's fast path);
- a valid access token (``Authorization: Bearer``) of a user the view has authenticated under
  the user's current generations (recommendations/plans/fast_users.py: a user saved, deactivated or deleted is
  left to the view, which refuses them);
- ``Content-Type: application/json`` and a ``Content-Length`` of at most 64 KiB, matching the
  body; the body parsed by DRF's own ``JSONParser`` and checked by the view's own serializer
  (``plainly_given`` gives the serializer's result for plain bodies without running it);
- answers valid for this process's catalogue index (``selectors.loaded_catalogue``), checked and
  normalised by ``answers.check_answers``, and that index being the current catalogue version.

The first round trip (one ``MGET`` when the plan cache and the feed documents share a Redis)
reads the catalogue version, the cached answer for the normalised answers under that version,
and the user's generations and mark, and counts the request in the view's throttle
(homeservice/throttling.py, per user, in the same pipeline); a user over the rate gets the view's
429 from here, and a request left to the view carries the verdict there (counted once). The
answer comes from the cache or is computed in-process (``selectors.answer_of``: matching and
ranking), and the second round trip (one pipeline) writes
what the view writes through ``recommendations/plans/cache.py``, in its key and value format (django-redis): the
computed answer, the user's newest request, and the enrichment's queued mark. When that mark was
not there, the enrichment task is published as the view does (``services.plans_enrich_queue``),
in a worker thread (``asyncio.to_thread``: Celery's publish is synchronous I/O) before the answer
is sent, as the view publishes it before answering. The body is ``services.filter_answer``
encoded with orjson, as the view's.

Anything else goes to Django unchanged (the body read so far is handed on), where the view
answers or the usual error is returned: a bad request, invalid answers (the view's 400), a user
not marked, an index not loaded for the current version (the view builds it), Redis unreachable
(``error``; Redis is then skipped for ``FRAGMENT_L2_RETRY_SECONDS``), or the plan cache off or
unusable in this process. ``PLANS_FAST_PATH=false`` switches it off.
"""

from __future__ import annotations

import asyncio
import io
import logging
import re
import time
from collections.abc import Mapping
from typing import Any

import orjson
import redis.asyncio as aioredis
from django.conf import settings
from django.core.cache import caches
from django.core.signals import setting_changed
from django.dispatch import receiver
from django.urls import reverse
from prometheus_client import Counter
from rest_framework.exceptions import ParseError
from rest_framework.parsers import JSONParser

from homeservice import fast_path, throttling
from homeservice.errors import ApplicationError
from homeservice.fast_path import ASGIApp, Receive, Scope, Send
from recommendations.fragments import account_changes, documents

from . import cache as plans_cache
from . import fast_users, selectors, services
from .answers import answers_key, check_answers
from .api import CACHE_CONTROL, CONTENT_TYPE, REQUEST_ID_PATTERN, PlansFilterApi

logger = logging.getLogger(__name__)

MAX_BODY_BYTES = 64 * 1024

FAST_PATH = Counter(
    "homeservice_plans_filter_fast_path_requests",
    "Plan filter requests seen by its fast path, by outcome: cached (answered from the answer "
    "cache), computed (answered, matched in-process), pass (not a request it answers: bad request, "
    "invalid answers, no token, ...; the view answered), user (user not marked as checked under "
    "their current generations: the view answered), catalogue (this process's index is not the "
    "current version's: the view answered), error (Redis failed: the view answered), throttled "
    "(answered 429: the user's THROTTLE_PLANS_FILTER_RATE is used up).",
    ["outcome"],
)
OUTCOMES = ("cached", "computed", "pass", "user", "catalogue", "error", "throttled")
_COUNTERS = {outcome: FAST_PATH.labels(outcome=outcome) for outcome in OUTCOMES}
ANSWERED = frozenset({"cached", "computed", "throttled"})
THROTTLE_SCOPE = throttling.PlansFilterThrottle.scope
_NEEDED = (b"host", b"authorization", b"content-type", b"content-length")
_PARSER = JSONParser()
# REQUEST_ID_PATTERN without its anchors: a value it matches whole needs no trimming.
_PLAIN_REQUEST_ID = re.compile(REQUEST_ID_PATTERN.removeprefix("^").removesuffix("$"))

_why_not: str | None = None  # fast_path_possible()
_cache_backend: Any = None  # _backend()


@receiver(setting_changed, dispatch_uid="plans_filter_fast.setting_changed")
def _forget(**kwargs: Any) -> None:
    global _why_not, _cache_backend
    _why_not = _cache_backend = None


def _backend() -> Any:
    """The django-redis cache the plan finder uses, for its key and value format (make_key,
    encode, decode: no I/O); taken once, as ``caches`` makes one per async context."""
    global _cache_backend
    if _cache_backend is None:
        _cache_backend = caches["default"]
    return _cache_backend


def fast_path_possible() -> str:
    """Why the fast path cannot run with these settings ('' when it can)."""
    global _why_not
    if _why_not is None:
        _why_not = _why_not_possible()
    return _why_not


def _why_not_possible() -> str:
    if not settings.PLANS_FAST_PATH:
        return "PLANS_FAST_PATH is off"
    if not fast_users.enabled():
        return "the feed document generations are off (no Redis, FEED_DOC_CACHE off or FEED_DOC_TTL_SECONDS < 1)"
    if _cache_url() is None:
        return "the plan finder's cache is not django-redis"
    if min(settings.PLANS_CACHE_TTL_SECONDS, settings.PLANS_LATEST_REQUEST_TTL_SECONDS) < 1 or (
        settings.PLANS_ENRICH and settings.PLANS_ENRICH_DEDUPE_SECONDS < 1
    ):
        return "plan finder cache lifetimes under 1 s"
    if list(PlansFilterApi.throttle_classes) != [throttling.PlansFilterThrottle]:
        return "the view's throttles are not the one it applies"
    return fast_path.settings_why_not()


def _cache_url() -> str | None:
    config = settings.CACHES.get("default", {})
    location = config.get("LOCATION")
    client_class = config.get("OPTIONS", {}).get("CLIENT_CLASS", "django_redis.client.DefaultClient")
    if (
        config.get("BACKEND") != "django_redis.cache.RedisCache"
        or client_class != "django_redis.client.DefaultClient"
        or not isinstance(location, str)
        or "," in location
    ):
        return None
    return location


def _body_limit() -> int:
    limit = settings.DATA_UPLOAD_MAX_MEMORY_SIZE
    return MAX_BODY_BYTES if limit is None else min(MAX_BODY_BYTES, int(limit))


class PlansFilterFastPath:
    """ASGI middleware: answers plan filter requests it can, passes everything else to ``app``."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app
        self._path: str | None = None
        self._allow: bytes | None = None
        self._redis = fast_path.RedisClients()
        self._down_until = 0.0

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"] != self.path() or scope["method"] != "POST":
            await self.app(scope, receive, send)
            return
        read: list[Mapping[str, Any]] = []
        outcome = await self._answer(scope, receive, send, read)
        _COUNTERS[outcome].inc()
        if outcome not in ANSWERED:
            await self.app(scope, _replay(read, receive), send)

    def path(self) -> str:
        if self._path is None:
            self._path = reverse("plans-filter")
        return self._path

    async def _answer(self, scope: Scope, receive: Receive, send: Send, read: list[Mapping[str, Any]]) -> str:
        """Send the answer and say how it was made ('cached', 'computed'), or say why not and
        send nothing; messages taken from ``receive`` are appended to ``read``."""
        if fast_path_possible() or time.monotonic() < self._down_until or not plans_cache.usable():
            return "pass"
        account_changes.ensure_watching()  # accounts changed without a signal (fragments/account_changes.py)
        headers = fast_path.read_headers(scope, _NEEDED)
        if headers is None or headers.get(b"content-type") != CONTENT_TYPE.encode():
            return "pass"
        secure = fast_path.transport_secure(scope, headers)
        user_id = fast_path.user_id(headers.get(b"authorization"))
        if secure is None or user_id is None:
            return "pass"
        body = await _body(headers.get(b"content-length"), receive, read)
        if body is None:
            return "pass"
        try:
            data = _PARSER.parse(io.BytesIO(body), CONTENT_TYPE, {"encoding": settings.DEFAULT_CHARSET})
        except ParseError:
            return "pass"
        current = selectors.loaded_catalogue()
        if current is None:
            return "catalogue"
        given = plainly_given(data)
        if given is None:
            serializer = PlansFilterApi.InputSerializer(data=data)
            if not serializer.is_valid():
                return "pass"
            given = serializer.validated_data
        index = current.index
        try:
            normalised = check_answers(given["answers"], questions=index.questions, validator=current.validator)
        except ApplicationError:
            return "pass"  # the view answers the 400 (under the current version's questions)
        try:
            return await self._reply(scope, send, secure, int(user_id), current, normalised, given)
        except (aioredis.RedisError, OSError):
            self._down_until = time.monotonic() + settings.FRAGMENT_L2_RETRY_SECONDS
            throttling.forget_scripts()
            logger.warning("plan filter fast path: Redis failed; the view answers", exc_info=True)
            return "error"

    async def _reply(
        self,
        scope: Scope,
        send: Send,
        secure: bool,
        user_id: int,
        current: selectors.Catalogue,
        normalised: dict[str, Any],
        given: Mapping[str, Any],
    ) -> str:
        backend = _backend()
        index = current.index
        digest = answers_key(normalised)
        prefix = settings.REDIS_KEY_PREFIX
        # The view's throttle (homeservice/throttling.py) is counted in the same round trip; a
        # request left to the view carries its verdict there, so each is counted once.
        pending = await throttling.pending_count(THROTTLE_SCOPE, throttling.user_identity(user_id))
        (version, cached, user_generation, shared_generation, mark), counted = await self._read(
            pending,
            backend.make_key(plans_cache.VERSION_KEY),
            backend.make_key(plans_cache.result_key(index.version, digest)),
            documents.user_generation_key(prefix, user_id),
            documents.shared_generation_key(prefix),
            fast_users.mark_key(prefix, user_id),
        )
        if pending is None:
            wait = throttling.wait_seconds(THROTTLE_SCOPE, throttling.user_identity(user_id))  # off, or in memory
        else:
            wait = await pending.wait_seconds(int(counted))
        throttling.record_counted(scope, THROTTLE_SCOPE, wait)
        if not fast_users.current(mark=mark, user_generation=user_generation, shared_generation=shared_generation):
            return "user"
        if version is None or str(_decoded(backend, version)) != index.version:
            return "catalogue"
        if wait is not None:
            await self._throttled(send, secure, wait)
            return "throttled"
        answer = _decoded(backend, cached) if cached is not None else None
        outcome = "cached" if isinstance(answer, dict) else "computed"
        if not isinstance(answer, dict):
            answer = selectors.answer_of(index, normalised)
        request_id = given.get("request_id") or services.new_request_id()

        pipe = self._redis.get(str(_cache_url())).pipeline(transaction=False)
        if outcome == "computed":
            pipe.set(
                backend.make_key(plans_cache.result_key(index.version, digest)),
                backend.client.encode(answer),
                px=int(settings.PLANS_CACHE_TTL_SECONDS * 1000),
            )
        pipe.set(
            backend.make_key(plans_cache.latest_key(user_id)),
            backend.client.encode(plans_cache.latest_value(request_id, normalised)),
            px=int(settings.PLANS_LATEST_REQUEST_TTL_SECONDS * 1000),
        )
        if settings.PLANS_ENRICH:
            pipe.set(
                backend.make_key(plans_cache.enrich_key(user_id)),
                backend.client.encode(1),
                nx=True,
                px=int(settings.PLANS_ENRICH_DEDUPE_SECONDS * 1000),
            )
        written = await pipe.execute()
        if settings.PLANS_ENRICH and written[-1]:
            await asyncio.to_thread(
                services.plans_enrich_queue, user_id=user_id, request_id=request_id, answers=normalised
            )

        body = orjson.dumps(
            services.filter_answer(request_id=request_id, total=int(answer["total"]), plans=answer["plans"])
        )
        reply = [
            (b"content-type", CONTENT_TYPE.encode()),
            (b"cache-control", CACHE_CONTROL.encode()),
            (b"allow", self.allow()),
            *fast_path.response_headers(secure=secure),
            (b"content-length", str(len(body)).encode()),
        ]
        await fast_path.respond(send, 200, reply, body)
        return outcome

    async def _throttled(self, send: Send, secure: bool, wait: int) -> None:
        """The view's 429 (its body rendered by the same code, its headers)."""
        body = throttling.throttled_body(wait)
        reply = [
            (b"content-type", CONTENT_TYPE.encode()),
            (b"retry-after", str(wait).encode()),
            (b"allow", self.allow()),
            *fast_path.response_headers(secure=secure),
            (b"content-length", str(len(body)).encode()),
        ]
        await fast_path.respond(send, 429, reply, body)

    async def _read(self, pending: throttling.PendingCount | None, *keys: str) -> tuple[list[Any], Any]:
        """The plan cache's two keys and the feed documents' three, in one MGET when they share
        a Redis, else two at once; with the throttle's count (on the cache's Redis, which is the
        throttle's) in the same pipeline, and what it answered."""
        cache_url, docs_url = str(_cache_url()), settings.FEED_DOC_REDIS_URL
        shared = cache_url == docs_url
        pipe = self._redis.get(cache_url).pipeline(transaction=False)
        pipe.mget(*(keys if shared else keys[:2]))
        if pending is not None:
            pending.queue(pipe)
        if shared:
            mine = await pipe.execute()
            theirs: list[Any] = []
        else:
            mine, theirs = await asyncio.gather(pipe.execute(), self._redis.get(docs_url).mget(*keys[2:]))
        return [*mine[0], *theirs], (mine[1] if pending is not None else None)

    def allow(self) -> bytes:
        if self._allow is None:
            self._allow = ", ".join(PlansFilterApi().allowed_methods).encode()
        return self._allow

    async def aclose(self) -> None:
        await self._redis.aclose()
        await throttling.aclose()


def plainly_given(data: Any) -> dict[str, Any] | None:
    """What the view's ``InputSerializer`` validates ``data`` to, for the plain bodies clients
    send (an object with an ``answers`` object of string keys and maybe a ``request_id`` string
    that needs no trimming); None for anything else, which the serializer itself then checks.
    The serializer costs about a third of a millisecond; tests/plans/test_plain_checks.py
    compares the two."""
    if type(data) is not dict:
        return None
    answers = data.get("answers")
    if type(answers) is not dict or not all(type(key) is str for key in answers):
        return None
    if "request_id" not in data:
        return {"answers": dict(answers)}
    request_id = data["request_id"]
    if type(request_id) is not str or _PLAIN_REQUEST_ID.fullmatch(request_id) is None:
        return None
    return {"answers": dict(answers), "request_id": request_id}


def _decoded(backend: Any, value: bytes) -> Any:
    """A value as django-redis reads it; None when it cannot (the view would treat it as a miss)."""
    try:
        return backend.client.decode(value)
    except Exception:
        return None


async def _body(length: bytes | None, receive: Receive, read: list[Mapping[str, Any]]) -> bytes | None:
    """The request body when ``Content-Length`` announces at most the limit and the body is
    exactly that long; None otherwise (what was received is in ``read``)."""
    try:
        expected = int(length) if length is not None and length.isdigit() else -1
    except ValueError:
        return None
    if not 0 < expected <= _body_limit():
        return None
    chunks: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        read.append(message)
        if message["type"] != "http.request":
            return None
        chunk = message.get("body", b"")
        chunks.append(chunk)
        size += len(chunk)
        if size > expected:
            return None
        if not message.get("more_body", False):
            break
    return b"".join(chunks) if size == expected else None


def _replay(read: list[Mapping[str, Any]], receive: Receive) -> Receive:
    """``receive`` for the app behind: the messages already read, then the rest."""
    if not read:
        return receive
    pending = list(read)

    async def replay() -> Mapping[str, Any]:
        if pending:
            return pending.pop(0)
        return await receive()

    return replay
