"""Simulated product backends pushing signed offer events (``manage.py simulate_products``).

Plain pieces the command puts together: ``SequenceCounter`` (a per-(user, product) sequence that
starts from the clock, so a restart never goes backwards), ``build_offer_event`` (mostly
``offer.upserted`` with a rotating title and price, sometimes ``offer.withdrawn``),
``signature_headers`` (Standard Webhooks, the ``standardwebhooks`` library), ``EventSender``
(one POST with a few retries and backoff on 5xx, 429 and connection errors), ``Progress`` (the
counts and their display) and ``run`` (the paced loop). docs/webhooks.md is the contract.
"""

from __future__ import annotations

import random
import sys
import threading
import time
import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, TextIO

import httpx
import orjson
from standardwebhooks.webhooks import Webhook

OFFER_UPSERTED = "offer.upserted"
OFFER_WITHDRAWN = "offer.withdrawn"
WITHDRAW_SHARE = 0.15
# Each (user, product) gets at most this many flash offers: new ones replace them, withdrawals remove them.
FLASH_SLOTS = 3
RETRY_STATUSES = frozenset({429, 500, 502, 503, 504})


class SequenceCounter:
    """Increasing ``sequence`` per (user, product), from a base of the current time in milliseconds."""

    def __init__(self, base: int | None = None) -> None:
        self.base = int(time.time() * 1000) if base is None else base
        self._last: dict[tuple[str, str], int] = {}

    def next(self, user: str, product: str) -> int:
        key = (user, product)
        value = self._last.get(key, self.base - 1) + 1
        self._last[key] = value
        return value


def event_source(product: str) -> str:
    return f"https://{product}.simulator.example.com"


def build_offer_event(
    *, product: str, user: str, sequence: int, number: int, rng: random.Random, now: datetime | None = None
) -> dict[str, Any]:
    """One event for ``user``'s offers of ``product``: a CloudEvents-shaped dict (a unique id).

    ``number`` is a running count that names the offer ("Flash offer #42") and sets its price.
    """
    now = now or datetime.now(tz=UTC)
    slot = rng.randrange(FLASH_SLOTS)
    offer_id = f"flash-{product}-{slot}"
    event: dict[str, Any] = {
        "specversion": "1.0",
        "id": f"sim-{uuid.uuid4().hex}",
        "source": event_source(product),
        "time": now.isoformat(timespec="seconds").replace("+00:00", "Z"),
        "subject": user,
        "sequence": sequence,
    }
    if rng.random() < WITHDRAW_SHARE:
        event["type"] = OFFER_WITHDRAWN
        event["data"] = {"id": offer_id}
        return event
    price = 5 + (number * 7) % 45
    event["type"] = OFFER_UPSERTED
    event["data"] = {
        "id": offer_id,
        "title": f"Flash offer #{number}",
        "body": f"A {product} offer just for {user}, for the next hour.",
        "price": {"amount": f"{price}.99", "currency": "EUR", "period": "month"},
        "cta_label": "See offer",
        "cta_url": f"https://example.com/{product}/flash/{slot}",
        "priority": 20,
        "expires_at": (now + timedelta(hours=1)).isoformat(timespec="seconds").replace("+00:00", "Z"),
    }
    return event


def encode_events(events: Sequence[dict[str, Any]]) -> bytes:
    """One event as an object, several as a batch (an array)."""
    return orjson.dumps(events[0] if len(events) == 1 else list(events))


def signature_headers(*, secret: str, body: bytes, msg_id: str, at: datetime | None = None) -> dict[str, str]:
    at = at or datetime.now(tz=UTC)
    return {
        "webhook-id": msg_id,
        "webhook-timestamp": str(int(at.timestamp())),
        "webhook-signature": Webhook(secret).sign(msg_id, at, body.decode()),
    }


@dataclass(frozen=True)
class SendResult:
    ok: bool
    status: int  # 0: no answer (connection error)
    received: int = 0
    duplicates: int = 0
    error: str = ""


class EventSender:
    """POSTs signed bodies to ``<base>/api/v1/products/<slug>/events/`` over HTTP (httpx).

    A 5xx, a 429 or a connection error is retried ``retries`` times with exponential backoff
    (the same webhook-id and body, so the service deduplicates a retry that did land).
    """

    def __init__(
        self,
        *,
        base_url: str,
        secrets: Mapping[str, str],
        retries: int = 3,
        backoff: float = 0.2,
        timeout: float = 10.0,
        stop: threading.Event | None = None,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.secrets = dict(secrets)
        self.retries = retries
        self.backoff = backoff
        self.stop = stop or threading.Event()
        self.client = httpx.Client(timeout=timeout, follow_redirects=False)

    def close(self) -> None:
        self.client.close()

    def url(self, product: str) -> str:
        return f"{self.base_url}/api/v1/products/{product}/events/"

    def send(self, product: str, events: Sequence[dict[str, Any]]) -> SendResult:
        body = encode_events(events)
        msg_id = f"msg-{uuid.uuid4().hex}"
        result = SendResult(ok=False, status=0, error="not sent")
        for attempt in range(self.retries + 1):
            if attempt and self.stop.wait(self.backoff * 2 ** (attempt - 1)):
                break
            headers = {
                "Content-Type": "application/json",
                **signature_headers(secret=self.secrets[product], body=body, msg_id=msg_id),
            }
            try:
                response = self.client.post(self.url(product), content=body, headers=headers)
            except httpx.HTTPError as exc:
                result = SendResult(ok=False, status=0, error=f"{exc.__class__.__name__}: {exc}")
                continue
            if response.status_code == 200:
                document = response.json()
                return SendResult(
                    ok=True,
                    status=200,
                    received=int(document.get("received", 0)),
                    duplicates=int(document.get("duplicates", 0)),
                )
            result = SendResult(ok=False, status=response.status_code, error=response.text[:300])
            if response.status_code not in RETRY_STATUSES:
                break
            retry_after = response.headers.get("retry-after", "")
            waits_first = response.status_code == 429 and retry_after.isdigit() and attempt < self.retries
            if waits_first and self.stop.wait(min(float(retry_after), 30.0)):
                break
        return result


@dataclass
class Progress:
    """Counts of what was sent, and their display: one line rewritten in place on a terminal,
    a plain line every ``every`` seconds otherwise, nothing when ``quiet``."""

    stream: TextIO = field(default_factory=lambda: sys.stdout)
    quiet: bool = False
    every: float = 10.0
    clock: Callable[[], float] = time.monotonic
    sent: int = 0
    accepted: int = 0
    duplicates: int = 0
    errors: int = 0
    requests: int = 0
    failed_requests: int = 0
    last_error: str = ""
    started: float = field(default=0.0)
    _last_line: float = field(default=0.0)

    def __post_init__(self) -> None:
        self.started = self._last_line = self.clock()

    @property
    def tty(self) -> bool:
        isatty = getattr(self.stream, "isatty", None)
        return bool(isatty and isatty())

    def record(self, events: int, result: SendResult) -> None:
        self.requests += 1
        self.sent += events
        if result.ok:
            self.duplicates += result.duplicates
            self.accepted += result.received - result.duplicates
        else:
            self.failed_requests += 1
            self.errors += events
            self.last_error = f"HTTP {result.status}: {result.error}" if result.status else result.error

    def rate(self) -> float:
        elapsed = self.clock() - self.started
        return self.sent / elapsed if elapsed > 0 else 0.0

    def line(self) -> str:
        return (
            f"sent {self.sent}  accepted {self.accepted}  duplicates {self.duplicates}  "
            f"errors {self.errors}  {self.rate():.1f} events/s"
        )

    def show(self, *, force: bool = False) -> None:
        if self.quiet:
            return
        if self.tty:
            self.stream.write("\r\033[K" + self.line())
            self.stream.flush()
            return
        now = self.clock()
        if force or now - self._last_line >= self.every:
            self._last_line = now
            self.stream.write(self.line() + "\n")
            self.stream.flush()

    def finish(self) -> None:
        if self.quiet:
            return
        if self.tty:
            self.stream.write("\r\033[K" + self.line() + "\n")
            self.stream.flush()
        else:
            self.show(force=True)


def run(
    *,
    sender: EventSender,
    products: Sequence[str],
    users: Sequence[str],
    rate: float,
    progress: Progress,
    count: int | None = None,
    duration: float | None = None,
    batch: int = 1,
    sequences: SequenceCounter | None = None,
    rng: random.Random | None = None,
) -> Progress:
    """Send events at ``rate`` per second (in batches of ``batch``, one product per request) until
    ``count`` events were sent, ``duration`` seconds passed or ``sender.stop`` is set."""
    sequences = sequences or SequenceCounter()
    rng = rng or random.Random()  # noqa: S311 - picks demo users, nothing secret
    interval = batch / rate
    deadline = time.monotonic() + duration if duration is not None else None
    next_at = time.monotonic()
    number = 0
    while not sender.stop.is_set():
        if count is not None and progress.sent >= count:
            break
        if deadline is not None and time.monotonic() >= deadline:
            break
        size = batch if count is None else min(batch, count - progress.sent)
        product = rng.choice(list(products))
        events = []
        for _ in range(size):
            number += 1
            user = rng.choice(list(users))
            events.append(
                build_offer_event(
                    product=product,
                    user=user,
                    sequence=sequences.next(user, product),
                    number=number,
                    rng=rng,
                )
            )
        progress.record(len(events), sender.send(product, events))
        progress.show()
        next_at += interval
        wait = next_at - time.monotonic()
        if deadline is not None:
            wait = min(wait, deadline - time.monotonic())
        if wait > 0 and sender.stop.wait(wait):
            break
        if wait < -interval:
            next_at = time.monotonic()  # fell behind (slow answers): do not burst to catch up
    progress.finish()
    return progress
