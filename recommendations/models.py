from __future__ import annotations

from django.conf import settings
from django.db import models

from products.models import Product


class Offer(models.Model):
    """A personalised offer for one (user, product), pushed by the product backend."""

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="offers")
    product = models.ForeignKey(Product, on_delete=models.CASCADE, related_name="offers")
    external_id = models.CharField(max_length=200, help_text="The product backend's id for this offer.")
    version = models.PositiveBigIntegerField(default=1, help_text="Newer versions replace older ones.")
    title = models.CharField(max_length=200)
    body = models.TextField(blank=True)
    image_url = models.URLField(blank=True)
    price_amount = models.DecimalField(max_digits=10, decimal_places=2, null=True, blank=True)
    price_currency = models.CharField(max_length=3, blank=True)
    price_period = models.CharField(max_length=20, blank=True)
    cta_label = models.CharField(max_length=80, default="View offer")
    cta_url = models.URLField(blank=True)
    data = models.JSONField(default=dict, blank=True, help_text="Extra fields templates may bind to.")
    priority = models.IntegerField(default=0, help_text="Higher comes first within the section.")
    expires_at = models.DateTimeField(null=True, blank=True)
    withdrawn = models.BooleanField(default=False)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-priority", "external_id"]
        constraints = [
            models.UniqueConstraint(
                fields=["user", "product", "external_id"], name="offer_unique_external_id_per_user_product"
            )
        ]
        indexes = [models.Index(fields=["user", "withdrawn", "expires_at"], name="offer_live_for_user")]

    def __str__(self) -> str:
        return f"{self.title} for {self.user} ({self.product.slug})"


class OfferStream(models.Model):
    """The ordering state of one (user, product) event stream: the last ``sequence`` applied.

    Product events carry a per-(user, product) sequence; an event whose sequence is not newer
    than ``last_sequence`` is acknowledged but not applied (recommendations/ingestion.py).
    """

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="offer_streams")
    product = models.ForeignKey(Product, on_delete=models.CASCADE, related_name="offer_streams")
    last_sequence = models.BigIntegerField()
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["product", "user"]
        constraints = [models.UniqueConstraint(fields=["user", "product"], name="offerstream_unique_user_product")]

    def __str__(self) -> str:
        return f"{self.user} / {self.product.slug} at {self.last_sequence}"


class ReceivedEvent(models.Model):
    """A product event we acknowledged: the durable key that makes ingestion idempotent by event id."""

    class Outcome(models.TextChoices):
        APPLIED = "applied"
        STALE = "stale", "stale (an equal or newer sequence was already applied)"
        QUEUED = "queued", "queued (a fetch or poll was enqueued)"

    product = models.ForeignKey(Product, on_delete=models.CASCADE, related_name="received_events")
    event_id = models.CharField(max_length=200)
    event_type = models.CharField(max_length=50)
    subject = models.CharField(max_length=150, blank=True)
    sequence = models.BigIntegerField(null=True, blank=True)
    outcome = models.CharField(max_length=20, choices=Outcome.choices)
    received_at = models.DateTimeField(auto_now_add=True, db_index=True)

    class Meta:
        ordering = ["-received_at", "-id"]
        constraints = [
            models.UniqueConstraint(fields=["product", "event_id"], name="receivedevent_unique_id_per_product")
        ]

    def __str__(self) -> str:
        return f"{self.product.slug} {self.event_type} {self.event_id}"
