"""What each staff group may do with projects: support looks and helps, compliance reviews
industries (PRJ-7) and handles subscribers' requests."""

from django.contrib.auth.management import create_permissions
from django.db import migrations

GROUPS = {
    "support": ["projects.view_project", "projects.view_projectmember", "projects.view_subscriber", "projects.view_addressbook"],
    "billing": ["projects.view_project"],
    "compliance": [
        "projects.view_project", "projects.view_projectmember", "projects.review_project",
        "projects.view_subscriber", "projects.change_subscriber", "projects.view_addressbook", "projects.view_contact",
    ],
}


def grant(apps, schema_editor):
    app_config = apps.get_app_config("projects")
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


def revoke(apps, schema_editor):
    Group = apps.get_model("auth", "Group")
    Permission = apps.get_model("auth", "Permission")
    for name, codenames in GROUPS.items():
        group = Group.objects.filter(name=name).first()
        if group:
            group.permissions.remove(*Permission.objects.filter(content_type__app_label="projects", codename__in=[c.split(".")[1] for c in codenames]))


class Migration(migrations.Migration):
    dependencies = [
        ("projects", "0001_initial"),
        ("accounts", "0003_client_tariff_since"),
    ]
    operations = [migrations.RunPython(grant, revoke)]
