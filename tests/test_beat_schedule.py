"""Every periodic task on the beat schedule is one the worker has registered (a task renamed or
moved without its schedule entry would otherwise never run, silently)."""

from __future__ import annotations

import pytest
from django.conf import settings

from homeservice.celery import app


@pytest.mark.parametrize("entry", sorted(settings.CELERY_BEAT_SCHEDULE))
def test_the_scheduled_task_is_registered(entry: str) -> None:
    app.loader.import_default_modules()  # what a worker does at startup: each app's tasks module
    assert settings.CELERY_BEAT_SCHEDULE[entry]["task"] in app.tasks
