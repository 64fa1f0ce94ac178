"""What users did with the home screen and the plan finder, and what we owe the product backends.

- ``Interaction``: append-only; one row per client event (impression, click, dismiss, convert),
  idempotent by the client's event id.
- ``OfferDismissal``: the offers a user dismissed (one row per offer), read by the feed to hide them.
- ``PlanSelection``: a plan a user chose (``POST /api/v1/plans/select/``), one per (user, plan,
  request id) when a request id is given.
- ``OutboxMessage``: an event for a product backend, written in the transaction of what caused it
  and delivered after commit (recommendations/interactions/outbox.py).
"""

from __future__ import annotations

import uuid

from django.conf import settings
from django.db import models

from products.models import Plan, Product


class Interaction(models.Model):
    """One thing a user did with a section of the home screen (append-only: never updated)."""

    class Kind(models.TextChoices):
        IMPRESSION = "impression"
        CLICK = "click"
        DISMISS = "dismiss"
        CONVERT = "convert"

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="interactions")
    kind = models.CharField(max_length=12, choices=Kind.choices)
    product = models.ForeignKey(Product, on_delete=models.CASCADE, related_name="interactions")
    section_id = models.CharField(max_length=100)
    component_id = models.CharField(max_length=100, blank=True)
    template_key = models.CharField(max_length=100, blank=True)
    template_version = models.PositiveIntegerField(null=True, blank=True)
    offer_id = models.CharField(max_length=200, blank=True, help_text="The product backend's id of the offer or deal.")
    client_event_id = models.CharField(max_length=100, help_text="The client's id for this event (idempotency).")
    occurred_at = models.DateTimeField(help_text="When the client says it happened.")
    received_at = models.DateTimeField(auto_now_add=True, db_index=True)

    class Meta:
        ordering = ["-received_at", "-id"]
        constraints = [
            models.UniqueConstraint(fields=["user", "client_event_id"], name="interaction_unique_client_event")
        ]
        indexes = [
            models.Index(fields=["user", "product", "kind"], name="interaction_user_product"),
            models.Index(fields=["template_key", "template_version", "occurred_at"], name="interaction_template"),
            models.Index(fields=["product", "offer_id", "occurred_at"], name="interaction_offer"),
        ]

    def __str__(self) -> str:
        return f"{self.kind} {self.product_id}/{self.offer_id or self.section_id} by user {self.user_id}"


class OfferDismissal(models.Model):
    """An offer (or deal) a user dismissed: hidden from their feed from then on."""

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="offer_dismissals")
    product = models.ForeignKey(Product, on_delete=models.CASCADE, related_name="offer_dismissals")
    offer_id = models.CharField(max_length=200)
    dismissed_at = models.DateTimeField()
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-dismissed_at", "-id"]
        constraints = [models.UniqueConstraint(fields=["user", "product", "offer_id"], name="offerdismissal_unique")]

    def __str__(self) -> str:
        return f"{self.product_id}/{self.offer_id} dismissed by user {self.user_id}"


class PlanSelection(models.Model):
    """A plan a user chose in the plan finder; forwarded to the plan's product backend."""

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="plan_selections")
    plan = models.ForeignKey(Plan, on_delete=models.PROTECT, related_name="selections")
    product = models.ForeignKey(Product, on_delete=models.CASCADE, related_name="plan_selections")
    request_id = models.CharField(max_length=100, blank=True, help_text="The plan finder request it came from.")
    selected_at = models.DateTimeField(auto_now_add=True, db_index=True)

    class Meta:
        ordering = ["-selected_at", "-id"]
        indexes = [models.Index(fields=["user", "product"], name="planselection_user_product")]
        constraints = [
            # The idempotency key of POST /api/v1/plans/select/: the same (plan, request_id) of a
            # user is one selection, however many identical requests race (docs/api.md).
            models.UniqueConstraint(
                fields=["user", "plan", "request_id"],
                condition=~models.Q(request_id=""),
                name="planselection_unique_request",
            )
        ]

    def __str__(self) -> str:
        return f"{self.plan} selected by user {self.user_id}"


class OutboxMessage(models.Model):
    """An event owed to a product backend: written with its cause, delivered after commit.

    ``id`` is the Standard Webhooks ``webhook-id``, so a backend can deduplicate. A message moves
    from ``pending`` to ``delivered`` (the backend answered 2xx) or, after
    ``OUTBOX_MAX_ATTEMPTS`` failed attempts, to ``dead`` (a dead letter, retriable in the admin).
    """

    class Status(models.TextChoices):
        PENDING = "pending"
        DELIVERED = "delivered"
        DEAD = "dead", "dead letter"

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    product = models.ForeignKey(Product, on_delete=models.CASCADE, related_name="outbox_messages")
    event_type = models.CharField(max_length=60)
    payload = models.JSONField()
    idempotency_key = models.CharField(max_length=200, unique=True)
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.PENDING)
    attempts = models.PositiveIntegerField(default=0)
    next_attempt_at = models.DateTimeField(db_index=True)
    last_error = models.TextField(blank=True)
    last_status_code = models.PositiveIntegerField(null=True, blank=True)
    delivered_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-created_at"]
        indexes = [models.Index(fields=["status", "next_attempt_at"], name="outbox_due")]

    def __str__(self) -> str:
        return f"{self.event_type} to {self.product_id} ({self.status})"

    @property
    def webhook_id(self) -> str:
        return f"msg_{self.id.hex}"


class ProductRanking(models.Model):
    """Ranking inputs of a product's sections computed from interactions
    (recommendations/interactions/ranking_inputs.py): the smoothed click-through rate of the
    template version that renders them, over 30 days."""

    product = models.OneToOneField(Product, on_delete=models.CASCADE, related_name="ranking")
    template_key = models.CharField(max_length=100, blank=True)
    template_version = models.PositiveIntegerField(null=True, blank=True)
    impressions = models.PositiveIntegerField(default=0)
    clicks = models.PositiveIntegerField(default=0)
    ctr = models.FloatField(help_text="Smoothed click-through rate (recommendations/ranking.py).")
    computed_at = models.DateTimeField()

    class Meta:
        ordering = ["product"]

    def __str__(self) -> str:
        return f"{self.product_id}: ctr {self.ctr:.3f}"
