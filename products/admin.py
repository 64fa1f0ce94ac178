from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest
from django.template.response import TemplateResponse

from .models import DealSnapshot, DealsPollState, Plan, Product, WebhookSecret
from .webhooks import webhook_secret_create, webhook_secret_revoke


class PlanInline(admin.TabularInline):
    model = Plan
    extra = 0
    fields = ("code", "name", "price_amount", "price_currency", "price_period", "attributes", "active")


@admin.register(Product)
class ProductAdmin(admin.ModelAdmin):
    list_display = ("name", "slug", "rank_weight", "active", "poll_interval_seconds", "deals_endpoint")
    list_editable = ("rank_weight", "active", "poll_interval_seconds")
    list_filter = ("active",)
    search_fields = ("slug", "name")
    prepopulated_fields = {"slug": ("name",)}
    inlines = [PlanInline]
    actions = ["rotate_webhook_secret"]

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
class DealsPollStateAdmin(admin.ModelAdmin):
    list_display = ("product", "last_polled_at", "last_success_at", "last_error_at", "last_error")
    readonly_fields = ("product", "last_polled_at", "last_success_at", "last_error_at", "last_error", "etag")

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
