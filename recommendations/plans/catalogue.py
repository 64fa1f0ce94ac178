"""The plan catalogue as an in-memory index, and matching answers against it (pure; no I/O).

Built once per catalogue version (recommendations/plans/selectors.py) from plain rows: every active plan of an
active product, and the active questions. Each plan gets a bit position, in the base order
(price, then the product's rank, then product slug and plan code), and everything an answer can
ask is precomputed as a bit mask over those positions:

- each choice option: the plans meeting all its conditions (recommendations/plans/conditions.py);
- each range question: the distinct values of its field, sorted, with the mask of the plans
  whose value is at most (``lte``) or at least (``gte``) each of them, so an answer is a binary
  search and a mask.

Matching is then a few big-integer ANDs and ORs, whatever the size of the catalogue; ranking
(recommendations/plans/ranking.py) reads the masks.
"""

from __future__ import annotations

from bisect import bisect_left, bisect_right
from dataclasses import dataclass, field
from typing import Any

from .conditions import MISSING, Condition, holds, number

SINGLE, MULTIPLE, RANGE = "single", "multiple", "range"


@dataclass(frozen=True, slots=True)
class PlanRow:
    id: int
    product: str
    product_rank: int
    code: str
    name: str
    price_amount: str  # as stored, e.g. "29.99"
    price_currency: str
    price_period: str
    attributes: dict[str, Any]

    @property
    def price(self) -> float:
        return float(self.price_amount)

    def value(self, name: str) -> Any:
        """The value a condition or range names: price, product, attributes.<key> (or MISSING)."""
        if name == "price":
            return self.price
        if name == "product":
            return self.product
        return self.attributes.get(name.removeprefix("attributes."), MISSING)

    def document(self) -> dict[str, Any]:
        """The plan as answers show it (without its score)."""
        return {
            "id": self.id,
            "product": self.product,
            "code": self.code,
            "name": self.name,
            "price": {"amount": self.price_amount, "currency": self.price_currency, "period": self.price_period},
            "attributes": self.attributes,
        }


@dataclass(frozen=True, slots=True)
class OptionRow:
    key: str
    label: str
    conditions: tuple[Condition, ...]


@dataclass(frozen=True, slots=True)
class RangeSpec:
    field: str
    operator: str  # "lte" | "gte"
    minimum: float
    maximum: float
    unit: str = ""
    null_matches: bool = False


@dataclass(frozen=True, slots=True)
class QuestionRow:
    key: str
    text: str
    kind: str
    help_text: str = ""
    options: tuple[OptionRow, ...] = ()
    range: RangeSpec | None = None

    def document(self) -> dict[str, Any]:
        doc: dict[str, Any] = {"id": self.key, "kind": self.kind, "text": self.text, "help_text": self.help_text}
        if self.range is not None:
            doc.update(
                min=_plain(self.range.minimum),
                max=_plain(self.range.maximum),
                unit=self.range.unit,
            )
        else:
            doc["options"] = [{"id": option.key, "label": option.label} for option in self.options]
        return doc


def _plain(value: float) -> int | float:
    return int(value) if float(value).is_integer() else value


def base_key(plan: PlanRow) -> tuple[float, int, str, str]:
    """The base order: cheapest first, then the product's home-screen rank, then slug and code."""
    return (plan.price, -plan.product_rank, plan.product, plan.code)


@dataclass(frozen=True, slots=True)
class RangeIndex:
    values: tuple[float, ...]  # distinct numeric values, ascending
    masks: tuple[int, ...]  # lte: plans with value <= values[i]; gte: plans with value >= values[i]
    operator: str
    null_mask: int  # plans whose value is null, when the question lets them match

    def mask(self, answer: float) -> int:
        if self.operator == "lte":
            i = bisect_right(self.values, answer) - 1
            found = self.masks[i] if i >= 0 else 0
        else:
            i = bisect_left(self.values, answer)
            found = self.masks[i] if i < len(self.values) else 0
        return found | self.null_mask


def _range_index(spec: RangeSpec, plans: tuple[PlanRow, ...]) -> RangeIndex:
    by_value: dict[float, int] = {}
    null_mask = 0
    for position, plan in enumerate(plans):
        raw = plan.value(spec.field)
        if raw is None:
            null_mask |= 1 << position if spec.null_matches else 0
            continue
        value = None if raw is MISSING else number(raw)
        if value is not None:
            by_value[value] = by_value.get(value, 0) | (1 << position)
    values = sorted(by_value)
    masks: list[int] = []
    running = 0
    for value in values if spec.operator == "lte" else reversed(values):
        running |= by_value[value]
        masks.append(running)
    if spec.operator != "lte":
        masks.reverse()
    return RangeIndex(values=tuple(values), masks=tuple(masks), operator=spec.operator, null_mask=null_mask)


@dataclass
class Match:
    """What answers select: the plans meeting every answer, and one mask per chosen option of a
    multiple choice question (a plan meeting more of them ranks higher)."""

    matched: int
    preferences: list[int] = field(default_factory=list)

    @property
    def total(self) -> int:
        return self.matched.bit_count()


class CatalogueIndex:
    """Plans and questions of one catalogue version, with every answer's mask precomputed."""

    def __init__(self, *, version: str, plans: list[PlanRow], questions: list[QuestionRow]) -> None:
        self.version = version
        self.plans: tuple[PlanRow, ...] = tuple(sorted(plans, key=base_key))
        self._documents: dict[int, dict[str, Any]] = {}
        self.questions: dict[str, QuestionRow] = {question.key: question for question in questions}
        self.everything = (1 << len(self.plans)) - 1
        self._columns: dict[str, list[Any]] = {}
        self.option_masks: dict[tuple[str, str], int] = {}
        self.ranges: dict[str, RangeIndex] = {}
        for question in questions:
            if question.range is not None:
                self.ranges[question.key] = _range_index(question.range, self.plans)
            for option in question.options:
                self.option_masks[(question.key, option.key)] = self._mask(option.conditions)

    def document(self, position: int) -> dict[str, Any]:
        """The plan at ``position`` as answers show it (made once, when first shown)."""
        found = self._documents.get(position)
        if found is None:
            found = self._documents[position] = self.plans[position].document()
        return found

    def _column(self, name: str) -> list[Any]:
        """Every plan's value of one field, in position order (read once per index)."""
        column = self._columns.get(name)
        if column is None:
            column = self._columns[name] = [plan.value(name) for plan in self.plans]
        return column

    def _mask(self, conditions: tuple[Condition, ...]) -> int:
        mask = self.everything
        for condition in conditions:
            # One bit per plan, highest position first, read as a binary number.
            bits = "".join("1" if holds(condition, value) else "0" for value in reversed(self._column(condition.field)))
            mask &= int(bits or "0", 2)
        return mask

    def questions_document(self) -> dict[str, Any]:
        return {"version": self.version, "questions": [question.document() for question in self.questions.values()]}

    def match(self, answers: dict[str, Any]) -> Match:
        """Plans meeting every answer; ``answers`` already checked and normalised (answers.py)."""
        matched = self.everything
        preferences: list[int] = []
        for key, answer in answers.items():
            kind = self.questions[key].kind
            if kind == SINGLE:
                matched &= self.option_masks[(key, answer)]
            elif kind == MULTIPLE:
                chosen = [self.option_masks[(key, option)] for option in answer]
                either = 0
                for mask in chosen:
                    either |= mask
                matched &= either
                preferences.extend(chosen)
            else:
                matched &= self.ranges[key].mask(float(answer))
        return Match(matched=matched, preferences=preferences)
