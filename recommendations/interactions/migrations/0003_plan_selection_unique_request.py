"""One plan selection per (user, plan, request id) when a request id is given: the idempotency key
of POST /api/v1/plans/select/ (docs/api.md), held by the database so that identical requests
racing each other store one selection.

Duplicates stored before the constraint existed are removed first (the oldest of each is kept,
with its outbox message; the duplicates' undelivered messages go with them, so nothing is sent
twice from now on). Reversing drops the constraint; removed duplicates stay removed.
"""

from django.conf import settings
from django.db import migrations, models


def remove_duplicate_selections(apps, schema_editor):
    PlanSelection = apps.get_model("interactions", "PlanSelection")
    OutboxMessage = apps.get_model("interactions", "OutboxMessage")
    keys = (
        PlanSelection.objects.exclude(request_id="")
        .values("user_id", "plan_id", "request_id")
        .order_by()
        .annotate(first=models.Min("id"), count=models.Count("id"))
        .filter(count__gt=1)
    )
    for key in keys:
        duplicates = list(
            PlanSelection.objects.filter(user_id=key["user_id"], plan_id=key["plan_id"], request_id=key["request_id"])
            .exclude(id=key["first"])
            .values_list("id", flat=True)
        )
        OutboxMessage.objects.filter(
            idempotency_key__in=[f"plan-selection:{pk}" for pk in duplicates], status__in=["pending", "dead"]
        ).delete()
        PlanSelection.objects.filter(id__in=duplicates).delete()


class Migration(migrations.Migration):

    dependencies = [
        ('interactions', '0002_product_ranking'),
        ('products', '0004_events_endpoint'),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.RunPython(remove_duplicate_selections, migrations.RunPython.noop, elidable=True),
        migrations.AddConstraint(
            model_name='planselection',
            constraint=models.UniqueConstraint(condition=models.Q(('request_id', ''), _negated=True), fields=('user', 'plan', 'request_id'), name='planselection_unique_request'),
        ),
    ]
