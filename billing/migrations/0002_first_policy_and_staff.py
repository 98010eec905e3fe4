"""The first prices and policy (RULES.md defaults: $10 a package a month, 10% and 20% off for
quarterly and yearly, no set-up fee), and what the billing staff group may do."""

from django.contrib.auth.management import create_permissions
from django.db import migrations

GROUPS = {
    "billing": [
        "billing.view_policysettings", "billing.add_policysettings", "billing.view_subscription", "billing.view_wallet",
        "billing.change_wallet", "billing.view_ledgerentry", "billing.view_invoice", "billing.view_paymentattempt",
        "billing.change_paymentattempt", "billing.view_periodchangerequest", "billing.change_periodchangerequest",
        "billing.view_card", "billing.view_freeaccountflag", "billing.change_freeaccountflag",
    ],
    "support": ["billing.view_subscription", "billing.view_wallet", "billing.view_ledgerentry", "billing.view_invoice", "billing.view_freeaccountflag"],
}


def forwards(apps, schema_editor):
    apps.get_model("billing", "PolicySettings").objects.create(note="RULES.md defaults")
    app_config = apps.get_app_config("billing")
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


class Migration(migrations.Migration):
    dependencies = [
        ("billing", "0001_initial"),
        ("accounts", "0003_client_tariff_since"),
    ]
    operations = [migrations.RunPython(forwards, migrations.RunPython.noop)]
