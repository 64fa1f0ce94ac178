from django.apps import AppConfig


class RecommendationsConfig(AppConfig):
    name = "recommendations"
    verbose_name = "Recommendations"

    def ready(self) -> None:
        # Listen to the hooks of the apps below (deals changed, template published) to push live
        # updates, and give the template admin real data to check and preview templates with.
        from ui_templates import hooks

        from . import preview, receivers  # noqa: F401
        from .fragments import signals  # noqa: F401  (feed documents out of date on model changes)

        hooks.register_sample_provider(preview.demo_samples)
        hooks.register_preview_provider(preview.preview_feed, users=preview.preview_users)
