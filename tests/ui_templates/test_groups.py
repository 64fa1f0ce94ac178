import importlib

import pytest

from ui_templates import groups

pytestmark = pytest.mark.django_db(transaction=True)


def test_the_group_made_again_has_what_the_migration_gives():
    migration = importlib.import_module("ui_templates.migrations.0002_marketers_group")
    assert (migration.GROUP, migration.PERMISSIONS) == (groups.MARKETERS, groups.PERMISSIONS)


def test_a_missing_group_is_made_again_with_its_permissions():
    # given a database flushed by a transactional test: no Marketers group
    from django.contrib.auth.models import Group

    Group.objects.filter(name=groups.MARKETERS).delete()
    # when
    group = groups.marketers_group()
    # then
    codenames = set(group.permissions.values_list("codename", flat=True))
    assert codenames == {c for cs in groups.PERMISSIONS.values() for c in cs}
