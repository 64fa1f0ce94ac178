from django.apps import AppConfig


class ProductsConfig(AppConfig):
    name = "products"
    verbose_name = "Products"

    def ready(self) -> None:
        # The deals pollers' health at /metrics (read when scraped; products/metrics.py).
        from . import metrics

        metrics.register()
