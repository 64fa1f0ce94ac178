from django.apps import AppConfig


class PlansConfig(AppConfig):
    name = "recommendations.plans"
    label = "plans"  # the tables, migrations and model references keep the label
    verbose_name = "Plan finder"

    def ready(self) -> None:
        # A change to plans, products or questions gives the catalogue a new version (cache keys
        # carry it), once the change commits.
        from . import signals  # noqa: F401
