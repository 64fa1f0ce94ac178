from django.contrib import admin

from .models import Offer


@admin.register(Offer)
class OfferAdmin(admin.ModelAdmin):
    list_display = ("title", "user", "product", "external_id", "version", "priority", "expires_at", "withdrawn")
    list_filter = ("product", "withdrawn")
    search_fields = ("title", "external_id", "user__username")
    raw_id_fields = ("user",)
