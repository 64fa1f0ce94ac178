from __future__ import annotations

from django.db import models

from .slots import Slot


class ComponentTemplate(models.Model):
    """A named component tree with data bindings (json-e) that fills a slot.

    First cut: one live tree per (slot, product); a template for no product applies to every
    product without its own. Drafts, versions and the full editor are a later step.
    """

    name = models.CharField(max_length=100)
    slot = models.CharField(max_length=40, choices=Slot.choices)
    product_slug = models.SlugField(
        max_length=50, blank=True, help_text="Empty: every product without a template of its own."
    )
    tree = models.JSONField(help_text="A json-e template producing one SDUI component.")
    active = models.BooleanField(default=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["slot", "product_slug", "name"]
        constraints = [
            models.UniqueConstraint(
                fields=["slot", "product_slug"],
                condition=models.Q(active=True),
                name="one_active_template_per_slot_and_product",
            )
        ]

    def __str__(self) -> str:
        return f"{self.name} ({self.slot}{' / ' + self.product_slug if self.product_slug else ''})"
