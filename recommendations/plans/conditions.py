"""Option conditions: what a plan must meet to match an answer (pure; no database).

A condition is ``{"field", "op", "value"}`` with an optional ``"or_null": true``:

- ``field``: ``price`` (the plan's price amount), ``product`` (the product's slug) or
  ``attributes.<name>`` (a key of ``Plan.attributes``);
- ``op``: ``eq``, ``in`` (value: a list), ``lt``, ``lte``, ``gt``, ``gte`` (value: a number;
  the plan's value must be a number or a numeric string), ``contains`` (the plan's value is a
  list holding ``value``), ``contains_any`` (value: a list; the plan's list holds one of them);
- a plan without the field never matches; one whose value is ``null`` matches only with
  ``or_null`` (e.g. ``data_gb: null`` meaning unlimited data).
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import jsonschema
from django.core.exceptions import ValidationError

FIELD_PATTERN = r"^(price|product|attributes\.[A-Za-z0-9_]{1,50})$"
NUMBER_OPS = ("lt", "lte", "gt", "gte")
LIST_OPS = ("in", "contains_any")
OPS = ("eq", "in", "lt", "lte", "gt", "gte", "contains", "contains_any")

CONDITIONS_SCHEMA: dict[str, Any] = {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "type": "array",
    "maxItems": 20,
    "items": {
        "type": "object",
        "required": ["field", "op", "value"],
        "additionalProperties": False,
        "properties": {
            "field": {"type": "string", "pattern": FIELD_PATTERN},
            "op": {"enum": list(OPS)},
            "value": {},
            "or_null": {"type": "boolean"},
        },
        "allOf": [
            {
                "if": {"properties": {"op": {"enum": list(NUMBER_OPS)}}},
                "then": {"properties": {"value": {"type": "number"}}},
            },
            {
                "if": {"properties": {"op": {"enum": list(LIST_OPS)}}},
                "then": {"properties": {"value": {"type": "array", "minItems": 1, "maxItems": 100}}},
            },
        ],
    },
}
_VALIDATOR = jsonschema.Draft202012Validator(CONDITIONS_SCHEMA)
MISSING = object()


def validate_conditions(value: Any) -> None:
    """Model field validator: raise ValidationError naming the first problem."""
    error = jsonschema.exceptions.best_match(_VALIDATOR.iter_errors(value))
    if error is not None:
        where = "/".join(str(part) for part in error.absolute_path) or "conditions"
        raise ValidationError(f"{where}: {error.message}")


@dataclass(frozen=True, slots=True)
class Condition:
    field: str
    op: str
    value: Any
    or_null: bool = False

    @classmethod
    def of(cls, raw: dict[str, Any]) -> Condition:
        value = raw["value"]
        if raw["op"] in LIST_OPS:
            value = tuple(value)
        return cls(field=raw["field"], op=raw["op"], value=value, or_null=bool(raw.get("or_null", False)))


def number(value: Any) -> float | None:
    """A plan's value as a number (ints, floats, Decimals, numeric strings), else None."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float | Decimal):
        return float(value)
    if isinstance(value, str):
        try:
            return float(value)
        except ValueError:
            return None
    return None


def holds(condition: Condition, value: Any) -> bool:
    """Does a plan's ``value`` of ``condition.field`` (MISSING when absent) meet the condition?"""
    if value is MISSING:
        return False
    if value is None:
        return condition.or_null
    op, expected = condition.op, condition.value
    if op == "eq":
        return bool(value == expected)
    if op == "in":
        return value in expected
    if op == "contains":
        return isinstance(value, list) and expected in value
    if op == "contains_any":
        return isinstance(value, list) and any(item in value for item in expected)
    actual = number(value)
    if actual is None:
        return False
    bound = float(expected)
    if op == "lt":
        return actual < bound
    if op == "lte":
        return actual <= bound
    if op == "gt":
        return actual > bound
    return actual >= bound  # gte
