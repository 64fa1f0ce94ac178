from django.contrib import admin
from django.http import HttpRequest

from .models import DealSnapshot, DealsPollState, Plan, Product


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
