from __future__ import annotations

from django.core.exceptions import ValidationError
from django.core.validators import RegexValidator
from django.db import models

from .conditions import FIELD_PATTERN, validate_conditions


class Question(models.Model):
    """A question of the plan finder; its answer filters the plan catalogue (recommendations/plans/catalogue.py).

    Single and multiple choice questions filter through their options' conditions; a range
    question compares its number with one field of the plan (its price or an attribute).
    """

    class Kind(models.TextChoices):
        SINGLE = "single", "single choice"
        MULTIPLE = "multiple", "multiple choice"
        RANGE = "range", "range (a number)"

    class RangeOperator(models.TextChoices):
        LTE = "lte", "plan value at most the answer (a budget)"
        GTE = "gte", "plan value at least the answer (a minimum)"

    key = models.SlugField(
        max_length=50, unique=True, help_text='The answer\'s key in requests: {"answers": {"<key>": ...}}.'
    )
    text = models.CharField(max_length=200)
    help_text = models.CharField(max_length=300, blank=True)
    kind = models.CharField(max_length=10, choices=Kind.choices)
    position = models.PositiveIntegerField(default=0, help_text="Questions are asked in this order.")
    active = models.BooleanField(default=True)
    range_field = models.CharField(
        max_length=60,
        blank=True,
        validators=[RegexValidator(FIELD_PATTERN, "price, or attributes.<name>")],
        help_text="Range questions: what the number is compared with: 'price' or 'attributes.<name>'.",
    )
    range_operator = models.CharField(max_length=3, choices=RangeOperator.choices, blank=True)
    range_min = models.DecimalField(max_digits=12, decimal_places=2, null=True, blank=True)
    range_max = models.DecimalField(max_digits=12, decimal_places=2, null=True, blank=True)
    range_unit = models.CharField(max_length=30, blank=True, help_text="Shown next to the number, e.g. EUR/month.")
    range_null_matches = models.BooleanField(
        default=False,
        help_text="Range questions: a plan whose attribute is null (e.g. unlimited data) matches any answer.",
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["position", "key"]

    def __str__(self) -> str:
        return self.key

    def clean(self) -> None:
        if self.kind != self.Kind.RANGE:
            return
        errors = {}
        if not self.range_field:
            errors["range_field"] = "A range question compares its answer with a field."
        if not self.range_operator:
            errors["range_operator"] = "A range question needs an operator."
        if self.range_min is None:
            errors["range_min"] = "A range question needs a minimum."
        if self.range_max is None:
            errors["range_max"] = "A range question needs a maximum."
        elif self.range_min is not None and self.range_min > self.range_max:
            errors["range_max"] = "The maximum is below the minimum."
        if errors:
            raise ValidationError(errors)


class QuestionOption(models.Model):
    """One answer of a choice question, with the conditions a plan must meet to match it."""

    question = models.ForeignKey(Question, on_delete=models.CASCADE, related_name="options")
    key = models.SlugField(max_length=50)
    label = models.CharField(max_length=150)
    position = models.PositiveIntegerField(default=0)
    conditions = models.JSONField(
        default=list,
        blank=True,
        validators=[validate_conditions],
        help_text='All must hold, e.g. [{"field": "product", "op": "in", "value": ["mobile"]}, '
        '{"field": "attributes.tags", "op": "contains", "value": "5g"}, {"field": "price", "op": "lte", '
        '"value": 30}]. Empty: any plan (no preference). docs/api.md lists fields and operators.',
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["question", "position", "key"]
        constraints = [models.UniqueConstraint(fields=["question", "key"], name="questionoption_unique_key")]

    def __str__(self) -> str:
        return f"{self.question.key}: {self.key}"
