"""Cache invalidation only: a committed change to plans, products, questions or options gives
the catalogue a new version (recommendations/plans/cache.py), so cached answers and every process's index are
out of date. Bulk updates send no signals; PLANS_CACHE_TTL_SECONDS bounds how long they go
unseen."""

from __future__ import annotations

from typing import Any

from django.db import transaction
from django.db.models.signals import post_delete, post_save

from products.models import Plan, Product

from . import cache
from .models import Question, QuestionOption


def catalogue_changed(sender: Any, **kwargs: Any) -> None:
    transaction.on_commit(cache.bump_version)


for _model in (Plan, Product, Question, QuestionOption):
    post_save.connect(catalogue_changed, sender=_model, dispatch_uid=f"plans-catalogue-{_model.__name__}-save")
    post_delete.connect(catalogue_changed, sender=_model, dispatch_uid=f"plans-catalogue-{_model.__name__}-delete")
