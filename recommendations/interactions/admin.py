"""Admin: the outbox (dead letters and their retry), and read-only interactions."""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta

from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.db.models import QuerySet
from django.http import HttpRequest
from django.template.response import TemplateResponse
from django.urls import URLPattern, path
from django.utils import timezone
from django.utils.safestring import mark_safe

from products.models import Product

from . import insight
from .models import Interaction, OfferDismissal, OutboxMessage, PlanSelection
from .outbox import outbox_retry
from .selectors import interaction_daily_counts


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


def insight_allowed(request: HttpRequest) -> bool:
    """Admins who may see interactions, and marketers (who may see templates)."""
    user = request.user
    return bool(
        user.is_active
        and user.is_staff
        and (user.has_perm("interactions.view_interaction") or user.has_perm("ui_templates.view_componenttemplate"))
    )


@admin.register(Interaction)
class InteractionAdmin(ReadOnlyAdmin):
    change_list_template = "admin/interactions/interaction/change_list.html"

    def get_urls(self) -> list[URLPattern]:
        return [
            path("insight/", self.admin_site.admin_view(self.insight_view), name="interactions_insight"),
            *super().get_urls(),
        ]

    def insight_view(self, request: HttpRequest) -> TemplateResponse:
        """Impressions, click-through and conversion per template version and per offer, by day."""
        if not insight_allowed(request):
            raise PermissionDenied
        days = _int_param(request.GET.get("days"), default=14, low=1, high=90)
        product_id = _int_param(request.GET.get("product"), default=0, low=0, high=2**31) or None
        today = timezone.now().astimezone(UTC).date()
        first = today - timedelta(days=days - 1)
        since = datetime.combine(first, time.min, tzinfo=UTC)
        until = datetime.combine(today + timedelta(days=1), time.min, tzinfo=UTC)
        day_list = insight.day_range(first, today)
        blocks = []
        for by, title, label in (
            ("template", "Per template version", "template version"),
            ("offer", "Per offer", "offer"),
        ):
            series = insight.series_by_label(
                interaction_daily_counts(since=since, until=until, by=by, product_id=product_id)  # type: ignore[arg-type]
            )
            blocks.append(
                {
                    "title": title,
                    "label": label,
                    "rows": insight.summary_rows(series),
                    "ctr_chart": mark_safe(insight.svg_rate_chart(series[:8], day_list, rate="ctr")),  # noqa: S308 - built escaped
                    "conversion_chart": mark_safe(  # noqa: S308 - built escaped
                        insight.svg_rate_chart(series[:8], day_list, rate="conversion_rate")
                    ),
                }
            )
        context = {
            **self.admin_site.each_context(request),
            "title": "Interaction insight",
            "days": days,
            "product_id": product_id,
            "products": Product.objects.order_by("name"),
            "first": first,
            "last": today,
            "blocks": blocks,
        }
        return TemplateResponse(request, "admin/interactions/insight.html", context)

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


def _int_param(value: str | None, *, default: int, low: int, high: int) -> int:
    try:
        number = int(value) if value else default
    except ValueError:
        return default
    return min(max(number, low), high)
