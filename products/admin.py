from datetime import datetime

from django.contrib import admin, messages
from django.db.models import Max, QuerySet
from django.http import HttpRequest
from django.template.response import TemplateResponse
from django.utils import timezone

from .breakers import backend_breaker_close
from .models import DealSnapshot, DealsPollState, Plan, Product, WebhookSecret
from .poll_health import DealsPollHealth, deals_poll_health_of
from .tasks import deals_poll_soon
from .webhooks import webhook_secret_create, webhook_secret_revoke


def _when(value: datetime | None) -> str:
    return f"{timezone.localtime(value):%Y-%m-%d %H:%M:%S}" if value else "-"


class DealsPollHealthColumns:
    """Poll health columns (poll_health.py) for an admin whose rows are products, or have one."""

    @staticmethod
    def _product(obj: Product | DealsPollState) -> Product:
        return obj.product if isinstance(obj, DealsPollState) else obj

    def _health(self, obj: Product | DealsPollState) -> DealsPollHealth:
        cached: DealsPollHealth | None = getattr(obj, "_deals_poll_health", None)
        if cached is None:
            product = self._product(obj)
            latest = getattr(obj, "latest_snapshot_at", None)
            cached = deals_poll_health_of(product=product, latest_snapshot_at=latest, now=timezone.now())
            obj._deals_poll_health = cached  # type: ignore[union-attr]
        return cached

    @admin.display(description="last success")
    def deals_last_success(self, obj: Product | DealsPollState) -> str:
        return _when(self._health(obj).last_success_at)

    @admin.display(description="last error")
    def deals_last_error(self, obj: Product | DealsPollState) -> str:
        health = self._health(obj)
        if not health.last_error:
            return "-"
        error = health.last_error if len(health.last_error) <= 120 else health.last_error[:119] + "…"
        return f"{_when(health.last_error_at)}: {error}"

    @admin.display(description="circuit breaker")
    def deals_breaker(self, obj: Product | DealsPollState) -> str:
        return str(self._health(obj).breaker)

    @admin.display(description="next poll")
    def deals_next_poll(self, obj: Product | DealsPollState) -> str:
        health = self._health(obj)
        if health.next_poll_at is None:
            return "not polled"
        return "due" if health.next_poll_at <= timezone.now() else _when(health.next_poll_at)

    @admin.display(description="deals as of")
    def deals_as_of(self, obj: Product | DealsPollState) -> str:
        health = self._health(obj)
        return f"{_when(health.deals_as_of)}{' (stale)' if health.stale else ''}"


class PlanInline(admin.TabularInline):
    model = Plan
    extra = 0
    fields = ("code", "name", "price_amount", "price_currency", "price_period", "attributes", "active")


@admin.register(Product)
class ProductAdmin(DealsPollHealthColumns, admin.ModelAdmin):
    list_display = (
        "name",
        "slug",
        "rank_weight",
        "active",
        "poll_interval_seconds",
        "deals_endpoint",
        "deals_last_success",
        "deals_last_error",
        "deals_breaker",
        "deals_next_poll",
    )
    list_editable = ("rank_weight", "active", "poll_interval_seconds")
    list_filter = ("active",)
    search_fields = ("slug", "name")
    prepopulated_fields = {"slug": ("name",)}
    readonly_fields = ("deals_last_success", "deals_last_error", "deals_breaker", "deals_next_poll", "deals_as_of")
    inlines = [PlanInline]
    actions = ["rotate_webhook_secret", "poll_deals_now", "close_breaker"]

    def get_queryset(self, request: HttpRequest) -> QuerySet[Product]:
        return (
            super()
            .get_queryset(request)
            .select_related("poll_state")
            .annotate(latest_snapshot_at=Max("deal_snapshots__fetched_at"))
        )

    @admin.action(description="Poll deals now", permissions=["change"])
    def poll_deals_now(self, request: HttpRequest, queryset: QuerySet[Product]) -> None:
        products = [p for p in queryset if p.active and p.deals_endpoint]
        for product in products:
            deals_poll_soon(product=product)
        self.message_user(request, f"Deals poll requested for {len(products)} product(s).", messages.SUCCESS)

    @admin.action(description="Close the circuit breaker (poll again at once)", permissions=["change"])
    def close_breaker(self, request: HttpRequest, queryset: QuerySet[Product]) -> None:
        for product in queryset:
            backend_breaker_close(product_slug=product.slug)
        self.message_user(request, f"Closed {queryset.count()} circuit breaker(s).", messages.SUCCESS)

    @admin.action(description="Create a new webhook secret (rotate; shown once)", permissions=["change"])
    def rotate_webhook_secret(self, request: HttpRequest, queryset: QuerySet[Product]) -> TemplateResponse:
        created = [(product, *webhook_secret_create(product=product)) for product in queryset]
        response = TemplateResponse(
            request,
            "admin/products/webhook_secret_created.html",
            {**self.admin_site.each_context(request), "title": "New webhook secrets", "created": created},
        )
        response["Cache-Control"] = "no-store"
        return response


@admin.register(Plan)
class PlanAdmin(admin.ModelAdmin):
    list_display = ("name", "product", "code", "price_amount", "price_currency", "active")
    list_filter = ("product", "active")
    search_fields = ("name", "code")


@admin.register(DealSnapshot)
class DealSnapshotAdmin(admin.ModelAdmin):
    list_display = ("product", "fetched_at", "etag", "content_hash")
    list_filter = ("product",)
    readonly_fields = ("product", "deals", "content_hash", "etag", "fetched_at", "created_at")

    def has_add_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False  # snapshots are what polls found; they are not typed in


@admin.register(DealsPollState)
class DealsPollStateAdmin(DealsPollHealthColumns, admin.ModelAdmin):
    list_display = (
        "product",
        "last_polled_at",
        "deals_last_success",
        "deals_last_error",
        "deals_breaker",
        "deals_next_poll",
        "deals_as_of",
    )
    readonly_fields = (
        "product",
        "last_polled_at",
        "last_success_at",
        "last_error_at",
        "last_error",
        "etag",
        "deals_breaker",
        "deals_next_poll",
        "deals_as_of",
    )

    def get_queryset(self, request: HttpRequest) -> QuerySet[DealsPollState]:
        return (
            super()
            .get_queryset(request)
            .select_related("product")
            .annotate(latest_snapshot_at=Max("product__deal_snapshots__fetched_at"))
        )

    def has_add_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False


@admin.register(WebhookSecret)
class WebhookSecretAdmin(admin.ModelAdmin):
    """Secrets are listed by fingerprint only; they are created by the product action (shown once)."""

    list_display = ("product", "id", "fingerprint", "created_at", "last_used_at", "revoked_at")
    list_filter = ("product",)
    fields = ("product", "fingerprint", "created_at", "last_used_at", "revoked_at")
    readonly_fields = fields
    actions = ["revoke"]

    def has_add_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False  # products list: "Create a new webhook secret" shows the new secret once

    @admin.action(description="Revoke the selected secrets", permissions=["change"])
    def revoke(self, request: HttpRequest, queryset: QuerySet[WebhookSecret]) -> None:
        revoked = sum(webhook_secret_revoke(secret=secret) for secret in queryset)
        self.message_user(request, f"Revoked {revoked} webhook secret(s).", messages.SUCCESS)
