from django.apps import AppConfig


class InteractionsConfig(AppConfig):
    name = "recommendations.interactions"
    label = "interactions"  # the tables, migrations and model references keep the label
    verbose_name = "Interactions"
