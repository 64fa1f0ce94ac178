"""The WebSocket protocol's schemas and docs (recommendations/live_protocol.py, docs/websocket.md),
and the pure pieces of live updates: screens, the outbox, the token bucket."""

from __future__ import annotations

import asyncio
import json
import re
from pathlib import Path
from typing import Any

import jsonschema
import pytest

from recommendations.feed import feed_version
from recommendations.live_outbox import Outbox
from recommendations.live_protocol import (
    CLIENT_SCHEMAS,
    SERVER_SCHEMAS,
    ProtocolError,
    parse_client_message,
    updated_frame,
    validate_client_message,
    validate_server_message,
)
from recommendations.live_rate_limit import TokenBucket
from recommendations.live_screen import (
    Screen,
    change_between,
    change_from_refs,
    refreshed_screen,
    with_product_section,
)

DOC = Path(__file__).resolve().parents[2] / "docs" / "websocket.md"


def doc_examples() -> list[dict[str, Any]]:
    blocks = re.findall(r"```json\n(.*?)\n```", DOC.read_text(), re.DOTALL)
    return [json.loads(block) for block in blocks]


def test_the_docs_show_an_example_of_every_message() -> None:
    types = {example["type"] for example in doc_examples()}
    assert types == set(CLIENT_SCHEMAS) | set(SERVER_SCHEMAS)


@pytest.mark.parametrize("example", doc_examples(), ids=lambda e: e["type"])
def test_every_example_in_the_docs_validates(example: dict[str, Any]) -> None:
    if example["type"] in CLIENT_SCHEMAS:
        validate_client_message(example)
        assert parse_client_message(json.dumps(example)) == example
    else:
        validate_server_message(example)


def test_every_schema_is_a_valid_json_schema() -> None:
    for schema in [*CLIENT_SCHEMAS.values(), *SERVER_SCHEMAS.values()]:
        jsonschema.Draft202012Validator.check_schema(schema)


def test_directions_do_not_share_types() -> None:
    assert not set(CLIENT_SCHEMAS) & set(SERVER_SCHEMAS)


@pytest.mark.parametrize(
    ("text", "code"),
    [
        (None, "unsupported_frame"),
        ("{", "malformed_message"),
        ("[]", "malformed_message"),
        ('{"type": 1}', "malformed_message"),
        ('{"type": "nope"}', "unknown_type"),
        ('{"type": "resume"}', "invalid_message"),
        ('{"type": "resume", "version": 1}', "invalid_message"),
        ('{"type": "ping", "x": 1}', "invalid_message"),
        (json.dumps({"type": "ping", "pad": "x" * 70_000}), "malformed_message"),
    ],
)
def test_bad_client_messages_raise_a_protocol_error(text: str | None, code: str) -> None:
    with pytest.raises(ProtocolError) as raised:
        parse_client_message(text)
    assert raised.value.code == code
    assert raised.value.message


def test_an_update_frame_built_around_encoded_sections_is_valid_json() -> None:
    section = {
        "id": "product-tv",
        "product": "tv",
        "source": "generic",
        "stale": False,
        "as_of": None,
        "version": "v1",
        "component": {"type": "section"},
    }
    frame = updated_frame(version='a"b', sections_json=json.dumps([section]), removed=["x"], order=["product-tv"])
    message = json.loads(frame)
    validate_server_message(message)
    assert message == {
        "type": "feed.updated",
        "version": 'a"b',
        "sections": [section],
        "removed": ["x"],
        "order": ["product-tv"],
    }


# --- Screens --------------------------------------------------------------------------------------


def sec(product: str, version: str, source: str = "generic") -> dict[str, Any]:
    return {"id": f"product-{product}", "product": product, "source": source, "version": version}


def test_replacing_a_section_changes_only_it_and_keeps_the_order() -> None:
    screen = Screen.of_sections([sec("mobile", "1"), sec("tv", "1")])
    new = with_product_section(screen, product_slug="tv", section=sec("tv", "2"), product_order=["mobile", "tv"])
    change = change_between(screen, new)
    assert change is not None
    assert change.changed == [sec("tv", "2")]
    assert change.removed == []
    assert change.order == ["product-mobile", "product-tv"]
    assert new.version == feed_version(new.sections)


def test_a_new_section_goes_where_the_product_ranks_and_a_removed_one_is_listed() -> None:
    screen = Screen.of_sections([sec("mobile", "1"), sec("tv", "1")])
    added = with_product_section(
        screen, product_slug="broadband", section=sec("broadband", "1"), product_order=["mobile", "broadband", "tv"]
    )
    assert [s["id"] for s in added.sections] == ["product-mobile", "product-broadband", "product-tv"]
    gone = with_product_section(added, product_slug="mobile", section=None, product_order=["mobile", "broadband", "tv"])
    change = change_between(added, gone)
    assert change is not None
    assert (change.changed, change.removed) == ([], ["product-mobile"])


def test_an_unchanged_section_is_no_change() -> None:
    screen = Screen.of_sections([sec("mobile", "1")])
    same = with_product_section(screen, product_slug="mobile", section=sec("mobile", "1"), product_order=["mobile"])
    assert change_between(screen, same) is None


def test_a_change_from_the_sections_a_client_holds() -> None:
    current = Screen.of_sections([sec("mobile", "2"), sec("tv", "1")])
    refs = [{"id": "product-mobile", "version": "1"}, {"id": "product-energy", "version": "1"}]
    change = change_from_refs(refs, current)
    assert change is not None
    assert change.changed == [sec("mobile", "2"), sec("tv", "1")]
    assert change.removed == ["product-energy"]
    held = [{"id": s["id"], "version": s["version"]} for s in current.sections]
    assert change_from_refs(held, current) is None


def test_a_screen_knows_where_it_shows_personal_offers() -> None:
    screen = Screen.of_sections([sec("mobile", "1", "personalised"), sec("tv", "1")])
    assert screen.source_of("mobile") == "personalised"
    assert screen.source_of("tv") == "generic"
    assert screen.source_of("energy") is None
    assert screen.shows_personalised()


# --- Outbox and token bucket ----------------------------------------------------------------------


def test_the_outbox_writes_in_order_and_refuses_beyond_its_bound() -> None:
    async def scenario() -> tuple[list[str], list[str], int]:
        written: list[str] = []
        release = asyncio.Event()
        overflows: list[str] = []

        async def send(frame: str) -> None:
            await release.wait()
            written.append(frame)

        outbox = Outbox(send, max_bytes=10, on_overflow=lambda: overflows.append("slow"))
        assert outbox.put("aaaa")
        assert outbox.put("bbbb")
        assert not outbox.put("cccc")  # 12 bytes would wait: too slow
        assert not outbox.put("d")  # and it stays refused
        release.set()
        await outbox.flush()
        return written, overflows, outbox.pending_bytes

    written, overflows, pending = asyncio.run(scenario())
    assert written == ["aaaa", "bbbb"]
    assert overflows == ["slow"]
    assert pending == 0


def test_a_blocked_outbox_does_not_block_the_producer() -> None:
    async def scenario() -> bool:
        async def never(frame: str) -> None:
            await asyncio.Event().wait()

        outbox = Outbox(never, max_bytes=1000, on_overflow=lambda: None)
        for _ in range(10):
            outbox.put("x" * 10)  # returns at once although nothing is ever written
        await asyncio.sleep(0)
        outbox.close()
        return outbox.closed

    assert asyncio.run(scenario())


def test_the_token_bucket_allows_a_burst_then_the_rate() -> None:
    now = [0.0]
    bucket = TokenBucket(rate=2, burst=3, clock=lambda: now[0])
    assert [bucket.take() for _ in range(4)] == [True, True, True, False]
    now[0] = 0.5  # one token back
    assert [bucket.take(), bucket.take()] == [True, False]
    now[0] = 100.0  # never more than the burst
    assert [bucket.take() for _ in range(4)] == [True, True, True, False]


def test_a_refreshed_screen_keeps_personal_sections_and_takes_current_generic_ones() -> None:
    screen = Screen.of_sections([sec("mobile", "1", "personalised"), sec("tv", "1"), sec("energy", "1")])
    order = ["mobile", "tv", "energy", "broadband"]
    generic = {"mobile": sec("mobile", "g"), "tv": sec("tv", "2"), "energy": None, "broadband": sec("broadband", "1")}
    new = refreshed_screen(screen, product_order=order, generic=generic)
    assert [(s["id"], s["version"]) for s in new.sections] == [
        ("product-mobile", "1"),  # the user's own offers stay
        ("product-tv", "2"),
        ("product-broadband", "1"),
    ]
    # The product the change is about takes the section read for it (None: it shows nothing).
    gone = refreshed_screen(screen, product_order=order, generic=generic, replace={"mobile": None})
    assert [s["id"] for s in gone.sections] == ["product-tv", "product-broadband"]
    now_generic = refreshed_screen(screen, product_order=order, generic=generic, replace={"mobile": sec("mobile", "g")})
    assert (now_generic.sections[0]["id"], now_generic.sections[0]["source"]) == ("product-mobile", "generic")
