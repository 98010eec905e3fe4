"""What each staff group may do with funnels and what projects send (PRJ-6, MSG-1): support and
compliance look (a complaint about spam needs the messages), support restores a funnel the loop
guard stopped and cancels a broadcast a client asks to stop. A bot's row shows no token to anyone."""

from django.contrib.auth.management import create_permissions
from django.db import migrations

LOOK = ["projects.view_funnel", "projects.view_block", "projects.view_funnelstep", "projects.view_broadcast", "projects.view_outboundmessage",
        "projects.view_projectbot"]
GROUPS = {
    "support": [*LOOK, "projects.change_funnel", "projects.change_broadcast"],
    "compliance": [*LOOK, "projects.change_broadcast"],
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
    dependencies = [("projects", "0007_funnels_and_messages")]
    operations = [migrations.RunPython(grant, revoke)]
