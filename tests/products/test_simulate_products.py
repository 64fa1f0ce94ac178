"""``manage.py simulate_products`` and products/simulation.py: events that pass the ingestion
schema, signatures the service verifies, increasing sequences, retries, the progress display, and
the command pushing to a live server."""

from __future__ import annotations

import io
import random
import threading
from typing import Any

import httpx
import orjson
import pytest
from django.core.management import CommandError, call_command
from jsonschema import Draft202012Validator
from standardwebhooks.webhooks import Webhook

from products.management.commands import simulate_products as command_module
from products.models import Product, WebhookSecret
from products.simulation import (
    OFFER_UPSERTED,
    OFFER_WITHDRAWN,
    EventSender,
    Progress,
    SendResult,
    SequenceCounter,
    build_offer_event,
    encode_events,
    run,
    signature_headers,
)
from products.webhooks import webhook_secret_create
from recommendations.ingestion import EVENT_SCHEMA
from recommendations.models import Offer, ReceivedEvent

SECRET = "whsec_" + "MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"  # a test secret, base64 of 24 bytes


def events(n: int, seed: int = 7) -> list[dict[str, Any]]:
    rng = random.Random(seed)
    sequences = SequenceCounter()
    return [
        build_offer_event(product="mobile", user=user, sequence=sequences.next(user, "mobile"), number=i, rng=rng)
        for i, user in enumerate(["alice", "bob", "carol"] * (n // 3), start=1)
    ]


# --- events ------------------------------------------------------------------------------------------------


def test_every_built_event_is_valid_for_the_ingestion_schema():
    validator = Draft202012Validator(EVENT_SCHEMA)
    built = events(300)

    for event in built:
        assert list(validator.iter_errors(event)) == [], event
    types = [event["type"] for event in built]
    assert {OFFER_UPSERTED, OFFER_WITHDRAWN} == set(types)
    assert types.count(OFFER_UPSERTED) > types.count(OFFER_WITHDRAWN)
    assert len({event["id"] for event in built}) == len(built)


def test_an_upsert_carries_a_rotating_title_and_price():
    upserts = [event for event in events(60) if event["type"] == OFFER_UPSERTED]

    assert all(event["data"]["title"].startswith("Flash offer #") for event in upserts)
    assert len({event["data"]["title"] for event in upserts}) == len(upserts)
    assert len({event["data"]["price"]["amount"] for event in upserts}) > 1


def test_sequences_grow_per_user_and_product_from_the_clock():
    counter = SequenceCounter()
    later = SequenceCounter(base=counter.base + 10_000)

    alice = [counter.next("alice", "mobile") for _ in range(5)]
    bob = counter.next("bob", "mobile")
    alice_tv = counter.next("alice", "tv")

    assert alice == sorted(set(alice))
    assert alice[0] >= counter.base
    assert bob == alice_tv == counter.base
    assert later.next("alice", "mobile") > alice[-1]  # a restart later never goes backwards


def test_the_default_base_is_the_time_in_milliseconds():
    import time

    before = int(time.time() * 1000)
    assert before <= SequenceCounter().base <= int(time.time() * 1000)


def test_a_batch_is_an_array_and_one_event_an_object():
    built = events(3)

    assert isinstance(orjson.loads(encode_events(built[:1])), dict)
    assert len(orjson.loads(encode_events(built))) == 3


def test_signatures_verify_with_standardwebhooks():
    body = encode_events(events(3))

    headers = signature_headers(secret=SECRET, body=body, msg_id="msg-1")

    assert Webhook(SECRET).verify(body, headers) is not None
    with pytest.raises(Exception, match="signature"):
        Webhook("whsec_" + "b3RoZXItc2VjcmV0LW90aGVyLXNlY3JldA==").verify(body, headers)


# --- sending -------------------------------------------------------------------------------------------------


def sender_answering(*statuses: int | Exception) -> tuple[EventSender, list[httpx.Request]]:
    seen: list[httpx.Request] = []
    answers = list(statuses)

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        answer = answers.pop(0) if answers else 200
        if isinstance(answer, Exception):
            raise answer
        if answer == 200:
            return httpx.Response(200, json={"received": 1, "duplicates": 0, "results": []})
        headers = {"Retry-After": "1"} if answer == 429 else {}
        return httpx.Response(answer, json={"error": {"code": "x", "message": "no"}}, headers=headers)

    sender = EventSender(base_url="http://127.0.0.1:9", secrets={"mobile": SECRET}, backoff=0.001)
    sender.client = httpx.Client(transport=httpx.MockTransport(handler))
    return sender, seen


def test_a_5xx_or_a_connection_error_is_retried_with_the_same_id_and_body():
    sender, seen = sender_answering(503, httpx.ConnectError("refused"), 200)

    result = sender.send("mobile", events(3)[:1])

    assert result.ok
    assert len(seen) == 3
    assert len({r.headers["webhook-id"] for r in seen}) == 1
    assert len({r.content for r in seen}) == 1
    assert str(seen[0].url) == "http://127.0.0.1:9/api/v1/products/mobile/events/"
    Webhook(SECRET).verify(seen[-1].content, dict(seen[-1].headers))


def test_a_429_is_retried_after_its_retry_after():
    sender, seen = sender_answering(429, 200)
    waits: list[float | None] = []

    def wait(timeout: float | None = None) -> bool:
        waits.append(timeout)
        return False

    sender.stop.wait = wait  # type: ignore[method-assign]

    assert sender.send("mobile", events(3)[:1]).ok
    assert len(seen) == 2
    assert waits == [1.0, 0.001]  # Retry-After, then the backoff


def test_a_4xx_is_not_retried_and_retries_end():
    sender, seen = sender_answering(401)
    assert not sender.send("mobile", events(3)[:1]).ok
    assert len(seen) == 1

    sender, seen = sender_answering(500, 500, 500, 500, 500)
    result = sender.send("mobile", events(3)[:1])
    assert (result.ok, result.status, len(seen)) == (False, 500, 4)


def test_run_stops_after_count_and_counts():
    sender, seen = sender_answering()
    progress = Progress(stream=io.StringIO(), quiet=True)

    run(sender=sender, products=["mobile"], users=["alice"], rate=1000, progress=progress, count=5, batch=2)

    assert progress.sent == 5
    assert progress.accepted == 3  # the fake answers "received 1" per request
    assert [len(orjson.loads(r.content)) if r.content.startswith(b"[") else 1 for r in seen] == [2, 2, 1]


def test_run_stops_when_told():
    sender, _ = sender_answering()
    progress = Progress(stream=io.StringIO(), quiet=True)
    threading.Timer(0.2, sender.stop.set).start()

    run(sender=sender, products=["mobile"], users=["alice"], rate=2, progress=progress)

    assert 1 <= progress.sent <= 2


class FakeTty(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_progress_rewrites_one_line_on_a_terminal_and_prints_lines_otherwise():
    tty_stream, plain_stream = FakeTty(), io.StringIO()
    tty = Progress(stream=tty_stream)
    plain = Progress(stream=plain_stream, every=3600)
    for progress in (tty, plain):
        progress.record(2, SendResult(ok=True, status=200, received=2, duplicates=1))
        progress.record(1, SendResult(ok=False, status=0, error="ConnectError"))
        progress.show()
        progress.show()
        progress.finish()

    assert tty_stream.getvalue().count("\r") == 3
    assert tty_stream.getvalue().endswith("\n")
    lines = plain_stream.getvalue().splitlines()
    assert len(lines) == 1  # periodic lines, and the last one at the end
    assert lines[0].startswith("sent 3  accepted 1  duplicates 1  errors 1  ")
    assert lines[0].endswith("events/s")


# --- the command -------------------------------------------------------------------------------------------


@pytest.fixture
def seeded(settings: Any) -> None:
    settings.DEBUG = True
    call_command("seed_demo", "--simulator-url", "http://127.0.0.1:9")


@pytest.mark.django_db(transaction=True)
def test_the_command_pushes_signed_events_to_a_live_server(seeded: None, live_server: Any, monkeypatch) -> None:
    seeded_random = random.Random
    monkeypatch.setattr(command_module.random, "Random", lambda: seeded_random(3))
    out = io.StringIO()

    call_command(
        "simulate_products", "--base-url", live_server.url, "--count", "5", "--rate", "50", stdout=out, stderr=out
    )

    assert ReceivedEvent.objects.count() == 5
    assert Offer.objects.filter(title__startswith="Flash offer #").exists()
    assert "sent 5  accepted 5  duplicates 0  errors 0" in out.getvalue()
    # offers endpoints now point at the simulator; the secrets it made are revoked again
    mobile = Product.objects.get(slug="mobile")
    assert mobile.offers_endpoint == f"{live_server.url}/simulator/products/mobile/users/{{user}}/offers/"
    assert WebhookSecret.objects.count() == 4
    assert not WebhookSecret.objects.filter(revoked_at__isnull=True).exists()


@pytest.mark.django_db(transaction=True)
def test_the_command_moves_a_simulator_offers_endpoint_to_its_base_url(seeded: None, live_server: Any) -> None:
    old = "http://127.0.0.1:1/simulator/products/tv/users/{user}/offers/"
    Product.objects.filter(slug="tv").update(offers_endpoint=old)

    call_command(
        "simulate_products", "--base-url", live_server.url, "--count", "1", "--rate", "50", "--quiet",
        "--products", "tv", stdout=io.StringIO(), stderr=io.StringIO(),
    )  # fmt: skip

    assert Product.objects.get(slug="tv").offers_endpoint == old.replace("http://127.0.0.1:1", live_server.url)


@pytest.mark.django_db(transaction=True)
def test_the_command_keeps_an_offers_endpoint_that_is_set(seeded: None, live_server: Any) -> None:
    Product.objects.filter(slug="tv").update(offers_endpoint="https://tv.example.com/users/{user}/offers")

    call_command(
        "simulate_products", "--base-url", live_server.url, "--count", "1", "--rate", "50", "--quiet",
        "--products", "tv", stdout=io.StringIO(), stderr=io.StringIO(),
    )  # fmt: skip

    assert Product.objects.get(slug="tv").offers_endpoint == "https://tv.example.com/users/{user}/offers"


@pytest.mark.django_db(transaction=True)
def test_without_debug_it_signs_with_the_secrets_given(seeded: None, live_server: Any, settings: Any) -> None:
    settings.DEBUG = False
    _, secret = webhook_secret_create(product=Product.objects.get(slug="mobile"))

    call_command(
        "simulate_products", "--base-url", live_server.url, "--count", "3", "--rate", "50", "--quiet",
        "--secret", f"mobile={secret}", stdout=io.StringIO(), stderr=io.StringIO(),
    )  # fmt: skip

    assert ReceivedEvent.objects.filter(product__slug="mobile").count() == 3
    assert WebhookSecret.objects.count() == 1


@pytest.mark.django_db
def test_without_debug_and_without_secrets_it_refuses(settings: Any) -> None:
    settings.DEBUG = False

    with pytest.raises(CommandError, match="--secret"):
        call_command("simulate_products", "--count", "1", stderr=io.StringIO())
    assert not WebhookSecret.objects.exists()


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--rate", "0"], "--rate"),
        (["--batch", "501"], "--batch"),
        (["--secret", "mobile=nope"], "--secret takes"),
        (["--products", "no-such-product"], "no product 'no-such-product'"),
    ],
)
def test_bad_options_are_refused(seeded: None, args: list[str], message: str) -> None:
    with pytest.raises(CommandError, match=message):
        call_command("simulate_products", "--count", "1", *args, stderr=io.StringIO())


@pytest.mark.django_db
def test_it_fails_when_every_request_failed(seeded: None, monkeypatch) -> None:
    monkeypatch.setattr(EventSender, "__init__", _fast_retries(EventSender.__init__))

    with pytest.raises(CommandError, match="every request failed"):
        call_command(
            "simulate_products", "--base-url", "http://127.0.0.1:9", "--count", "2", "--rate", "100", "--quiet",
            stdout=io.StringIO(), stderr=io.StringIO(),
        )  # fmt: skip
    assert not WebhookSecret.objects.filter(revoked_at__isnull=True).exists()


def _fast_retries(init: Any) -> Any:
    def fast(self: EventSender, **kwargs: Any) -> None:
        init(self, **{**kwargs, "backoff": 0.001, "timeout": 2.0})

    return fast
