"""The Home Service project package: settings, routing and process wiring. No business logic."""

from .celery import app as celery_app

__all__ = ("celery_app",)
