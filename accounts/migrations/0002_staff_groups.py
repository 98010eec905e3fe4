"""The staff groups and what each may do. Later capabilities add their permissions to these
groups in their own migrations."""

from django.contrib.auth.management import create_permissions
from django.db import migrations

GROUPS = {
    "support": [
        "accounts.view_client", "accounts.block_client", "accounts.reset_two_factor",
        "accounts.view_accountstatechange", "accounts.view_apikey", "accounts.change_apikey",
        "accounts.view_accessrecoveryrequest", "accounts.change_accessrecoveryrequest",
        "accounts.decide_accessrecoveryrequest", "compliance.view_auditlog",
    ],
    "billing": [
        "accounts.view_client", "accounts.view_accountstatechange", "compliance.view_auditlog",
    ],
    "compliance": [
        "accounts.view_client", "accounts.view_accountstatechange", "compliance.view_auditlog",
        "compliance.view_legaldocument", "compliance.add_legaldocument", "compliance.change_legaldocument",
        "compliance.view_legalacceptance",
    ],
}


def create_groups(apps, schema_editor):
    # Permissions are normally made after all migrations; the groups need them now.
    for app_config in apps.get_app_configs():
        app_config.models_module = True
        create_permissions(app_config, apps=apps, verbosity=0)
        app_config.models_module = None
    Group = apps.get_model("auth", "Group")
    Permission = apps.get_model("auth", "Permission")
    for name, codenames in GROUPS.items():
        group, _ = Group.objects.get_or_create(name=name)
        for dotted in codenames:
            app_label, codename = dotted.split(".")
            group.permissions.add(Permission.objects.get(content_type__app_label=app_label, codename=codename))


def remove_groups(apps, schema_editor):
    apps.get_model("auth", "Group").objects.filter(name__in=GROUPS).delete()


class Migration(migrations.Migration):
    dependencies = [
        ("accounts", "0001_initial"),
        ("compliance", "0001_initial"),
        ("auth", "0012_alter_user_first_name_max_length"),
        ("contenttypes", "0002_remove_content_type_name"),
    ]
    operations = [migrations.RunPython(create_groups, remove_groups)]
