"""Ingestion of product events (``POST /api/v1/products/<slug>/events/``): check, then apply.

``check_events_body`` and ``check_events`` validate a whole body (one event or a batch) and
refuse it with every bad event's index and field; nothing is written. ``events_apply`` then
applies the batch in one transaction, so the effect is committed before the endpoint answers 2xx:

- idempotent by event id: each applied event leaves a ``ReceivedEvent`` (unique per product and
  id); a repeated id is acknowledged as a duplicate and has no second effect;
- ordered per (user, product): ``OfferStream.last_sequence`` (locked with SELECT ... FOR UPDATE)
  only grows; an event whose ``sequence`` is not newer is acknowledged as ``stale`` and ignored;
- every change tells the user's open connections (``live.feed_changed_for_user``, after commit);
  an offer with an ``expires_at`` gets a task at that time that tells them it is gone.

docs/webhooks.md is the contract for product teams.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any

import orjson
from django.contrib.auth.models import User
from django.db import IntegrityError, transaction
from django.utils import timezone
from django.utils.dateparse import parse_datetime
from jsonschema import Draft202012Validator
from jsonschema.exceptions import ValidationError, best_match

from homeservice.errors import ApplicationError
from products.backend_client import OFFER_SCHEMA
from products.models import Product
from products.tasks import deals_poll_soon

from . import live
from .models import Offer, OfferStream, ReceivedEvent
from .services import OfferFields, offers_store

logger = logging.getLogger(__name__)

MAX_BATCH = 500
# The largest sequence taken: JavaScript's Number.MAX_SAFE_INTEGER (2^53 - 1). Beyond it a
# JSON number is no longer exact in the clients and tools that read sequences back as doubles,
# and two different sequences could compare equal.
MAX_SEQUENCE = 2**53 - 1

OFFER_UPSERTED = "offer.upserted"
OFFER_WITHDRAWN = "offer.withdrawn"
OFFERS_REPLACED = "offers.replaced"
OFFERS_INVALIDATED = "offers.invalidated"
DEALS_CHANGED = "deals.changed"
USER_EVENT_TYPES = (OFFER_UPSERTED, OFFER_WITHDRAWN, OFFERS_REPLACED, OFFERS_INVALIDATED)
EVENT_TYPES = (*USER_EVENT_TYPES, DEALS_CHANGED)


def _when(event_type: str, then: dict[str, Any]) -> dict[str, Any]:
    return {"if": {"properties": {"type": {"const": event_type}}, "required": ["type"]}, "then": then}


EVENT_SCHEMA: dict[str, Any] = {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "title": "A product event: a CloudEvents-1.0-shaped envelope (docs/webhooks.md)",
    "type": "object",
    "required": ["id", "source", "type"],
    "properties": {
        "specversion": {"const": "1.0"},
        "id": {"type": "string", "minLength": 1, "maxLength": 200},
        "source": {"type": "string", "minLength": 1, "maxLength": 500},
        "type": {"enum": list(EVENT_TYPES)},
        "time": {"type": "string", "maxLength": 40},
        "subject": {"type": "string", "minLength": 1, "maxLength": 150},
        "sequence": {"type": "integer", "minimum": 0, "maximum": MAX_SEQUENCE},
        "datacontenttype": {"type": "string"},
        "data": {},
    },
    "allOf": [
        {
            "if": {"properties": {"type": {"enum": list(USER_EVENT_TYPES)}}, "required": ["type"]},
            "then": {"required": ["subject", "sequence"]},
        },
        _when(OFFER_UPSERTED, {"required": ["data"], "properties": {"data": OFFER_SCHEMA}}),
        _when(
            OFFER_WITHDRAWN,
            {
                "required": ["data"],
                "properties": {
                    "data": {
                        "type": "object",
                        "required": ["id"],
                        "properties": {"id": {"type": "string", "minLength": 1, "maxLength": 200}},
                    }
                },
            },
        ),
        _when(
            OFFERS_REPLACED,
            {
                "required": ["data"],
                "properties": {
                    "data": {
                        "type": "object",
                        "required": ["offers"],
                        "properties": {"offers": {"type": "array", "maxItems": 100, "items": OFFER_SCHEMA}},
                    }
                },
            },
        ),
    ],
}
_event_validator = Draft202012Validator(EVENT_SCHEMA)


@dataclass(frozen=True)
class EventError:
    index: int
    field: str
    message: str

    def as_dict(self) -> dict[str, Any]:
        return {"index": self.index, "field": self.field, "message": self.message}


@dataclass(frozen=True)
class CheckedEvent:
    index: int
    id: str
    type: str
    subject: str
    sequence: int | None
    user: User | None
    offers: list[OfferFields]  # offer.upserted: one; offers.replaced: the full set
    withdrawn_id: str = ""


@dataclass(frozen=True)
class EventResult:
    index: int
    id: str
    outcome: str  # applied | stale | queued | duplicate

    def as_dict(self) -> dict[str, Any]:
        return {"index": self.index, "id": self.id, "outcome": self.outcome, "duplicate": self.outcome == "duplicate"}


# --- check ----------------------------------------------------------------------------------------


def check_events_body(*, body: bytes) -> tuple[list[Any], bool]:
    """Parse a body: one event (an object) or a batch (an array of 1 to ``MAX_BATCH``).

    Returns the events and whether the body was a batch; raises a 400 ``ApplicationError``.
    """
    try:
        document = orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise ApplicationError(
            "malformed_json", f"The body is not valid JSON: {exc}", details={"field": "(body)"}
        ) from exc
    if isinstance(document, dict):
        return [document], False
    if isinstance(document, list):
        if not document:
            raise ApplicationError("invalid_events", "The batch is empty.", details={"field": "(body)"})
        if len(document) > MAX_BATCH:
            raise ApplicationError(
                "invalid_events",
                f"A batch holds at most {MAX_BATCH} events; this one holds {len(document)}.",
                details={"field": "(body)"},
            )
        return document, True
    raise ApplicationError(
        "invalid_events", "The body must be an event (an object) or a batch (an array).", details={"field": "(body)"}
    )


def _field_path(error: ValidationError) -> str:
    """``data.offers[2].title``: the path of the failing field (for a missing one, its own name)."""
    path = "".join(f"[{part}]" if isinstance(part, int) else f".{part}" for part in error.absolute_path)
    if error.validator == "required" and isinstance(error.instance, dict):
        missing = [name for name in error.validator_value if name not in error.instance]
        if missing:
            path += f".{missing[0]}"
    return path.lstrip(".")


def _datetime_or_error(value: Any, path: str, index: int, errors: list[EventError]) -> datetime | None:
    if value in (None, ""):
        return None
    parsed = parse_datetime(value) if isinstance(value, str) else None
    if parsed is None:
        errors.append(EventError(index, path, "must be an RFC 3339 date-time, e.g. 2026-12-31T23:59:59Z"))
    elif timezone.is_naive(parsed):
        errors.append(EventError(index, path, "must name its UTC offset (Z or +hh:mm)"))
        return None
    return parsed


def _offer_fields(offer: dict[str, Any], path: str, index: int, errors: list[EventError]) -> OfferFields:
    price = offer.get("price") or {}
    return OfferFields(
        external_id=offer.get("id") or offer["external_id"],
        title=offer["title"],
        body=offer.get("body", ""),
        image_url=offer.get("image_url", ""),
        price_amount=Decimal(price["amount"]) if price else None,
        price_currency=price.get("currency", ""),
        price_period=price.get("period", ""),
        cta_label=offer.get("cta_label", "View offer"),
        cta_url=offer.get("cta_url", ""),
        priority=offer.get("priority", 0),
        expires_at=_datetime_or_error(offer.get("expires_at"), f"{path}.expires_at", index, errors),
        data=offer.get("data") or {},
    )


def check_offers(*, offers: list[dict[str, Any]], path: str = "offers", index: int = 0) -> list[OfferFields]:
    """Typed offers from already schema-checked ones; raises a 400 naming a bad ``expires_at``."""
    errors: list[EventError] = []
    checked = [_offer_fields(offer, f"{path}[{i}]", index, errors) for i, offer in enumerate(offers)]
    if errors:
        raise ApplicationError(
            "invalid_offers", f"{errors[0].field}: {errors[0].message}", details={"errors": [errors[0].as_dict()]}
        )
    return checked


def check_events(*, product: Product, events: list[Any]) -> list[CheckedEvent]:
    """Validate every event of a body; raise one 400 listing each bad event's index and field."""
    errors: list[EventError] = []
    valid: list[tuple[int, dict[str, Any]]] = []
    for index, event in enumerate(events):
        error = best_match(_event_validator.iter_errors(event))
        if error is not None:
            errors.append(EventError(index, _field_path(error), error.message))
            continue
        _datetime_or_error(event.get("time"), "time", index, errors)
        valid.append((index, event))
    usernames = {event["subject"] for _, event in valid if event["type"] in USER_EVENT_TYPES}
    users = {user.username: user for user in User.objects.filter(username__in=usernames, is_active=True)}
    checked: list[CheckedEvent] = []
    for index, event in valid:
        event_type = event["type"]
        user = None
        if event_type in USER_EVENT_TYPES:
            user = users.get(event["subject"])
            if user is None:
                errors.append(EventError(index, "subject", f"no user {event['subject']!r}"))
                continue
        data: Any = event.get("data")
        offers: list[OfferFields] = []
        if event_type == OFFER_UPSERTED:
            offers = [_offer_fields(data, "data", index, errors)]
        elif event_type == OFFERS_REPLACED:
            offers = [_offer_fields(o, f"data.offers[{i}]", index, errors) for i, o in enumerate(data["offers"])]
        checked.append(
            CheckedEvent(
                index=index,
                id=event["id"],
                type=event_type,
                subject=event.get("subject", ""),
                sequence=event.get("sequence"),
                user=user,
                offers=offers,
                withdrawn_id=data["id"] if event_type == OFFER_WITHDRAWN else "",
            )
        )
    if errors:
        errors.sort(key=lambda e: e.index)
        first = errors[0]
        where = f"[{first.index}].{first.field}" if len(events) > 1 or first.index else first.field
        raise ApplicationError(
            "invalid_events",
            f"{len(errors)} event(s) invalid; nothing was applied. First: {where}: {first.message}",
            details={"errors": [e.as_dict() for e in errors]},
        )
    return checked


# --- apply ----------------------------------------------------------------------------------------


def offers_replace(*, user: User, product: Product, offers: list[OfferFields], sequence: int) -> None:
    """Make ``offers`` the user's full set for ``product``; the others are withdrawn. In a transaction."""
    offers_store(product=product, offers=[(user, offer, sequence) for offer in offers])
    Offer.objects.filter(user=user, product=product, withdrawn=False).exclude(
        external_id__in=[o.external_id for o in offers]
    ).update(withdrawn=True, updated_at=timezone.now())


class _Batch:
    """What applying one batch needs besides the events: the streams of its users, locked (SELECT
    ... FOR UPDATE) in one query and advanced in memory, and offer upserts held back so that runs
    of them are written together. ``flush`` writes both; the effect is that of applying the events
    one after the other."""

    def __init__(self, *, product: Product, events: list[CheckedEvent]) -> None:
        self.product = product
        user_ids = sorted({e.user.pk for e in events if e.user is not None and e.sequence is not None})
        self.streams = {
            s.user_id: s
            for s in OfferStream.objects.select_for_update()
            .filter(product=product, user_id__in=user_ids)
            .order_by("user_id")
        }
        self.advanced: set[int] = set()
        self.created: list[OfferStream] = []
        self.upserts: list[tuple[User, OfferFields, int]] = []

    def advance(self, *, user: User, sequence: int) -> bool:
        """Move the (user, product) stream to ``sequence``; False if it already is there or further."""
        stream = self.streams.get(user.pk)
        if stream is None:
            stream = OfferStream(user=user, product=self.product, last_sequence=sequence)
            self.streams[user.pk] = stream
            self.created.append(stream)
            return True
        if sequence <= stream.last_sequence:
            return False
        stream.last_sequence = sequence
        stream.updated_at = timezone.now()  # bulk writes leave auto_now alone
        if stream.pk is not None:
            self.advanced.add(user.pk)
        return True

    def flush_offers(self) -> None:
        if self.upserts:
            offers_store(product=self.product, offers=self.upserts)
            self.upserts = []

    def flush(self) -> None:
        self.flush_offers()
        if self.created:
            OfferStream.objects.bulk_create(self.created)  # a concurrent creator: IntegrityError, retried
        if self.advanced:
            # The rows are locked (FOR UPDATE) and exist: each insert conflicts and updates its row.
            # One INSERT ... ON CONFLICT DO UPDATE costs far less to build than bulk_update's CASE.
            OfferStream.objects.bulk_create(
                [self.streams[user_id] for user_id in sorted(self.advanced)],
                update_conflicts=True,
                unique_fields=["user", "product"],
                update_fields=["last_sequence", "updated_at"],
            )


def _apply_one(*, batch: _Batch, event: CheckedEvent, changed: dict[int, str]) -> str:
    product = batch.product
    if event.type == DEALS_CHANGED:
        deals_poll_soon(product=product)  # deduplicated: a burst of notices shares one queued poll
        return ReceivedEvent.Outcome.QUEUED
    user, sequence = event.user, event.sequence
    if user is None or sequence is None:  # check_events gives user events both
        raise ValueError(f"{event.type} event {event.id!r} has no user or sequence")
    if not batch.advance(user=user, sequence=sequence):
        return ReceivedEvent.Outcome.STALE
    if event.type == OFFER_UPSERTED:
        batch.upserts.append((user, event.offers[0], sequence))
        changed[user.pk] = event.type
        return ReceivedEvent.Outcome.APPLIED
    batch.flush_offers()  # what follows reads or replaces offers: write the upserts before it
    if event.type == OFFERS_REPLACED:
        offers_replace(user=user, product=product, offers=event.offers, sequence=sequence)
    elif event.type == OFFER_WITHDRAWN:
        withdrawn = Offer.objects.filter(
            user=user, product=product, external_id=event.withdrawn_id, withdrawn=False
        ).update(withdrawn=True, updated_at=timezone.now())
        if not withdrawn:
            return ReceivedEvent.Outcome.APPLIED  # nothing to withdraw: nothing to tell
    elif event.type == OFFERS_INVALIDATED:
        from .tasks import offers_refresh

        args = {"product_id": product.pk, "user_id": user.pk, "sequence": sequence}
        transaction.on_commit(lambda: offers_refresh.apply_async(kwargs=args))
        return ReceivedEvent.Outcome.QUEUED
    changed[user.pk] = event.type
    return ReceivedEvent.Outcome.APPLIED


@dataclass(frozen=True)
class Applied:
    results: list[EventResult]
    committed_at: datetime  # when the transaction committed (before anyone was told)


def _apply_all(*, product: Product, events: list[CheckedEvent]) -> Applied:
    results: list[EventResult] = []
    committed: list[datetime] = []
    with transaction.atomic():
        # Registered first, so it runs first once the transaction commits: before the
        # announcements, whose live updates are measured from it.
        transaction.on_commit(lambda: committed.append(timezone.now()))
        known = set(
            ReceivedEvent.objects.filter(product=product, event_id__in=[e.id for e in events]).values_list(
                "event_id", flat=True
            )
        )
        batch = _Batch(product=product, events=[e for e in events if e.id not in known])
        changed: dict[int, str] = {}
        received: list[ReceivedEvent] = []
        for event in events:
            if event.id in known:
                results.append(EventResult(event.index, event.id, "duplicate"))
                continue
            known.add(event.id)
            outcome = _apply_one(batch=batch, event=event, changed=changed)
            received.append(
                ReceivedEvent(
                    product=product,
                    event_id=event.id,
                    event_type=event.type,
                    subject=event.subject,
                    sequence=event.sequence,
                    outcome=outcome,
                )
            )
            results.append(EventResult(event.index, event.id, str(outcome)))
        batch.flush()
        ReceivedEvent.objects.bulk_create(received)
        by_reason: dict[str, list[int]] = {}
        for user_id, reason in changed.items():
            by_reason.setdefault(reason, []).append(user_id)
        for reason, user_ids in by_reason.items():
            live.feeds_changed_for_users(user_ids=user_ids, reason=reason, product_slug=product.slug)
    # Inside an outer transaction (tests) nothing has committed yet: now is the best estimate.
    return Applied(results=results, committed_at=committed[0] if committed else timezone.now())


def events_apply(*, product: Product, events: list[CheckedEvent]) -> Applied:
    """Apply checked events in one transaction (all or nothing); committed when this returns.

    A concurrent request carrying the same event id (or creating the same stream) makes the
    transaction fail on a unique key; it is then retried once, finding the other one's work.
    """
    try:
        return _apply_all(product=product, events=events)
    except IntegrityError:
        logger.info("product events for %s raced another request; retrying once", product.slug)
        return _apply_all(product=product, events=events)


def offer_streams_reset(*, product: Product, user: User | None) -> dict[str, int]:
    """Forget the ordering state of ``user``'s stream of ``product``'s events (every user's when
    ``user`` is None), so that the next event is applied whatever its sequence: for a backend
    that restarted its numbering. Returns username → the last sequence each stream had. Event
    ids already received stay known: a repeated id is still a duplicate."""
    with transaction.atomic():
        streams = OfferStream.objects.select_for_update().filter(product=product).select_related("user")
        if user is not None:
            streams = streams.filter(user=user)
        reset = {stream.user.get_username(): stream.last_sequence for stream in streams.order_by("user_id")}
        streams.delete()
    for username, sequence in reset.items():
        logger.info("offer stream of %s / %s reset (last sequence %s)", username, product.slug, sequence)
    return reset


def offers_fetched_apply(*, product: Product, user: User, offers: list[OfferFields], sequence: int) -> bool:
    """Apply a user's offers fetched after ``offers.invalidated`` at ``sequence`` as their full set.

    Skipped (False) when a newer event has been applied to the stream since: it is more recent
    than the notice this fetch answers.
    """
    with transaction.atomic():
        stream = OfferStream.objects.select_for_update().filter(user=user, product=product).first()
        if stream is not None and stream.last_sequence > sequence:
            return False
        offers_replace(user=user, product=product, offers=offers, sequence=sequence)
        live.feed_changed_for_user(user_id=user.pk, reason=OFFERS_REPLACED, product_slug=product.slug)
    return True
