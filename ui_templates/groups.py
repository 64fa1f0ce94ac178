"""The Marketers group (docs/sdui.md, "The marketer workflow").

Migration 0002 creates it on every database; :func:`marketers_group` gets it or makes it again
with the same permissions (the demo seed uses it, so a marketer created there always can work).
"""

from __future__ import annotations

from django.contrib.auth.models import Group, Permission

MARKETERS = "Marketers"
# Templates: add, change, view and publish; versions and history: view. Nothing of other apps.
PERMISSIONS = {
    "componenttemplate": [
        "add_componenttemplate",
        "change_componenttemplate",
        "view_componenttemplate",
        "publish_componenttemplate",
    ],
    "templateversion": ["view_templateversion"],
    "templateevent": ["view_templateevent"],
}


def marketers_group() -> Group:
    """The Marketers group with exactly its permissions (created when missing)."""
    group, _ = Group.objects.get_or_create(name=MARKETERS)
    group.permissions.set(
        Permission.objects.filter(
            content_type__app_label="ui_templates",
            content_type__model__in=list(PERMISSIONS),
            codename__in=[codename for codenames in PERMISSIONS.values() for codename in codenames],
        )
    )
    return group
