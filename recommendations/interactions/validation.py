"""The shape of ``POST /api/v1/events/`` (JSON Schema, checked with ``jsonschema``) and errors
that name the field at fault (``events[3].kind``)."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Any

from jsonschema import Draft202012Validator
from jsonschema.exceptions import ValidationError, relevance

from .models import Interaction

KINDS = [kind.value for kind in Interaction.Kind]

EVENT_SCHEMA: dict[str, Any] = {
    "type": "object",
    "additionalProperties": False,
    "required": ["id", "kind", "section_id", "occurred_at"],
    "properties": {
        "id": {"type": "string", "minLength": 1, "maxLength": 100},
        "kind": {"enum": KINDS},
        "section_id": {"type": "string", "minLength": 1, "maxLength": 100},
        "component_id": {"type": "string", "maxLength": 100},
        "template_key": {"type": "string", "maxLength": 100},
        "template_version": {"type": "integer", "minimum": 1},
        "offer_id": {"type": "string", "minLength": 1, "maxLength": 200},
        "occurred_at": {"type": "string", "minLength": 1, "maxLength": 40},
    },
    "if": {"properties": {"kind": {"const": "dismiss"}}},
    "then": {"required": ["offer_id"]},
}
EVENTS_SCHEMA: dict[str, Any] = {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "title": "Interaction events (docs/api.md)",
    "type": "object",
    "additionalProperties": False,
    "required": ["events"],
    "properties": {"events": {"type": "array", "minItems": 1, "items": EVENT_SCHEMA}},
}
_validator = Draft202012Validator(EVENTS_SCHEMA)


def field_path(path: Iterable[Any]) -> str:
    """``["events", 3, "kind"]`` → ``events[3].kind``."""
    text = ""
    for part in path:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else str(part))
    return text or "body"


def _error_field(error: ValidationError) -> str:
    path = list(error.absolute_path)
    if error.validator == "required" and isinstance(error.instance, dict):
        missing = [name for name in error.validator_value if name not in error.instance]
        if missing:
            path.append(missing[0])
    elif error.validator == "additionalProperties" and isinstance(error.instance, dict):
        allowed = set(error.schema.get("properties", {}))
        extra = sorted(name for name in error.instance if name not in allowed)
        if extra:
            path.append(extra[0])
    return field_path(path)


def schema_errors(document: Any) -> dict[str, str]:
    """Field → message for every schema violation, the most relevant first; {} when valid."""
    errors: dict[str, str] = {}
    for error in sorted(_validator.iter_errors(document), key=relevance):
        if error.validator in ("if", "then"):
            continue
        errors.setdefault(_error_field(error), error.message)
    return errors


def parse_moment(value: str) -> datetime | None:
    """An RFC 3339 time with an offset, else None."""
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        return None
    return moment if moment.tzinfo is not None else None
