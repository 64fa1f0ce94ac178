"""Admin: the outbox (dead letters and their retry), and read-only interactions."""

from __future__ import annotations

from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest

from .models import Interaction, OfferDismissal, OutboxMessage, PlanSelection
from .outbox import outbox_retry


class ReadOnlyAdmin(admin.ModelAdmin):
    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False


@admin.register(OutboxMessage)
class OutboxMessageAdmin(ReadOnlyAdmin):
    list_display = ("event_type", "product", "status", "attempts", "next_attempt_at", "last_error", "created_at")
    list_filter = ("status", "product", "event_type")
    search_fields = ("idempotency_key", "last_error")
    readonly_fields = (
        "id",
        "product",
        "event_type",
        "payload",
        "idempotency_key",
        "status",
        "attempts",
        "next_attempt_at",
        "last_error",
        "last_status_code",
        "delivered_at",
        "created_at",
        "updated_at",
    )
    actions = ["retry"]

    @admin.action(description="Retry the selected messages (dead letters and pending; delivered ones are left)")
    def retry(self, request: HttpRequest, queryset: QuerySet[OutboxMessage]) -> None:
        count = outbox_retry(message_ids=[str(pk) for pk in queryset.values_list("pk", flat=True)])
        self.message_user(request, f"{count} message(s) queued for delivery again.", messages.SUCCESS)


@admin.register(Interaction)
class InteractionAdmin(ReadOnlyAdmin):
    list_display = (
        "kind",
        "user",
        "product",
        "section_id",
        "template_key",
        "template_version",
        "offer_id",
        "occurred_at",
    )
    list_filter = ("kind", "product", "template_key")
    search_fields = ("offer_id", "client_event_id", "user__username")
    date_hierarchy = "occurred_at"
    list_select_related = ("user", "product")


@admin.register(OfferDismissal)
class OfferDismissalAdmin(ReadOnlyAdmin):
    list_display = ("offer_id", "user", "product", "dismissed_at")
    list_filter = ("product",)
    list_select_related = ("user", "product")


@admin.register(PlanSelection)
class PlanSelectionAdmin(ReadOnlyAdmin):
    list_display = ("plan", "user", "product", "request_id", "selected_at")
    list_filter = ("product",)
    list_select_related = ("user", "product", "plan__product")
