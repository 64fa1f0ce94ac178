from django.db import models


class Slot(models.TextChoices):
    """Where on the home screen a template is used. Every slot has a built-in default."""

    PRODUCT_PERSONALISED = "product.personalised", "Product section with personal offers"
    PRODUCT_GENERIC = "product.generic", "Product section with generic deals"
    OFFER_CARD = "offer.card", "One personal offer (inside a section)"
    DEAL_CARD = "deal.card", "One generic deal (inside a section)"
