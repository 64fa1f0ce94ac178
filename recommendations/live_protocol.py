"""The ``/ws/home/`` protocol as data: message schemas, error codes, close codes, frame encoding.

docs/websocket.md documents every message with an example; tests/recommendations/
test_live_protocol.py checks that every example there validates against the schema here.
Incoming messages are validated with ``jsonschema`` (one compiled validator per message type).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import jsonschema
import orjson

# --- Close codes ------------------------------------------------------------------------------------

CLOSE_INVALID_CLIENT_VERSION = 4400  # fix the client version before reconnecting
CLOSE_UNAUTHENTICATED = 4401  # the credential expired (or is gone): refresh the token, reconnect
CLOSE_IDLE = 4408  # nothing heard from the client for LIVE_IDLE_TIMEOUT_SECONDS
CLOSE_SLOW_CLIENT = 4413  # the client did not read: its outgoing queue passed LIVE_OUTBOX_MAX_BYTES
CLOSE_FLOOD = 4429  # the client sent messages faster than LIVE_CLIENT_MESSAGES_PER_SECOND allows
CLOSE_SERVICE_RESTART = 1012  # sent by the ASGI server on shutdown: reconnect (elsewhere), then resume
CLOSE_TRY_AGAIN_LATER = 1013  # the handshake could not be served (Redis unreachable): reconnect with backoff

# --- Error codes (the ``code`` of ``error`` messages; the same vocabulary as the REST API) ---------

MALFORMED_MESSAGE = "malformed_message"  # not JSON, not an object, or no string "type"
UNKNOWN_TYPE = "unknown_type"
INVALID_MESSAGE = "invalid_message"  # a known type whose body does not match its schema
UNSUPPORTED_FRAME = "unsupported_frame"  # a binary frame
INVALID_ANSWERS = (
    "invalid_answers"  # plans.filter with bad answers (recommendations/plans/answers.py; details name them)
)
TOKEN_EXPIRED = "token_expired"  # noqa: S105 - an error code; sent just before close 4401
RATE_LIMITED = "rate_limited"  # sent just before close 4429
SLOW_CLIENT = "slow_client"  # (close 4413 only: the client is not reading)
IDLE_TIMEOUT = "idle_timeout"  # sent just before close 4408
SESSION_ENDED = "session_ended"  # a session socket's session ended (logout, password change, deactivation); 4401
USER_INACTIVE = "user_inactive"  # a token socket's account was deactivated (HTTP answers the same code); 4401
USER_NOT_FOUND = "user_not_found"  # a token socket's account was deleted (as HTTP); 4401
TOO_MANY_CONNECTIONS = "too_many_connections"  # the user holds LIVE_MAX_SOCKETS_PER_USER sockets; 4429
UNAVAILABLE = "unavailable"  # Redis unreachable: the handshake (1013) or a ticket (HTTP 503) cannot be served

# --- Schemas ----------------------------------------------------------------------------------------

DIALECT = "https://json-schema.org/draft/2020-12/schema"

_VERSION = {"type": "string", "minLength": 1, "maxLength": 64}
_SECTION_REF = {
    "type": "object",
    "required": ["id", "version"],
    "properties": {"id": {"type": "string", "maxLength": 200}, "version": _VERSION},
    "additionalProperties": False,
}
_SECTION = {
    "type": "object",
    "required": ["id", "product", "source", "stale", "as_of", "version", "component"],
    "properties": {
        "id": {"type": "string"},
        "product": {"type": "string"},
        "source": {"enum": ["personalised", "generic"]},
        "stale": {"type": "boolean"},
        "as_of": {"type": ["string", "null"]},
        "version": {"type": "string"},
        "component": {"type": "object", "required": ["type"]},
    },
}
_FEED = {
    "type": "object",
    "required": ["schema_version", "version", "generated_at", "sections"],
    "properties": {
        "schema_version": {"type": "integer"},
        "version": {"type": "string"},
        "generated_at": {"type": "string"},
        "sections": {"type": "array", "items": _SECTION},
    },
}

# The plan finder (recommendations/plans/, docs/api.md): a request id, and one plan of an answer.
_REQUEST_ID = {"type": "string", "pattern": "^[A-Za-z0-9._:-]{1,64}$"}
_PLAN = {
    "type": "object",
    "required": ["id", "product", "code", "name", "price", "attributes", "score"],
    "properties": {
        "id": {"type": "integer"},
        "product": {"type": "string"},
        "code": {"type": "string"},
        "name": {"type": "string"},
        "price": {
            "type": "object",
            "required": ["amount", "currency", "period"],
            "properties": {"amount": {"type": "string"}, "currency": {"type": "string"}, "period": {"type": "string"}},
        },
        "attributes": {"type": "object"},
        "score": {"type": "number"},
    },
}


def _message(type_: str, properties: dict[str, Any] | None = None, required: list[str] | None = None) -> dict[str, Any]:
    return {
        "$schema": DIALECT,
        "title": type_,
        "type": "object",
        "required": ["type", *(required or [])],
        "properties": {"type": {"const": type_}, **(properties or {})},
        "additionalProperties": False,
    }


CLIENT_SCHEMAS: dict[str, dict[str, Any]] = {
    "ping": _message("ping"),
    "resume": _message(
        "resume",
        {"version": _VERSION, "sections": {"type": "array", "maxItems": 100, "items": _SECTION_REF}},
        ["version"],
    ),
    "plans.filter": _message(
        "plans.filter",
        {"request_id": _REQUEST_ID, "answers": {"type": "object", "maxProperties": 100}},
        ["answers"],
    ),
}

SERVER_SCHEMAS: dict[str, dict[str, Any]] = {
    "feed.snapshot": _message("feed.snapshot", {"version": {"type": "string"}, "feed": _FEED}, ["version", "feed"]),
    "feed.updated": _message(
        "feed.updated",
        {
            "version": {"type": "string"},
            "sections": {"type": "array", "items": _SECTION},
            "removed": {"type": "array", "items": {"type": "string"}},
            "order": {"type": "array", "items": {"type": "string"}},
        },
        ["version", "sections", "removed", "order"],
    ),
    "recommendations.updated": _message(
        "recommendations.updated",
        {
            "request_id": _REQUEST_ID,
            "refined": {"type": "boolean"},
            "superseded": {"type": "boolean"},
            "total": {"type": "integer", "minimum": 0},
            "plans": {"type": "array", "items": _PLAN},
        },
        ["request_id", "refined", "superseded", "total", "plans"],
    ),
    "error": _message(
        "error",
        {
            "code": {"type": "string"},
            "message": {"type": "string"},
            "request_id": {"type": "string"},
            "details": {"type": "object"},
        },
        ["code", "message"],
    ),
    "pong": _message("pong"),
}

_CLIENT_VALIDATORS = {name: jsonschema.Draft202012Validator(schema) for name, schema in CLIENT_SCHEMAS.items()}
_SERVER_VALIDATORS = {name: jsonschema.Draft202012Validator(schema) for name, schema in SERVER_SCHEMAS.items()}

MAX_MESSAGE_BYTES = 64 * 1024


@dataclass(frozen=True)
class ProtocolError(Exception):
    """A client message the server cannot use; answered with an ``error`` message."""

    code: str
    message: str


def parse_client_message(text: str | None, binary: bytes | None = None) -> dict[str, Any]:
    """A client frame as a validated message, or ProtocolError saying what is wrong with it."""
    if text is None:
        raise ProtocolError(UNSUPPORTED_FRAME, "Messages are JSON text frames.")
    if len(text) > MAX_MESSAGE_BYTES:
        raise ProtocolError(MALFORMED_MESSAGE, f"A message may be at most {MAX_MESSAGE_BYTES} bytes.")
    try:
        content = orjson.loads(text)
    except orjson.JSONDecodeError:
        raise ProtocolError(MALFORMED_MESSAGE, "The message is not valid JSON.") from None
    if not isinstance(content, dict) or not isinstance(content.get("type"), str):
        raise ProtocolError(MALFORMED_MESSAGE, "A message is a JSON object with a string 'type'.")
    validator = _CLIENT_VALIDATORS.get(content["type"])
    if validator is None:
        raise ProtocolError(UNKNOWN_TYPE, f"Unknown message type {content['type']!r}.")
    error = jsonschema.exceptions.best_match(validator.iter_errors(content))
    if error is not None:
        where = "/".join(str(part) for part in error.absolute_path) or "message"
        raise ProtocolError(INVALID_MESSAGE, f"{content['type']}: {where}: {error.message}")
    return content


def validate_server_message(message: dict[str, Any]) -> None:
    """Raise jsonschema.ValidationError unless ``message`` is a valid server message (tests, docs)."""
    validator = _SERVER_VALIDATORS.get(message.get("type", ""))
    if validator is None:
        raise jsonschema.ValidationError(f"unknown server message type {message.get('type')!r}")
    validator.validate(message)


def validate_client_message(message: dict[str, Any]) -> None:
    """Raise jsonschema.ValidationError unless ``message`` is a valid client message (tests, docs)."""
    validator = _CLIENT_VALIDATORS.get(message.get("type", ""))
    if validator is None:
        raise jsonschema.ValidationError(f"unknown client message type {message.get('type')!r}")
    validator.validate(message)


# --- Encoding ---------------------------------------------------------------------------------------


def encode(value: Any) -> str:
    return orjson.dumps(value).decode()


def snapshot_frame(feed: dict[str, Any]) -> str:
    return encode({"type": "feed.snapshot", "version": feed["version"], "feed": feed})


def error_frame(code: str, message: str) -> str:
    return encode({"type": "error", "code": code, "message": message})


PONG_FRAME = encode({"type": "pong"})


def updated_frame(*, version: str, sections_json: str, removed: list[str], order: list[str]) -> str:
    """``feed.updated`` around sections already encoded (``sections_json``: a JSON array), so a
    section broadcast to many connections is encoded once."""
    return (
        f'{{"type":"feed.updated","version":{encode(version)},"sections":{sections_json},'
        f'"removed":{encode(removed)},"order":{encode(order)}}}'
    )
