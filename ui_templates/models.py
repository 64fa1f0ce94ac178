from __future__ import annotations

from django.conf import settings
from django.db import models

from .slots import Slot


class ComponentTemplate(models.Model):
    """A named component tree with data bindings (docs/sdui.md).

    It fills a ``slot`` for one product (``product_slug``) or for every product without one of its
    own, or, with no slot, is a reusable part other templates include by ``key``. Marketers edit
    ``draft_tree``; publishing freezes it into an immutable :class:`TemplateVersion`.
    """

    key = models.SlugField(unique=True, max_length=80, help_text="How other templates include this one (ref).")
    name = models.CharField(max_length=100)
    description = models.TextField(blank=True)
    slot = models.CharField(max_length=40, choices=Slot.choices, blank=True)
    product_slug = models.SlugField(
        max_length=50, blank=True, help_text="Empty: every product without a template of its own."
    )
    draft_tree = models.JSONField(default=dict, blank=True, help_text="The working copy, not yet published.")
    published_version = models.ForeignKey(
        "TemplateVersion", null=True, blank=True, on_delete=models.SET_NULL, related_name="+", editable=False
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["slot", "product_slug", "key"]
        constraints = [
            models.UniqueConstraint(
                fields=["slot", "product_slug"],
                condition=~models.Q(slot=""),
                name="one_template_per_slot_and_product",
            ),
            models.CheckConstraint(
                condition=~(models.Q(slot="") & ~models.Q(product_slug="")),
                name="product_only_with_slot",
            ),
        ]
        permissions = [("publish_componenttemplate", "Can publish, schedule and roll back templates")]

    def __str__(self) -> str:
        where = f"{self.slot or 'part'}{' / ' + self.product_slug if self.product_slug else ''}"
        return f"{self.name} ({where})"


class TemplateVersion(models.Model):
    """An immutable, numbered state of a template's tree."""

    template = models.ForeignKey(ComponentTemplate, on_delete=models.CASCADE, related_name="versions")
    number = models.PositiveIntegerField()
    tree = models.JSONField()
    note = models.CharField(max_length=200, blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    publish_at = models.DateTimeField(null=True, blank=True, help_text="Publish automatically at this time.")
    unpublish_at = models.DateTimeField(null=True, blank=True, help_text="Withdraw automatically at this time.")

    class Meta:
        ordering = ["template", "-number"]
        constraints = [models.UniqueConstraint(fields=["template", "number"], name="version_number_per_template")]

    def __str__(self) -> str:
        return f"{self.template.key} v{self.number}"


class TemplateEvent(models.Model):
    """Who published, scheduled, rolled back or withdrew which version, and when."""

    class Action(models.TextChoices):
        PUBLISHED = "published"
        ROLLED_BACK = "rolled_back"
        UNPUBLISHED = "unpublished"
        SCHEDULED = "scheduled"

    template = models.ForeignKey(ComponentTemplate, on_delete=models.CASCADE, related_name="events")
    version = models.ForeignKey(TemplateVersion, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    action = models.CharField(max_length=20, choices=Action.choices)
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    note = models.CharField(max_length=200, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return f"{self.template.key}: {self.action} v{self.version.number if self.version else '-'}"
