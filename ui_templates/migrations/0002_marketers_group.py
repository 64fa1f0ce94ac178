"""The "Marketers" group: edit, preview and publish templates; nothing of products.

Marketers may add, change and view templates, publish them (and schedule and roll back), and view
versions and the publish history. No permission on any other app is given, so products' deals
endpoints and secrets stay out of their sight. Users also need ``is_staff`` to use the admin.
"""

from django.contrib.auth.management import create_permissions
from django.db import migrations

GROUP = "Marketers"
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


def create_group(apps, schema_editor):
    # Permissions are normally created after all migrations ran; this one needs them now.
    app_config = apps.get_app_config("ui_templates")
    app_config.models_module = True
    create_permissions(app_config, apps=apps, verbosity=0)
    Group = apps.get_model("auth", "Group")
    Permission = apps.get_model("auth", "Permission")
    group, _ = Group.objects.get_or_create(name=GROUP)
    wanted = [
        Permission.objects.get(content_type__app_label="ui_templates", content_type__model=model, codename=codename)
        for model, codenames in PERMISSIONS.items()
        for codename in codenames
    ]
    group.permissions.set(wanted)


def delete_group(apps, schema_editor):
    apps.get_model("auth", "Group").objects.filter(name=GROUP).delete()


class Migration(migrations.Migration):
    dependencies = [
        ("auth", "0012_alter_user_first_name_max_length"),
        ("contenttypes", "0002_remove_content_type_name"),
        ("ui_templates", "0001_initial"),
    ]

    operations = [migrations.RunPython(create_group, delete_group)]
