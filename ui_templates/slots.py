from django.db import models


class Slot(models.TextChoices):
    """Where on the home screen a template is used."""

    PRODUCT_PERSONALISED = "product.personalised", "Product section with personal offers"
    PRODUCT_GENERIC = "product.generic", "Product section with generic deals"
