from django.contrib import admin

from .models import Question, QuestionOption


class QuestionOptionInline(admin.TabularInline):
    model = QuestionOption
    extra = 1
    fields = ("position", "key", "label", "conditions")


@admin.register(Question)
class QuestionAdmin(admin.ModelAdmin):
    list_display = ("key", "text", "kind", "position", "active", "updated_at")
    list_filter = ("kind", "active")
    list_editable = ("position", "active")
    search_fields = ("key", "text")
    inlines = [QuestionOptionInline]
    fieldsets = (
        (None, {"fields": ("key", "text", "help_text", "kind", "position", "active")}),
        (
            "Range questions",
            {
                "fields": (
                    "range_field",
                    "range_operator",
                    "range_min",
                    "range_max",
                    "range_unit",
                    "range_null_matches",
                ),
                "description": "Only for range questions; choice questions filter through their options below.",
            },
        ),
    )
