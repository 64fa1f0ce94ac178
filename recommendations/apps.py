from django.apps import AppConfig


class RecommendationsConfig(AppConfig):
    name = "recommendations"
    verbose_name = "Recommendations"

    def ready(self) -> None:
        # Listen to the products app's one hook (deals changed) to push live updates.
        from . import receivers  # noqa: F401
