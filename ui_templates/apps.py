from django.apps import AppConfig


class UiTemplatesConfig(AppConfig):
    name = "ui_templates"
    verbose_name = "UI templates"
