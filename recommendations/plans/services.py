"""Writes and actions of the plan finder: answering a filter request, refining it for the user,
and the demo questions."""

from __future__ import annotations

import logging
import secrets
from typing import Any

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from recommendations import live
from recommendations.fragment_index import live_offers
from recommendations.interactions.selectors import product_affinity
from recommendations.models import Offer

from . import cache
from .answers import check_answers
from .models import Question, QuestionOption
from .ranking import rank, refine
from .selectors import catalogue, documents_of, plans_matching

logger = logging.getLogger(__name__)

ANSWER_TYPE = "recommendations.updated"


def new_request_id() -> str:
    return "pf-" + secrets.token_urlsafe(9)


def plans_filter(*, user_id: int, answers: Any, request_id: str | None = None) -> dict[str, Any]:
    """The synchronous answer to a filter request (REST and WebSocket alike).

    Checks the answers (ApplicationError ``invalid_answers`` naming each bad field), takes the
    ranked plans from the cache or computes them, records ``request_id`` (generated when not
    given) as the user's newest request, and queues the enrichment, which pushes the refined
    answer to the user's connections later.
    """
    found = plans_matching(answers=answers)
    request_id = request_id or new_request_id()
    cache.latest_request_set(user_id, request_id, found.answers)
    if settings.PLANS_ENRICH:
        transaction.on_commit(lambda: plans_enrich_soon(user_id=user_id, request_id=request_id, answers=found.answers))
    return filter_answer(request_id=request_id, total=found.total, plans=found.plans)


def filter_answer(*, request_id: str, total: int, plans: list[dict[str, Any]]) -> dict[str, Any]:
    """The synchronous answer's shape (the refined one adds ``type`` and sets ``refined``)."""
    return {"request_id": request_id, "refined": False, "superseded": False, "total": total, "plans": plans}


def plans_enrich_soon(*, user_id: int, request_id: str, answers: dict[str, Any]) -> bool:
    """Queue the enrichment of the user's newest request, unless one is queued already (it will
    refine the newest request when it runs: a burst of requests costs one task). True if queued."""
    if not cache.enrich_mark(user_id):
        return False
    return plans_enrich_queue(user_id=user_id, request_id=request_id, answers=answers)


def plans_enrich_queue(*, user_id: int, request_id: str, answers: dict[str, Any]) -> bool:
    """Send the enrichment task once the user's queued mark is set (``cache.enrich_mark``);
    on failure the mark is cleared and the answer goes out without its refinement."""
    from .tasks import plans_enrich_task  # tasks import this module

    try:
        # No publish retries: with the broker down the answer goes out at once, without its refinement.
        plans_enrich_task.apply_async(
            kwargs={"user_id": user_id, "request_id": request_id, "answers": answers}, retry=False
        )
    except Exception:
        # The refined answer is a bonus: a broker outage must not fail the synchronous answer.
        cache.enrich_clear(user_id)
        logger.exception("plan enrichment %s for user %s could not be queued", request_id, user_id)
        return False
    return True


def offer_products(*, user_id: int) -> set[str]:
    """Slugs of the active products the user has live personal offers for (one query)."""
    return set(
        Offer.objects.filter(live_offers(timezone.now()), user_id=user_id, product__active=True)
        .values_list("product__slug", flat=True)
        .distinct()
    )


def plans_enrich(*, user_id: int, request_id: str, answers: dict[str, Any]) -> dict[str, Any] | None:
    """The refined answer to the user's newest request, pushed to the user's connections (after
    commit). The request that queued the task (``request_id``, ``answers``) stands in when the
    newest is unknown (Redis down, or expired).

    Ranks every matching plan again with the user's live offers and their affinity for each
    product (recommendations/plans/ranking.py: ``refine``), and marks the answer ``superseded`` when the user
    has issued a newer request meanwhile (clients drop it; that request queues its own
    enrichment). Answers that no longer fit the catalogue (a question removed meanwhile) are
    dropped without a push.
    """
    cache.enrich_clear(user_id)  # requests from now on queue another run
    newest = cache.latest_request(user_id)
    if newest is not None:
        request_id, answers = str(newest["request_id"]), dict(newest["answers"])
    current = catalogue()
    index = current.index
    try:
        normalised = check_answers(answers, questions=index.questions, validator=current.validator)
    except Exception:
        logger.info("plan enrichment %s for user %s dropped: answers no longer fit the catalogue", request_id, user_id)
        return None
    match = index.match(normalised)
    refined = refine(
        rank(match.matched, match.preferences, limit=None),
        products=[plan.product for plan in index.plans],
        offer_products=offer_products(user_id=user_id),
        affinity=product_affinity(user_id=user_id),
        limit=settings.PLANS_FILTER_LIMIT,
    )
    latest = cache.latest_request(user_id)
    message = {
        "type": ANSWER_TYPE,
        "request_id": request_id,
        "refined": True,
        "superseded": latest is not None and latest["request_id"] != request_id,
        "total": match.total,
        "plans": documents_of(index, refined),
    }
    live.plans_refined(user_id=user_id, message=message)
    return message


def question_upsert(*, spec: dict[str, Any]) -> Question:
    """Create or update one question and its options from a spec (recommendations/plans/demo.py's shape);
    options not in the spec are deleted. Idempotent."""
    options = spec.get("options", [])
    fields = {k: v for k, v in spec.items() if k not in ("key", "options")}
    with transaction.atomic():
        question, _ = Question.objects.update_or_create(key=spec["key"], defaults=fields)
        question.full_clean()
        keep = []
        for position, option in enumerate(options):
            QuestionOption.objects.update_or_create(
                question=question,
                key=option["key"],
                defaults={"label": option["label"], "conditions": option["conditions"], "position": position},
            )
            keep.append(option["key"])
        QuestionOption.objects.filter(question=question).exclude(key__in=keep).delete()
    return question
