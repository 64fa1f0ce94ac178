"""The migration that puts the plan selection's idempotency key in the database: duplicates stored
before it (the oldest kept, the others' undelivered messages dropped) are removed, the
constraint then refuses a second (user, plan, request_id), and the migration reverses."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from django.db import IntegrityError, connection, transaction
from django.db.migrations.executor import MigrationExecutor
from django.utils import timezone

from tests.factories import PlanFactory, UserFactory

pytestmark = pytest.mark.django_db(transaction=True)

BEFORE = [("interactions", "0002_product_ranking")]
AFTER = [("interactions", "0003_plan_selection_unique_request")]


def _migrate(targets: list[tuple[str, str]]) -> MigrationExecutor:
    executor = MigrationExecutor(connection)
    executor.loader.build_graph()
    executor.migrate(targets)
    return MigrationExecutor(connection)


@pytest.fixture
def at_latest() -> Iterator[None]:
    yield
    executor = MigrationExecutor(connection)
    executor.migrate(executor.loader.graph.leaf_nodes())


def test_duplicates_are_removed_then_refused_and_the_migration_reverses(at_latest: None) -> None:
    user, plan = UserFactory.create(), PlanFactory.create(product__events_endpoint="http://127.0.0.1:9/events")
    apps = _migrate(BEFORE).loader.project_state(BEFORE).apps
    Selection = apps.get_model("interactions", "PlanSelection")
    Message = apps.get_model("interactions", "OutboxMessage")
    twice = [
        Selection.objects.create(user_id=user.pk, plan_id=plan.pk, product_id=plan.product_id, request_id="r-1")
        for _ in range(3)
    ]
    unkeyed = [
        Selection.objects.create(user_id=user.pk, plan_id=plan.pk, product_id=plan.product_id, request_id="")
        for _ in range(2)
    ]
    for selection, status in zip(twice, ["delivered", "pending", "dead"], strict=True):
        Message.objects.create(
            product_id=plan.product_id,
            event_type="plan.selected",
            payload={},
            idempotency_key=f"plan-selection:{selection.pk}",
            status=status,
            next_attempt_at=timezone.now(),
        )

    apps = _migrate(AFTER).loader.project_state(AFTER).apps
    Selection = apps.get_model("interactions", "PlanSelection")
    Message = apps.get_model("interactions", "OutboxMessage")
    kept = {s.pk for s in twice[:1] + unkeyed}
    assert set(Selection.objects.values_list("pk", flat=True)) == kept
    assert list(Message.objects.values_list("idempotency_key", flat=True)) == [f"plan-selection:{twice[0].pk}"]
    with pytest.raises(IntegrityError), transaction.atomic():
        Selection.objects.create(user_id=user.pk, plan_id=plan.pk, product_id=plan.product_id, request_id="r-1")
    Selection.objects.create(user_id=user.pk, plan_id=plan.pk, product_id=plan.product_id, request_id="")

    apps = _migrate(BEFORE).loader.project_state(BEFORE).apps
    Selection = apps.get_model("interactions", "PlanSelection")
    Selection.objects.create(user_id=user.pk, plan_id=plan.pk, product_id=plan.product_id, request_id="r-1")
    assert Selection.objects.filter(request_id="r-1").count() == 2
