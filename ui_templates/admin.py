from django.contrib import admin

from .models import ComponentTemplate, TemplateEvent, TemplateVersion


@admin.register(ComponentTemplate)
class ComponentTemplateAdmin(admin.ModelAdmin):
    list_display = ("name", "key", "slot", "product_slug", "published_version", "updated_at")
    list_filter = ("slot",)
    search_fields = ("name", "key", "product_slug")


@admin.register(TemplateVersion)
class TemplateVersionAdmin(admin.ModelAdmin):
    list_display = ("template", "number", "created_by", "created_at", "publish_at", "unpublish_at")


@admin.register(TemplateEvent)
class TemplateEventAdmin(admin.ModelAdmin):
    list_display = ("template", "action", "version", "actor", "created_at")
