"""Writes of the interactions app: a plan chosen, interaction events recorded.

Each validates everything first (``check_*``: nothing is written when anything is wrong, and the
error names the field), then writes in one transaction together with the outbox messages that
forward it to the product backends (outbox.py) and, for dismissals, the live update.
"""

from __future__ import annotations

import hashlib
from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.contrib.auth.models import User
from django.db import IntegrityError, transaction
from django.utils import timezone
from jsonschema import Draft202012Validator

from homeservice.errors import ApplicationError
from products.models import DealSnapshot, Plan, Product
from recommendations import live
from recommendations.feed import section_id as product_section_id
from recommendations.models import Offer
from ui_templates.models import TemplateVersion
from ui_templates.slots import Slot

from . import outbox
from .inserts import insert_new
from .models import Interaction, OfferDismissal, PlanSelection
from .shown import shown_sections
from .validation import field_path, parse_moment, schema_errors

# --- plan selection ---------------------------------------------------------------------------

SELECT_SCHEMA: dict[str, Any] = {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "type": "object",
    "additionalProperties": False,
    "properties": {
        "plan_id": {"type": "integer", "minimum": 1},
        "plan": {"type": "string", "minLength": 1, "maxLength": 80},
        "product": {"type": "string", "minLength": 1, "maxLength": 50},
        "request_id": {"type": "string", "maxLength": 100},
    },
}
_select_validator = Draft202012Validator(SELECT_SCHEMA)


def _invalid(field: str, message: str, code: str = "invalid") -> ApplicationError:
    return ApplicationError(code, f"{field}: {message}", details={field: [message]})


@dataclass(frozen=True)
class PlanSelectResult:
    selection: PlanSelection
    created: bool
    forwarded: bool  # an outbox message to the product's backend exists


def check_plan_selection(*, document: Any) -> tuple[Plan, str]:
    """The active plan of an active product that ``document`` names, and its request id."""
    if not isinstance(document, dict):
        raise _invalid("body", "a JSON object is expected")
    error = next(iter(sorted(_select_validator.iter_errors(document), key=lambda e: list(e.absolute_path))), None)
    if error is not None:
        path = list(error.absolute_path)
        if error.validator == "additionalProperties":
            path = [sorted(set(document) - set(SELECT_SCHEMA["properties"]))[0]]
        raise _invalid(field_path(path), error.message)
    request_id: str = document.get("request_id", "")
    if "plan_id" in document:
        if "plan" in document:
            raise _invalid("plan", "give plan_id, or plan with product, not both")
        field = "plan_id"
        plan = Plan.objects.select_related("product").filter(pk=document["plan_id"]).first()
    elif "plan" in document:
        if "product" not in document:
            raise _invalid("product", "required with plan (the plan's product slug)")
        field = "plan"
        product = Product.objects.filter(slug=document["product"]).first()
        if product is None:
            raise _invalid("product", f"no product {document['product']!r}")
        plan = Plan.objects.select_related("product").filter(product=product, code=document["plan"]).first()
    else:
        raise _invalid("plan_id", "required (or plan with product)")
    if plan is None:
        raise _invalid(field, "no such plan")
    if not plan.product.active:
        raise _invalid(field, f"the plan's product {plan.product.slug!r} is not active")
    if not plan.active:
        raise _invalid(field, "the plan is not active")
    return plan, request_id


def plan_select(*, user: User, document: Any) -> PlanSelectResult:
    """Record ``user``'s choice of a plan and forward it to the plan's product backend (outbox),
    in one transaction. Idempotent for a repeated (plan, ``request_id``) of the same user, also
    when identical requests race: the database's unique constraint lets one of them store the
    selection, and the others answer with it."""
    plan, request_id = check_plan_selection(document=document)
    if request_id:
        repeated = _selection_repeated(user=user, plan=plan, request_id=request_id)
        if repeated is not None:
            return repeated
    try:
        with transaction.atomic():
            selection = PlanSelection.objects.create(user=user, plan=plan, product=plan.product, request_id=request_id)
            message = outbox.enqueue(
                product=plan.product,
                event_type="plan.selected",
                payload=_selection_payload(selection, plan=plan),
                idempotency_key=_selection_key(selection),
            )
    except IntegrityError:
        # The same (plan, request_id) stored meanwhile by a concurrent request, now committed.
        repeated = _selection_repeated(user=user, plan=plan, request_id=request_id) if request_id else None
        if repeated is None:
            raise
        return repeated
    return PlanSelectResult(selection=selection, created=True, forwarded=message is not None)


def _selection_repeated(*, user: User, plan: Plan, request_id: str) -> PlanSelectResult | None:
    """The selection already stored for this (user, plan, request id), if any."""
    existing = PlanSelection.objects.filter(user=user, plan=plan, request_id=request_id).first()
    if existing is None:
        return None
    forwarded = outbox.OutboxMessage.objects.filter(idempotency_key=_selection_key(existing)).exists()
    return PlanSelectResult(selection=existing, created=False, forwarded=forwarded)


def _selection_payload(selection: PlanSelection, *, plan: Plan) -> dict[str, Any]:
    return {
        "user": selection.user.get_username(),
        "selection_id": selection.pk,
        "plan": {
            "code": plan.code,
            "name": plan.name,
            "price": {"amount": str(plan.price_amount), "currency": plan.price_currency, "period": plan.price_period},
        },
        "request_id": selection.request_id,
        "selected_at": _iso(selection.selected_at),
    }


def _selection_key(selection: PlanSelection) -> str:
    return f"plan-selection:{selection.pk}"


def _iso(moment: datetime) -> str:
    return moment.isoformat().replace("+00:00", "Z")


# --- interaction events -----------------------------------------------------------------------

# How far in the future a client's clock may put an event.
CLOCK_SKEW = timedelta(minutes=5)
# The template key recorded for sections drawn by a slot's built-in template (no version).
BUILT_IN_PREFIX = "builtin:"


@dataclass(frozen=True)
class EventsResult:
    accepted: int  # new events stored
    duplicates: int  # events already stored (same client event id): ignored
    dismissed: list[str]  # "<product>/<offer id>" newly hidden


@dataclass(frozen=True)
class _Event:
    index: int
    raw: dict[str, Any]
    product: Product
    occurred_at: datetime
    template_key: str
    template_version: int | None
    personal_offer: bool  # names one of the user's own offers (not a generic deal)


def _sections_for(user: User, wanted: set[str]) -> dict[str, str]:
    """Section id → source of what the user was shown: the sections of the feeds built for them
    (shown.py) and, when that does not cover ``wanted`` (no record, Redis down, or a section a
    live update brought to the screen after the last build), their current feed too."""
    recorded = shown_sections(user_id=user.pk) or {}
    if wanted <= recorded.keys():
        return recorded
    from recommendations.selectors import home_feed_document

    feed = home_feed_document(user=user).feed
    return {**recorded, **{section["id"]: section["source"] for section in feed["sections"]}}


def _known_offer_ids(*, user: User, products: list[Product]) -> tuple[set[tuple[int, str]], set[tuple[int, str]]]:
    """(product id, offer id) of the user's offers (any state), and of the products' kept deals."""
    personal = set(Offer.objects.filter(user=user, product__in=products).values_list("product_id", "external_id"))
    deals_known: set[tuple[int, str]] = set()
    for product_id, deals in DealSnapshot.objects.filter(product__in=products).values_list("product_id", "deals"):
        deals_known.update((product_id, str(deal.get("id"))) for deal in deals or [] if isinstance(deal, dict))
    return personal, deals_known


def _published_for_slot(products: list[Product], sources: dict[str, str]) -> dict[str, tuple[str, int | None]]:
    """Product slug → (template key, version number) of the template that renders its section now."""
    from ui_templates.selectors import published_templates

    templates = published_templates()
    found: dict[str, tuple[str, int | None]] = {}
    for product in products:
        source = sources.get(product_section_id(product.slug), "")
        slot = Slot.PRODUCT_GENERIC if source == "generic" else Slot.PRODUCT_PERSONALISED
        entry = templates.entry_for_slot(slot, product.slug)
        if entry is None:
            found[product.slug] = (f"{BUILT_IN_PREFIX}{slot.value}", None)
        else:
            tag = entry.version_tag.removeprefix("v")
            found[product.slug] = (entry.key, int(tag) if tag.isdigit() else None)
    return found


def check_interactions(*, user: User, document: Any) -> list[_Event]:
    """Validate a batch whole; raises ``ApplicationError`` naming the first field at fault
    (``details`` lists every field found wrong)."""
    limit = settings.INTERACTIONS_BATCH_LIMIT
    if isinstance(document, dict) and isinstance(document.get("events"), list) and len(document["events"]) > limit:
        raise ApplicationError(
            "batch_too_large",
            f"events: at most {limit} events per request, got {len(document['events'])}",
            details={"events": [f"at most {limit} events per request"]},
            status_code=413,
        )
    errors = schema_errors(document)
    if errors:
        first = next(iter(errors))
        raise ApplicationError(
            "invalid_events", f"{first}: {errors[first]}", details={k: [v] for k, v in errors.items()}
        )
    raw_events: list[dict[str, Any]] = document["events"]

    errors = {}
    seen: dict[str, int] = {}
    now = timezone.now()
    sections = _sections_for(user, {e["section_id"] for e in raw_events})
    slugs = {e["section_id"].removeprefix("product-") for e in raw_events if e["section_id"] in sections}
    products = {p.slug: p for p in Product.objects.filter(slug__in=slugs, active=True)}
    personal_offers, deal_ids = (
        _known_offer_ids(user=user, products=list(products.values()))
        if any("offer_id" in e for e in raw_events)
        else (set(), set())
    )
    given_templates = {e["template_key"] for e in raw_events if e.get("template_key")}
    versions = (
        set(TemplateVersion.objects.filter(template__key__in=given_templates).values_list("template__key", "number"))
        if given_templates
        else set()
    )
    templates_now = (
        _published_for_slot(list(products.values()), sections)
        if any(not e.get("template_key") for e in raw_events)
        else {}
    )
    known_offers = personal_offers | deal_ids
    checked: list[_Event] = []
    for index, event in enumerate(raw_events):
        at = f"events[{index}]"
        if event["id"] in seen:
            errors.setdefault(f"{at}.id", f"the same id as events[{seen[event['id']]}]")
            continue
        seen[event["id"]] = index
        occurred_at = parse_moment(event["occurred_at"])
        if occurred_at is None:
            errors.setdefault(f"{at}.occurred_at", "not an RFC 3339 time with an offset")
            continue
        if occurred_at > now + CLOCK_SKEW:
            errors.setdefault(f"{at}.occurred_at", "in the future")
            continue
        section = event["section_id"]
        product = products.get(section.removeprefix("product-")) if section in sections else None
        if product is None:
            errors.setdefault(f"{at}.section_id", f"section {section!r} was never shown to this user")
            continue
        offer_id = event.get("offer_id")
        if offer_id is not None and (product.pk, offer_id) not in known_offers:
            errors.setdefault(f"{at}.offer_id", f"no offer or deal {offer_id!r} of product {product.slug!r}")
            continue
        template_key: str = event.get("template_key", "")
        template_version: int | None = event.get("template_version")
        if template_key:
            if template_version is not None and (template_key, template_version) not in versions:
                errors.setdefault(f"{at}.template_version", f"no version {template_version} of {template_key!r}")
                continue
            known = template_key.startswith(BUILT_IN_PREFIX) or any(key == template_key for key, _ in versions)
            if template_version is None and not known:
                errors.setdefault(f"{at}.template_key", f"no template {template_key!r}")
                continue
        elif template_version is not None:
            errors.setdefault(f"{at}.template_key", "required with template_version")
            continue
        else:
            template_key, template_version = templates_now[product.slug]
        checked.append(
            _Event(
                index,
                event,
                product,
                occurred_at,
                template_key=template_key,
                template_version=template_version,
                personal_offer=offer_id is not None and (product.pk, offer_id) in personal_offers,
            )
        )
    if errors:
        first = min(errors, key=lambda name: (int(name.split("[")[1].split("]")[0]), name))
        raise ApplicationError(
            "invalid_events", f"{first}: {errors[first]}", details={k: [v] for k, v in errors.items()}
        )
    return checked


def interactions_record(*, user: User, document: Any) -> EventsResult:
    """Store a batch of interaction events (all or nothing), forward the new ones to each
    product's backend (one outbox message per product), and hide dismissed offers at once.

    "New" is what this request's insert stored (``inserts.insert_new``), so identical batches
    sent at once count each event ``accepted`` in exactly one answer and forward it once."""
    events = check_interactions(user=user, document=document)
    rows = [
        Interaction(
            user=user,
            kind=e.raw["kind"],
            product=e.product,
            section_id=e.raw["section_id"],
            component_id=e.raw.get("component_id", ""),
            template_key=e.template_key,
            template_version=e.template_version,
            offer_id=e.raw.get("offer_id", ""),
            client_event_id=e.raw["id"],
            occurred_at=e.occurred_at,
        )
        for e in events
    ]
    with transaction.atomic():
        inserted = insert_new(rows, unique=["user", "client_event_id"], returning=["client_event_id"])
        stored = {client_event_id for (client_event_id,) in inserted}
        new = [e for e in events if e.raw["id"] in stored]
        # A first click on one of the user's own offers moves it up in its section (ranking.py).
        clicked = {
            (e.product.pk, e.raw["offer_id"]): e.product.slug
            for e in new
            if e.raw["kind"] == Interaction.Kind.CLICK and e.personal_offer
        }
        if clicked:
            clicked_before = set(
                Interaction.objects.filter(
                    user=user,
                    kind=Interaction.Kind.CLICK,
                    product_id__in={product_id for product_id, _ in clicked},
                    offer_id__in={offer_id for _, offer_id in clicked},
                )
                .exclude(client_event_id__in=stored)
                .values_list("product_id", "offer_id")
            )
            clicked = {key: slug for key, slug in clicked.items() if key not in clicked_before}
        by_product: dict[int, list[_Event]] = defaultdict(list)
        for event in new:
            by_product[event.product.pk].append(event)
        dismissed = _dismissals_store(user=user, events=[e for e in new if e.raw["kind"] == Interaction.Kind.DISMISS])
        for product_events in by_product.values():
            product = product_events[0].product
            ids = sorted(e.raw["id"] for e in product_events)
            digest = hashlib.sha256("\n".join(ids).encode()).hexdigest()[:32]
            outbox.enqueue(
                product=product,
                event_type="interactions.recorded",
                payload={"user": user.get_username(), "events": [_forwarded(e) for e in product_events]},
                idempotency_key=f"interactions:{user.pk}:{product.pk}:{digest}",
            )
        dismissed_products = {entry.split("/", 1)[0] for entry in dismissed}
        for slug in sorted(dismissed_products):
            live.feed_changed_for_user(user_id=user.pk, reason="offer.dismissed", product_slug=slug)
        for slug in sorted(set(clicked.values()) - dismissed_products):
            live.feed_changed_for_user(user_id=user.pk, reason="offer.clicked", product_slug=slug)
    return EventsResult(accepted=len(new), duplicates=len(events) - len(new), dismissed=dismissed)


def _dismissals_store(*, user: User, events: list[_Event]) -> list[str]:
    """Store the offers ``events`` dismiss (one insert, whatever their number); returns
    ``<product>/<offer id>`` of those this insert stored (not dismissed before, nor by a
    concurrent request). Bulk inserts send no model signals: the caller announces the change
    (which replaces the user's feed documents)."""
    if not events:
        return []
    wanted = {(e.product.pk, e.raw["offer_id"]): e for e in events}
    fresh = insert_new(
        [
            OfferDismissal(user=user, product=e.product, offer_id=e.raw["offer_id"], dismissed_at=e.occurred_at)
            for e in wanted.values()
        ],
        unique=["user", "product", "offer_id"],
        returning=["product", "offer_id"],
    )
    return [f"{e.product.slug}/{e.raw['offer_id']}" for key, e in wanted.items() if key in fresh]


def _forwarded(event: _Event) -> dict[str, Any]:
    return {
        "id": event.raw["id"],
        "kind": event.raw["kind"],
        "section_id": event.raw["section_id"],
        "component_id": event.raw.get("component_id", ""),
        "template_key": event.template_key,
        "template_version": event.template_version,
        "offer_id": event.raw.get("offer_id"),
        "occurred_at": _iso(event.occurred_at),
    }
