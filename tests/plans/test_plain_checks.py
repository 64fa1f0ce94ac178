"""The plan filter's shortcuts agree with the checks they skip.

``answers.plainly_valid`` lets ``check_answers`` skip the JSON Schema validator, and
``filter_fast.plainly_given`` lets the fast path skip the view's DRF serializer. Each may decline
(the full check then runs) but must never accept what the full check refuses, nor give another
result. Randomised answers and bodies, many of them near the edges, compare the two.
"""

from __future__ import annotations

import random
from typing import Any

import pytest

from recommendations.plans.answers import answers_validator, check_answers, normalise, plainly_valid
from recommendations.plans.api import PlansFilterApi
from recommendations.plans.catalogue import OptionRow, QuestionRow, RangeSpec
from recommendations.plans.filter_fast import plainly_given

QUESTIONS = {
    "product": QuestionRow(
        key="product", text="?", kind="single", options=(OptionRow("mobile", "M", ()), OptionRow("any", "A", ()))
    ),
    "budget": QuestionRow(key="budget", text="?", kind="range", range=RangeSpec("price", "lte", 5, 100)),
    "extras": QuestionRow(
        key="extras", text="?", kind="multiple", options=(OptionRow("5g", "5G", ()), OptionRow("family", "F", ()))
    ),
    # Edge cases of the catalogue itself: a single choice without options, a range without one.
    "empty": QuestionRow(key="empty", text="?", kind="single"),
    "broken": QuestionRow(key="broken", text="?", kind="range"),
}
VALIDATOR = answers_validator(QUESTIONS)

VALUES: list[Any] = [
    "mobile", "any", "5g", "family", "boat", "", "MOBILE", 0, 5, 5.0, 4.999, 100, 100.0, 100.5, -1, 50, 37.5,
    True, False, None, float("nan"), float("inf"), ["5g"], ["5g", "5g"], ["family", "5g"], [], ["boat"],
    [5], ["5g", None], ["5g"] * 101, ["5g"] * 100, {"a": 1}, ("5g",),
]  # fmt: skip


def random_answers(rng: random.Random) -> Any:
    if rng.random() < 0.05:
        return rng.choice([None, [], "product", 3, [("product", "mobile")]])
    keys = [*QUESTIONS, "colour", "Product"]
    return {key: rng.choice(VALUES) for key in rng.sample(keys, rng.randint(0, 4))}


def schema_accepts(answers: Any) -> bool:
    return not any(True for _ in VALIDATOR.iter_errors(answers))


def test_plainly_valid_never_accepts_what_the_schema_refuses() -> None:
    rng = random.Random(20261204)
    accepted = refused = 0
    for _ in range(20_000):
        answers = random_answers(rng)
        if plainly_valid(answers, questions=QUESTIONS):
            accepted += 1
            assert schema_accepts(answers), answers
            assert check_answers(answers, questions=QUESTIONS, validator=VALIDATOR) == normalise(
                answers, questions=QUESTIONS
            )
        elif not schema_accepts(answers):
            refused += 1
    # Both kinds were drawn often enough for the comparison to mean something.
    assert accepted > 1_000
    assert refused > 5_000


@pytest.mark.parametrize(
    "answers",
    [
        {},
        {"product": "mobile"},
        {"budget": 5},
        {"budget": 100.0},
        {"extras": []},
        {"extras": ["family", "5g", "5g"]},
        {"product": "any", "budget": 37.5, "extras": ["5g"]},
        {"extras": ["5g"] * 100},
    ],
)
def test_plainly_valid_takes_the_answers_clients_send(answers: dict[str, Any]) -> None:
    """The shortcut is used for ordinary valid answers (else it would save nothing)."""
    assert plainly_valid(answers, questions=QUESTIONS)


@pytest.mark.parametrize(
    "answers",
    [
        {"product": "boat"},
        {"budget": True},
        {"budget": 4.999},
        {"extras": ["5g"] * 101},
        {"extras": "5g"},
        {"empty": "mobile"},
        {"broken": 3},
        {"colour": "red"},
        ["product"],
    ],
)
def test_plainly_valid_leaves_bad_answers_to_the_schema(answers: Any) -> None:
    assert not plainly_valid(answers, questions=QUESTIONS)
    assert not schema_accepts(answers)


REQUEST_IDS: list[Any] = [
    "r1", "req-2026.12:04_x", "a" * 64, "a" * 65, "", " r1", "r1 ", "r1\n", "r 1", "r/1", "é", "r\x00", 7, 7.5,
    True, None, ["r1"], {"id": "r1"},
]  # fmt: skip
ANSWER_VALUES: list[Any] = [{}, {"product": "mobile"}, {"budget": 20, "extras": ["5g"]}, {"x": None}, [], "a", None, 3]


def random_body(rng: random.Random) -> Any:
    if rng.random() < 0.05:
        return rng.choice([None, [], "answers", 3])
    body: dict[Any, Any] = {}
    if rng.random() < 0.9:
        body["answers"] = rng.choice(ANSWER_VALUES)
    if rng.random() < 0.6:
        body["request_id"] = rng.choice(REQUEST_IDS)
    if rng.random() < 0.1:
        body["other"] = 1
    return body


def test_plainly_given_is_what_the_serializer_validates_or_nothing() -> None:
    rng = random.Random(4)
    taken = 0
    for _ in range(3_000):
        body = random_body(rng)
        serializer = PlansFilterApi.InputSerializer(data=body)
        valid = serializer.is_valid()
        given = plainly_given(body)
        if given is not None:
            taken += 1
            assert valid, (body, serializer.errors)
            assert given == dict(serializer.validated_data), body
    assert taken > 500


@pytest.mark.parametrize(
    "body",
    [
        {"answers": {"product": "mobile"}},
        {"answers": {}, "request_id": "r-1"},
        {"answers": {"budget": 20}, "request_id": "a" * 64, "other": True},
    ],
)
def test_plainly_given_takes_plain_bodies(body: dict[str, Any]) -> None:
    serializer = PlansFilterApi.InputSerializer(data=body)
    assert serializer.is_valid()
    assert plainly_given(body) == dict(serializer.validated_data)


@pytest.mark.parametrize(
    "body", [{"answers": {}, "request_id": " r1"}, {"answers": {}, "request_id": 7}, {"request_id": "r1"}, []]
)
def test_plainly_given_leaves_other_bodies_to_the_serializer(body: Any) -> None:
    assert plainly_given(body) is None
