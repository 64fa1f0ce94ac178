"""The pure core: conditions, the catalogue index, answers, ranking (no database)."""

from __future__ import annotations

from typing import Any

import pytest
from django.core.exceptions import ValidationError

from homeservice.errors import ApplicationError
from recommendations.plans.answers import answers_key, answers_validator, check_answers
from recommendations.plans.catalogue import CatalogueIndex, OptionRow, PlanRow, QuestionRow, RangeSpec
from recommendations.plans.conditions import MISSING, Condition, holds, validate_conditions
from recommendations.plans.ranking import Ranked, positions, rank, refine, score_levels


def row(pid: int, product: str, price: str, rank_weight: int = 0, **attributes: Any) -> PlanRow:
    return PlanRow(
        id=pid,
        product=product,
        product_rank=rank_weight,
        code=f"p{pid}",
        name=f"Plan {pid}",
        price_amount=price,
        price_currency="EUR",
        price_period="month",
        attributes=attributes,
    )


def cond(field: str, op: str, value: Any, or_null: bool = False) -> Condition:
    return Condition.of({"field": field, "op": op, "value": value, "or_null": or_null})


QUESTIONS = [
    QuestionRow(
        key="product",
        text="?",
        kind="single",
        options=(
            OptionRow("mobile", "Mobile", (cond("product", "in", ["mobile"]),)),
            OptionRow("any", "Any", ()),
        ),
    ),
    QuestionRow(key="budget", text="?", kind="range", range=RangeSpec("price", "lte", 0, 100)),
    QuestionRow(
        key="data", text="?", kind="range", range=RangeSpec("attributes.data_gb", "gte", 0, 500, null_matches=True)
    ),
    QuestionRow(
        key="extras",
        text="?",
        kind="multiple",
        options=(
            OptionRow("5g", "5G", (cond("attributes.tags", "contains", "5g"),)),
            OptionRow("family", "Family", (cond("attributes.tags", "contains", "family"),)),
        ),
    ),
]
PLANS = [
    row(1, "mobile", "9.99", 40, data_gb=10, tags=["sim"]),
    row(2, "mobile", "19.99", 40, data_gb=50, tags=["5g"]),
    row(3, "mobile", "29.99", 40, data_gb=None, tags=["5g"]),
    row(4, "mobile", "59.99", 40, data_gb=200, tags=["5g", "family"]),
    row(5, "broadband", "19.99", 30, tags=["fibre"]),
]


@pytest.fixture
def index() -> CatalogueIndex:
    return CatalogueIndex(version="v1", plans=PLANS, questions=QUESTIONS)


def ids(index: CatalogueIndex, answers: dict[str, Any]) -> list[int]:
    match = index.match(answers)
    return [index.plans[r.position].id for r in rank(match.matched, match.preferences, limit=None)]


# --- conditions -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("condition", "value", "expected"),
    [
        (cond("price", "lte", 20), 19.99, True),
        (cond("price", "lte", 20), 20.01, False),
        (cond("attributes.kwh", "lt", 0.3), "0.29", True),  # numeric strings compare as numbers
        (cond("attributes.kwh", "lt", 0.3), "cheap", False),
        (cond("attributes.data_gb", "gte", 50), None, False),
        (cond("attributes.data_gb", "gte", 50, or_null=True), None, True),
        (cond("attributes.data_gb", "gte", 50, or_null=True), MISSING, False),
        (cond("attributes.tags", "contains", "5g"), ["5g", "x"], True),
        (cond("attributes.tags", "contains", "5g"), "5g", False),
        (cond("attributes.tags", "contains_any", ["a", "b"]), ["b"], True),
        (cond("product", "in", ["tv", "mobile"]), "mobile", True),
        (cond("product", "eq", "tv"), "mobile", False),
        (cond("attributes.flag", "gte", 1), True, False),  # booleans are not numbers
    ],
)
def test_conditions(condition: Condition, value: Any, expected: bool) -> None:
    assert holds(condition, value) is expected


@pytest.mark.parametrize(
    "conditions",
    [
        [{"field": "colour", "op": "eq", "value": "red"}],
        [{"field": "price", "op": "lte", "value": "cheap"}],
        [{"field": "product", "op": "in", "value": "mobile"}],
        [{"field": "price", "op": "between", "value": 1}],
        [{"field": "price", "op": "lte"}],
        {"field": "price"},
    ],
)
def test_invalid_conditions_are_refused_by_the_model_validator(conditions: Any) -> None:
    with pytest.raises(ValidationError):
        validate_conditions(conditions)


# --- matching ---------------------------------------------------------------------------------


def test_no_answers_match_every_plan_in_base_order(index: CatalogueIndex) -> None:
    # cheapest first; equal prices: the higher-ranked product first
    assert ids(index, {}) == [1, 2, 5, 3, 4]


def test_single_choice_range_and_null_matching(index: CatalogueIndex) -> None:
    assert ids(index, {"product": "mobile", "budget": 30.0}) == [1, 2, 3]
    assert ids(index, {"product": "any", "budget": 19.99}) == [1, 2, 5]
    assert ids(index, {"budget": 5.0}) == []
    # at least 60 GB: 200 GB and unlimited (null) qualify; a plan without the attribute does not
    assert ids(index, {"data": 60.0}) == [3, 4]
    assert ids(index, {"data": 500.0}) == [3]


def test_multiple_choice_matches_any_option_and_ranks_plans_meeting_more_first(index: CatalogueIndex) -> None:
    assert ids(index, {"extras": ["5g"]}) == [2, 3, 4]
    assert ids(index, {"extras": ["5g", "family"]}) == [4, 2, 3]
    match = index.match({"extras": ["5g", "family"]})
    scores = [r.score for r in rank(match.matched, match.preferences, limit=None)]
    assert scores == [2.0, 1.0, 1.0]
    assert match.total == 3


def test_rank_stops_at_the_limit(index: CatalogueIndex) -> None:
    match = index.match({})
    assert [r.position for r in rank(match.matched, match.preferences, limit=2)] == [0, 1]


def test_score_levels_count_exactly() -> None:
    matched = 0b1111111
    prefs = [0b0000111, 0b0000110, 0b0000100, 0b1000000]
    levels = dict(score_levels(matched, prefs))
    assert levels == {3: 0b100, 2: 0b10, 1: 0b1000001, 0: 0b0111000}
    assert list(positions(0b1010010)) == [1, 4, 6]


def test_refine_lifts_products_with_offers_and_affinity_and_keeps_ties_in_order() -> None:
    ranked = [Ranked(0, 1.0), Ranked(1, 1.0), Ranked(2, 0.0), Ranked(3, 0.0)]
    products = ["mobile", "tv", "broadband", "tv"]
    assert [r.position for r in refine(ranked, products=products, offer_products=set(), affinity={}, limit=None)] == [
        0,
        1,
        2,
        3,
    ]
    by_offer = refine(ranked, products=products, offer_products={"tv"}, affinity={}, limit=None)
    assert [(r.position, r.score) for r in by_offer] == [(1, 2.0), (0, 1.0), (3, 1.0), (2, 0.0)]
    by_taste = refine(
        ranked, products=products, offer_products=set(), affinity={"broadband": 8.0, "mobile": -100}, limit=2
    )
    # +0.25 per point, at most 2: broadband 0 + 2 = 2; mobile 1 - 2 = -1
    assert [(r.position, r.score) for r in by_taste] == [(2, 2.0), (1, 1.0)]


# --- answers ----------------------------------------------------------------------------------


def check(index: CatalogueIndex, answers: Any) -> dict[str, Any]:
    return check_answers(answers, questions=index.questions, validator=answers_validator(index.questions))


def test_answers_are_normalised_so_equal_answers_share_a_key(index: CatalogueIndex) -> None:
    one = check(index, {"extras": ["family", "5g", "5g"], "budget": 25, "product": "mobile"})
    two = check(index, {"product": "mobile", "budget": 25.0, "extras": ["5g", "family"]})
    assert one == two == {"budget": 25.0, "extras": ["5g", "family"], "product": "mobile"}
    assert answers_key(one) == answers_key(two)
    assert check(index, {"extras": []}) == {}


@pytest.mark.parametrize(
    ("answers", "field", "words"),
    [
        ({"colour": "red"}, "answers.colour", "Unknown question"),
        ({"product": "boat"}, "answers.product", "Unknown option 'boat'"),
        ({"extras": ["5g", "boat"]}, "answers.extras", "Unknown option 'boat'"),
        ({"budget": "20"}, "answers.budget", "expected a number, got a string"),
        ({"budget": True}, "answers.budget", "expected a number, got a boolean"),
        ({"budget": None}, "answers.budget", "got null"),
        ({"budget": 101}, "answers.budget", "out of range"),
        ({"budget": -1}, "answers.budget", "out of range"),
        ({"product": ["mobile"]}, "answers.product", "expected one option id"),
        ({"extras": "5g"}, "answers.extras", "expected a list of option ids"),
        ({"extras": [5]}, "answers.extras", "expected an option id"),
        ("mobile", "answers", "an object"),
    ],
)
def test_bad_answers_name_the_field(index: CatalogueIndex, answers: Any, field: str, words: str) -> None:
    with pytest.raises(ApplicationError) as raised:
        check(index, answers)
    error = raised.value
    assert error.code == "invalid_answers"
    assert error.status_code == 400
    assert error.details["errors"][0]["field"] == field
    assert words in error.details["errors"][0]["message"]
    assert error.message.startswith(field)


def test_every_bad_field_is_listed(index: CatalogueIndex) -> None:
    with pytest.raises(ApplicationError) as raised:
        check(index, {"budget": "x", "colour": 1, "product": "mobile"})
    assert [e["field"] for e in raised.value.details["errors"]] == ["answers.budget", "answers.colour"]
