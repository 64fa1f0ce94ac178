from __future__ import annotations

from django.core.validators import MinValueValidator
from django.db import models


class Product(models.Model):
    """A product line (``mobile``) with its backend endpoints and its place on the home screen."""

    slug = models.SlugField(unique=True, max_length=50)
    name = models.CharField(max_length=100)
    rank_weight = models.IntegerField(
        default=0, help_text="Higher comes first on the home screen; ties are broken by slug."
    )
    active = models.BooleanField(default=True)
    deals_endpoint = models.URLField(blank=True, help_text="GET, JSON, ETag-aware. Empty: not polled.")
    offers_endpoint = models.URLField(
        blank=True, help_text="Per-user offers; '{user}' is replaced by the (URL-quoted) username."
    )
    events_endpoint = models.URLField(
        blank=True,
        help_text="POST, signed: where we send users' interactions and plan selections. Empty: not sent.",
    )
    poll_interval_seconds = models.PositiveIntegerField(default=300, validators=[MinValueValidator(5)])
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-rank_weight", "slug"]

    def __str__(self) -> str:
        return self.name


class Plan(models.Model):
    """A purchasable plan; ``attributes`` holds what the plan finder filters on."""

    product = models.ForeignKey(Product, on_delete=models.CASCADE, related_name="plans")
    code = models.SlugField(max_length=80)
    name = models.CharField(max_length=150)
    price_amount = models.DecimalField(max_digits=10, decimal_places=2)
    price_currency = models.CharField(max_length=3, default="EUR")
    price_period = models.CharField(max_length=20, default="month")
    attributes = models.JSONField(
        default=dict, blank=True, help_text='e.g. {"data_gb": 50, "contract_months": 24, "tags": ["5g"]}'
    )
    active = models.BooleanField(default=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["product", "price_amount"]
        constraints = [models.UniqueConstraint(fields=["product", "code"], name="plan_unique_code_per_product")]

    def __str__(self) -> str:
        return f"{self.product.slug}: {self.name}"


class DealSnapshot(models.Model):
    """The generic deals of a product as one poll found them. The newest one is served."""

    product = models.ForeignKey(Product, on_delete=models.CASCADE, related_name="deal_snapshots")
    deals = models.JSONField(default=list)
    content_hash = models.CharField(max_length=64)
    etag = models.CharField(max_length=200, blank=True)
    fetched_at = models.DateTimeField(db_index=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-fetched_at", "-id"]
        get_latest_by = "fetched_at"
        indexes = [models.Index(fields=["product", "-fetched_at"], name="dealsnapshot_latest")]

    def __str__(self) -> str:
        return f"{self.product.slug} deals at {self.fetched_at:%Y-%m-%d %H:%M:%S}"


class DealsPollState(models.Model):
    """Health of a product's deals polling: when it last ran, succeeded and failed."""

    product = models.OneToOneField(Product, on_delete=models.CASCADE, related_name="poll_state")
    last_polled_at = models.DateTimeField(null=True, blank=True)
    last_success_at = models.DateTimeField(null=True, blank=True)
    last_error_at = models.DateTimeField(null=True, blank=True)
    last_error = models.TextField(blank=True)
    etag = models.CharField(max_length=200, blank=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name = "deals poll state"

    def __str__(self) -> str:
        return f"{self.product.slug} poll state"


class WebhookSecret(models.Model):
    """A signing secret (``whsec_...``) a product signs its webhooks with (Standard Webhooks).

    Several may be active at once, so a product can rotate without downtime: create a new one,
    switch the backend over, then revoke the old one. The secret itself is shown once, when it is
    created (admin or ``manage.py webhook_secret``); afterwards only its fingerprint is shown.
    """

    product = models.ForeignKey(Product, on_delete=models.CASCADE, related_name="webhook_secrets")
    secret = models.CharField(max_length=100, editable=False)
    fingerprint = models.CharField(
        max_length=16, editable=False, help_text="The first characters of the secret's SHA-256; not the secret."
    )
    created_at = models.DateTimeField(auto_now_add=True)
    last_used_at = models.DateTimeField(null=True, blank=True, editable=False)
    revoked_at = models.DateTimeField(null=True, blank=True, editable=False)

    class Meta:
        ordering = ["product", "-created_at", "-id"]
        indexes = [models.Index(fields=["product", "revoked_at"], name="webhooksecret_active")]

    def __str__(self) -> str:
        return f"{self.product.slug} secret {self.fingerprint}"

    @property
    def active(self) -> bool:
        return self.revoked_at is None
