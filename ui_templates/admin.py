from django.contrib import admin

from .models import ComponentTemplate


@admin.register(ComponentTemplate)
class ComponentTemplateAdmin(admin.ModelAdmin):
    list_display = ("name", "slot", "product_slug", "active", "updated_at")
    list_filter = ("slot", "active")
    search_fields = ("name", "product_slug")
