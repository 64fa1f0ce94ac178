"""Reads of the plan finder: the catalogue index of the current version, questions, matches."""

from __future__ import annotations

import hashlib
import threading
import time
from dataclasses import dataclass
from typing import Any

import jsonschema
import orjson
from django.conf import settings
from django.db.models import Count, Max

from products.models import Plan, Product

from . import cache
from .answers import answers_key, answers_validator, check_answers
from .catalogue import RANGE, CatalogueIndex, OptionRow, PlanRow, QuestionRow, RangeSpec
from .conditions import Condition
from .models import Question, QuestionOption
from .ranking import Ranked, rank


@dataclass(frozen=True)
class Catalogue:
    """One catalogue version in this process: the index, the answers' validator, and the
    questions document already encoded."""

    index: CatalogueIndex
    validator: jsonschema.Draft202012Validator
    questions_json: bytes
    built_at: float


_lock = threading.Lock()
_current: Catalogue | None = None


def reset() -> None:
    """Drop this process's catalogue (tests)."""
    global _current
    _current = None


def _db_fingerprint() -> str:
    """A version read from the database, when the cache (Redis) cannot say: row counts and last
    changes of plans, products, questions and options (four aggregate queries)."""
    parts = [
        model.objects.aggregate(n=Count("id"), at=Max("updated_at"))
        for model in (Plan, Product, Question, QuestionOption)
    ]
    return "db-" + hashlib.sha256(repr(parts).encode()).hexdigest()[:16]


def _load(version: str) -> Catalogue:
    fields = (
        "id",
        "product__slug",
        "product__rank_weight",
        "code",
        "name",
        "price_amount",
        "price_currency",
        "price_period",
        "attributes",
    )
    plans = [
        PlanRow(
            id=pk,
            product=slug,
            product_rank=rank_weight,
            code=code,
            name=name,
            price_amount=str(amount),
            price_currency=currency,
            price_period=period,
            attributes=attributes if isinstance(attributes, dict) else {},
        )
        for pk, slug, rank_weight, code, name, amount, currency, period, attributes in Plan.objects.filter(
            active=True, product__active=True
        )
        .order_by()
        .values_list(*fields)
    ]
    questions = []
    for question in Question.objects.filter(active=True).prefetch_related("options"):
        spec = None
        if question.kind == RANGE:
            spec = RangeSpec(
                field=question.range_field,
                operator=question.range_operator or "lte",
                minimum=float(question.range_min or 0),
                maximum=float(question.range_max or 0),
                unit=question.range_unit,
                null_matches=question.range_null_matches,
            )
        options = tuple(
            OptionRow(
                key=option.key,
                label=option.label,
                conditions=tuple(Condition.of(raw) for raw in option.conditions or []),
            )
            for option in question.options.all()
        )
        questions.append(
            QuestionRow(
                key=question.key,
                text=question.text,
                help_text=question.help_text,
                kind=question.kind,
                options=() if spec is not None else options,
                range=spec,
            )
        )
    index = CatalogueIndex(version=version, plans=plans, questions=questions)
    return Catalogue(
        index=index,
        validator=answers_validator(index.questions),
        questions_json=orjson.dumps(index.questions_document()),
        built_at=time.monotonic(),
    )


def catalogue() -> Catalogue:
    """The current catalogue, built at most once per version and process.

    The version comes from the cache (one GET); when the cache cannot be reached it is read
    from the database instead, so answers stay correct without Redis. An index older than
    ``PLANS_CACHE_TTL_SECONDS`` is built again even under the same version (a bound on changes
    no signal announced, such as bulk updates).
    """
    global _current
    version = cache.version() or _db_fingerprint()
    current = _current
    max_age = float(settings.PLANS_CACHE_TTL_SECONDS)
    if current is not None and current.index.version == version and time.monotonic() - current.built_at < max_age:
        return current
    with _lock:
        current = _current
        if current is None or current.index.version != version or time.monotonic() - current.built_at >= max_age:
            current = _current = _load(version)
    return current


def loaded_catalogue() -> Catalogue | None:
    """This process's catalogue if it is one ``catalogue()`` would still use under the same
    version (not older than ``PLANS_CACHE_TTL_SECONDS``); None otherwise. No I/O."""
    current = _current
    if current is None or time.monotonic() - current.built_at >= float(settings.PLANS_CACHE_TTL_SECONDS):
        return None
    return current


def questions_json() -> bytes:
    """``GET /api/v1/plans/questions/``: the active questions, encoded."""
    return catalogue().questions_json


@dataclass(frozen=True)
class Found:
    catalogue: Catalogue
    answers: dict[str, Any]  # normalised
    total: int
    plans: list[dict[str, Any]]


def documents_of(index: CatalogueIndex, ranked: list[Ranked]) -> list[dict[str, Any]]:
    return [{**index.document(item.position), "score": round(item.score, 4)} for item in ranked]


def plans_matching(*, answers: Any) -> Found:
    """The matching plans of active products for ``answers``, ranked (at most
    ``PLANS_FILTER_LIMIT``); raises ApplicationError ``invalid_answers`` for bad answers.
    Answers already computed for this catalogue version come from the cache."""
    current = catalogue()
    index = current.index
    normalised = check_answers(answers, questions=index.questions, validator=current.validator)
    digest = answers_key(normalised)
    cached = cache.result_get(index.version, digest)
    if isinstance(cached, dict):
        return Found(catalogue=current, answers=normalised, total=int(cached["total"]), plans=cached["plans"])
    computed = answer_of(index, normalised)
    cache.result_set(index.version, digest, computed)
    return Found(catalogue=current, answers=normalised, total=computed["total"], plans=computed["plans"])


def answer_of(index: CatalogueIndex, normalised: dict[str, Any]) -> dict[str, Any]:
    """``{"total", "plans"}`` for normalised answers: matched and ranked, the first
    ``PLANS_FILTER_LIMIT`` plans as documents (what the answer cache holds)."""
    match = index.match(normalised)
    plans = documents_of(index, rank(match.matched, match.preferences, limit=settings.PLANS_FILTER_LIMIT))
    return {"total": match.total, "plans": plans}
