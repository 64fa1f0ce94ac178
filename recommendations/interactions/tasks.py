"""Celery tasks of the interactions app: thin adapters over outbox.py."""

from __future__ import annotations

from celery import Task, shared_task

from . import outbox, ranking_inputs


@shared_task(bind=True, ignore_result=True, acks_late=True, reject_on_worker_lost=True)
def outbox_deliver(self: Task, message_id: str) -> str:
    """One delivery attempt; a transient failure is retried after the backoff the outbox chose
    (no worker slot is held while waiting). Attempts are counted on the message, not here."""
    result = outbox.outbox_deliver_message(message_id=message_id)
    if result.outcome == "retry":
        raise self.retry(countdown=result.retry_in, max_retries=None)
    return result.outcome


@shared_task(ignore_result=True)
def outbox_sweep() -> int:
    """Beat: queue the pending messages whose delivery is overdue."""
    return outbox.outbox_sweep()


@shared_task(ignore_result=True)
def ranking_refresh() -> bool:
    """Beat: recompute the products' click-through rates for ranking (announces a new order)."""
    return ranking_inputs.ranking_refresh()
