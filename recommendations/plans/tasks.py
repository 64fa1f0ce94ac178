"""Celery tasks of the plan finder: thin adapters over services."""

from __future__ import annotations

from typing import Any

from celery import shared_task

from .services import plans_enrich


@shared_task(ignore_result=True)
def plans_enrich_task(*, user_id: int, request_id: str, answers: dict[str, Any]) -> None:
    """After a synchronous filter answer: refine it for the user and push it (docs/websocket.md)."""
    plans_enrich(user_id=user_id, request_id=request_id, answers=answers)
