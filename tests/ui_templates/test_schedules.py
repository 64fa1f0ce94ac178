"""Campaign schedules, carried out by the beat task: publish at, unpublish at; idempotent."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.conf import settings
from django.utils import timezone

from homeservice.errors import ApplicationError
from tests.factories import UserFactory
from ui_templates import services
from ui_templates.models import ComponentTemplate, TemplateEvent, TemplateVersion
from ui_templates.slots import Slot
from ui_templates.tasks import templates_apply_schedules

pytestmark = pytest.mark.django_db

CARD = {"type": "card", "children": [{"type": "text", "props": {"text": "{{ offer.title }}"}}]}


@pytest.fixture
def version() -> TemplateVersion:
    template = ComponentTemplate.objects.create(key="promo", name="Promo", slot=Slot.OFFER_CARD, draft_tree=CARD)
    return services.template_version_create(template=template, tree=CARD, user=None)


def actions(template: ComponentTemplate) -> list[str]:
    return list(template.events.order_by("id").values_list("action", flat=True))


def test_the_task_is_on_the_beat_schedule() -> None:
    entry = settings.CELERY_BEAT_SCHEDULE["templates-apply-schedules"]
    assert entry["task"] == "ui_templates.tasks.templates_apply_schedules"
    assert entry["schedule"] == 30.0


def test_a_due_version_is_published_once(version: TemplateVersion) -> None:
    marketer = UserFactory.create()
    now = timezone.now()
    services.template_schedule(version=version, publish_at=now - timedelta(seconds=1), unpublish_at=None, user=marketer)

    assert templates_apply_schedules.delay().get() == {"published": 1, "unpublished": 0}
    assert templates_apply_schedules() == {"published": 0, "unpublished": 0}

    template = version.template
    template.refresh_from_db()
    assert template.published_version == version
    assert actions(template) == ["scheduled", "published"]
    scheduled = template.events.get(action=TemplateEvent.Action.SCHEDULED)
    assert scheduled.actor == marketer


def test_a_version_due_later_waits(version: TemplateVersion) -> None:
    services.template_schedule(
        version=version, publish_at=timezone.now() + timedelta(hours=1), unpublish_at=None, user=None
    )
    assert templates_apply_schedules() == {"published": 0, "unpublished": 0}
    version.template.refresh_from_db()
    assert version.template.published_version is None


def test_an_ended_campaign_is_withdrawn_once(version: TemplateVersion) -> None:
    template = version.template
    services.template_publish(template=template, version=version, user=None)
    end = timezone.now() + timedelta(hours=1)
    services.template_schedule(version=version, publish_at=None, unpublish_at=end, user=None)
    assert templates_apply_schedules() == {"published": 0, "unpublished": 0}

    later = end + timedelta(seconds=1)
    assert services.templates_apply_schedules(now=later) == {"published": 0, "unpublished": 1}
    assert services.templates_apply_schedules(now=later) == {"published": 0, "unpublished": 0}
    template.refresh_from_db()
    assert template.published_version is None
    assert actions(template) == ["published", "scheduled", "unpublished"]


def test_a_campaign_whose_window_passed_entirely_is_not_published(version: TemplateVersion) -> None:
    now = timezone.now()
    services.template_schedule(
        version=version, publish_at=now - timedelta(hours=2), unpublish_at=now - timedelta(hours=1), user=None
    )
    assert templates_apply_schedules() == {"published": 0, "unpublished": 0}


def test_a_rolled_back_scheduled_version_is_not_published_again(version: TemplateVersion) -> None:
    template = version.template
    services.template_schedule(
        version=version, publish_at=timezone.now() - timedelta(seconds=1), unpublish_at=None, user=None
    )
    templates_apply_schedules()
    template.refresh_from_db()
    services.template_unpublish(template=template, user=None)
    assert templates_apply_schedules() == {"published": 0, "unpublished": 0}


def test_a_schedule_must_end_after_it_starts_and_the_version_must_be_valid(version: TemplateVersion) -> None:
    now = timezone.now()
    with pytest.raises(ApplicationError) as refused:
        services.template_schedule(version=version, publish_at=now, unpublish_at=now, user=None)
    assert refused.value.code == "template_schedule_invalid"
    bad = services.template_version_create(template=version.template, tree={"type": "marquee"}, user=None)
    with pytest.raises(ApplicationError) as invalid:
        services.template_schedule(version=bad, publish_at=now, unpublish_at=None, user=None)
    assert invalid.value.code == "template_invalid"
