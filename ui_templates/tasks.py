"""Celery tasks for templates: thin adapters over services."""

from __future__ import annotations

from celery import shared_task
from django.utils import timezone

from . import services


@shared_task(ignore_result=True)
def templates_apply_schedules() -> dict[str, int]:
    """Beat's tick: publish scheduled versions whose time has come, withdraw ended campaigns."""
    return services.templates_apply_schedules(now=timezone.now())
