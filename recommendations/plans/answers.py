"""Checking and normalising answers (pure; no I/O).

The questions of a catalogue version make one JSON Schema (``answers_schema``), checked with
``jsonschema``; its errors are turned into messages that name the field (``answers.<question>``)
and say what was expected. Normalised answers (``normalise``) are what matching and the cache
key use: keys sorted, multiple choices sorted without repeats (an empty list is no answer),
numbers as floats (25 and 25.0 are one answer).
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import jsonschema
import orjson

from homeservice.errors import ApplicationError

from .catalogue import MULTIPLE, RANGE, SINGLE, QuestionRow

INVALID_ANSWERS = "invalid_answers"
_KIND_NAMES = {SINGLE: "single choice", MULTIPLE: "multiple choice", RANGE: "range"}
_JSON_TYPES = {
    bool: "a boolean",
    int: "a number",
    float: "a number",
    str: "a string",
    list: "a list",
    dict: "an object",
}


@dataclass(frozen=True, slots=True)
class AnswerError:
    field: str
    message: str

    def as_dict(self) -> dict[str, str]:
        return {"field": self.field, "message": self.message}


def answers_schema(questions: Mapping[str, QuestionRow]) -> dict[str, Any]:
    properties: dict[str, Any] = {}
    for key, question in questions.items():
        choices = [option.key for option in question.options]
        if question.kind == SINGLE:
            properties[key] = {"type": "string", "enum": choices}
        elif question.kind == MULTIPLE:
            properties[key] = {"type": "array", "items": {"type": "string", "enum": choices}, "maxItems": 100}
        elif question.range is not None:
            properties[key] = {
                "type": "number",
                "minimum": question.range.minimum,
                "maximum": question.range.maximum,
            }
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "type": "object",
        "properties": properties,
        "additionalProperties": False,
    }


def answers_validator(questions: Mapping[str, QuestionRow]) -> jsonschema.Draft202012Validator:
    return jsonschema.Draft202012Validator(answers_schema(questions))


def _kind_of(value: Any) -> str:
    return "null" if value is None else _JSON_TYPES.get(type(value), type(value).__name__)


def _expected(question: QuestionRow) -> str:
    if question.kind == SINGLE:
        return "one option id (a string)"
    if question.kind == MULTIPLE:
        return "a list of option ids"
    return "a number"


def _describe(
    error: jsonschema.ValidationError, questions: Mapping[str, QuestionRow], answers: Any
) -> list[AnswerError]:
    path = list(error.absolute_path)
    if not path:
        if error.validator == "additionalProperties" and isinstance(answers, dict):
            return [
                AnswerError(f"answers.{key}", f"Unknown question {key!r}.")
                for key in sorted(answers)
                if key not in questions
            ]
        return [AnswerError("answers", f"Answers are an object keyed by question id, not {_kind_of(answers)}.")]
    key = str(path[0])
    question = questions[key]
    field = f"answers.{key}"
    if error.validator == "enum":
        choices = ", ".join(repr(option.key) for option in question.options)
        return [AnswerError(field, f"Unknown option {error.instance!r} for {key!r}; one of {choices}.")]
    if error.validator in ("minimum", "maximum") and question.range is not None:
        low, high = (_plain(question.range.minimum), _plain(question.range.maximum))
        return [AnswerError(field, f"{error.instance!r} is out of range: {key!r} takes {low} to {high}.")]
    if error.validator == "type":
        where = "an option id" if len(path) > 1 else _expected(question)
        kind = _KIND_NAMES.get(question.kind, question.kind)
        return [AnswerError(field, f"{key!r} is a {kind} question: expected {where}, got {_kind_of(error.instance)}.")]
    return [AnswerError(field, error.message)]


def _plain(value: float) -> int | float:
    return int(value) if float(value).is_integer() else value


def plainly_valid(answers: Any, *, questions: Mapping[str, QuestionRow]) -> bool:
    """True only for answers the schema (``answers_schema``) accepts, checked without it: an
    object of known questions, each an option id (single), a list of at most 100 option ids
    (multiple) or a number in range. Anything it is unsure of is False and goes to the schema,
    so it may be stricter than the schema, never looser (tests/plans/test_plain_checks.py
    compares them). About twenty times cheaper than the schema validator for a handful of questions."""
    if type(answers) is not dict:
        return False
    for key, value in answers.items():
        question = questions.get(key)
        if question is None:
            return False
        kind = question.kind
        if kind == SINGLE:
            if type(value) is not str or not _is_option(question, value):
                return False
        elif kind == MULTIPLE:
            if type(value) is not list or len(value) > 100:
                return False
            for item in value:
                if type(item) is not str or not _is_option(question, item):
                    return False
        else:
            spec = question.range
            if spec is None or type(value) not in (int, float) or not spec.minimum <= value <= spec.maximum:
                return False
    return True


def _is_option(question: QuestionRow, value: str) -> bool:
    return any(option.key == value for option in question.options)


def check_answers(
    answers: Any, *, questions: Mapping[str, QuestionRow], validator: jsonschema.Draft202012Validator
) -> dict[str, Any]:
    """Normalised answers, or ApplicationError ``invalid_answers`` (400) listing each bad field.
    Answers ``plainly_valid`` accepts skip the schema validator (the same verdict, sooner)."""
    if plainly_valid(answers, questions=questions):
        return normalise(answers, questions=questions)
    errors: dict[str, AnswerError] = {}
    for error in validator.iter_errors(answers):
        for found in _describe(error, questions, answers):
            errors.setdefault(found.field, found)
    if errors:
        listed = [errors[name] for name in sorted(errors)]
        raise ApplicationError(
            INVALID_ANSWERS,
            f"{listed[0].field}: {listed[0].message}" + (f" (and {len(listed) - 1} more)" if len(listed) > 1 else ""),
            details={"errors": [e.as_dict() for e in listed]},
        )
    return normalise(answers, questions=questions)


def normalise(answers: dict[str, Any], *, questions: Mapping[str, QuestionRow]) -> dict[str, Any]:
    normal: dict[str, Any] = {}
    for key in sorted(answers):
        value = answers[key]
        kind = questions[key].kind
        if kind == MULTIPLE:
            if not value:
                continue
            value = sorted(set(value))
        elif kind == RANGE:
            value = float(value)
        normal[key] = value
    return normal


def answers_key(normalised: dict[str, Any]) -> str:
    """A short, stable digest of normalised answers (the cache key's last part)."""
    return hashlib.sha256(orjson.dumps(normalised, option=orjson.OPT_SORT_KEYS)).hexdigest()[:32]
