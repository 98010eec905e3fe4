"""The staff roles (issue 16): each staff group set to exactly its permissions, from a copy of
accounts.roles taken when this migration was written (a migration must not follow app code that
changes later; tests/accounts/test_staff_roles.py checks that the two agree). The earlier grants
(accounts/0002, billing/0002, projects/0002 and 0008) are all in the copy: this extends those
groups and adds "admin". Going back removes "admin" and leaves the three groups as they are."""

from django.contrib.auth.management import create_permissions
from django.db import migrations

ROLES = {
    "support": [
        "accounts.block_client", "accounts.change_accessrecoveryrequest", "accounts.change_apikey", "accounts.decide_accessrecoveryrequest",
        "accounts.reset_two_factor", "accounts.view_accessrecoveryrequest", "accounts.view_accountstatechange", "accounts.view_apikey",
        "accounts.view_client", "accounts.view_notice", "accounts.view_restriction", "billing.view_freeaccountflag", "billing.view_invoice",
        "billing.view_invoiceline", "billing.view_ledgerentry", "billing.view_paymentattempt", "billing.view_subscription",
        "billing.view_wallet", "compliance.view_auditlog", "projects.change_broadcast", "projects.change_funnel",
        "projects.view_addressbook", "projects.view_block", "projects.view_broadcast", "projects.view_funnel", "projects.view_funnelstep",
        "projects.view_outboundmessage", "projects.view_project", "projects.view_projectbot", "projects.view_projectmember",
        "projects.view_projectrestriction", "projects.view_subscriber",
    ],
    "billing": [
        "accounts.view_accountstatechange", "accounts.view_client", "accounts.view_restriction", "billing.add_dispute",
        "billing.add_policysettings", "billing.approve_period_change", "billing.change_dispute", "billing.change_freeaccountflag",
        "billing.change_paymentattempt", "billing.change_periodchangerequest", "billing.change_policysettings", "billing.change_wallet",
        "billing.credit_wallet", "billing.refund_payment", "billing.run_night", "billing.view_card", "billing.view_clientnight",
        "billing.view_dispute", "billing.view_freeaccountflag", "billing.view_idempotencyrecord", "billing.view_invoice",
        "billing.view_invoiceline", "billing.view_invoicesequence", "billing.view_ledgerentry", "billing.view_nightlyrun",
        "billing.view_nightlystep", "billing.view_paymentattempt", "billing.view_periodchangerequest", "billing.view_policysettings",
        "billing.view_sandboxcharge", "billing.view_subscription", "billing.view_wallet", "compliance.view_auditlog",
        "projects.view_project",
    ],
    "compliance": [
        "accounts.view_accountstatechange", "accounts.view_client", "accounts.view_notice", "accounts.view_restriction",
        "billing.view_dispute", "compliance.add_incident", "compliance.add_legaldocument", "compliance.change_complaint",
        "compliance.change_incident", "compliance.change_legaldocument", "compliance.change_privacyrequest",
        "compliance.fulfil_privacy_request", "compliance.view_auditlog", "compliance.view_auditseal", "compliance.view_complaint",
        "compliance.view_cookieconsent", "compliance.view_holiday", "compliance.view_incident", "compliance.view_legalacceptance",
        "compliance.view_legaldocument", "compliance.view_legalnotice", "compliance.view_marketingconsent", "compliance.view_privacyexport",
        "compliance.view_privacyrequest", "projects.change_broadcast", "projects.change_subscriber", "projects.review_project",
        "projects.suspend_project", "projects.view_addressbook", "projects.view_block", "projects.view_broadcast", "projects.view_contact",
        "projects.view_funnel", "projects.view_funnelstep", "projects.view_outboundmessage", "projects.view_project",
        "projects.view_projectbot", "projects.view_projectmember", "projects.view_projectrestriction", "projects.view_subscriber",
    ],
    "admin": [
        "accounts.block_client", "accounts.change_accessrecoveryrequest", "accounts.change_accountstatechange", "accounts.change_apikey",
        "accounts.change_notice", "accounts.change_restriction", "accounts.decide_accessrecoveryrequest", "accounts.reset_two_factor",
        "accounts.view_accessrecoveryrequest", "accounts.view_accountstatechange", "accounts.view_apikey", "accounts.view_client",
        "accounts.view_notice", "accounts.view_restriction", "billing.add_dispute", "billing.add_policysettings",
        "billing.approve_period_change", "billing.change_card", "billing.change_clientnight", "billing.change_dispute",
        "billing.change_freeaccountflag", "billing.change_idempotencyrecord", "billing.change_invoice", "billing.change_invoiceline",
        "billing.change_invoicesequence", "billing.change_ledgerentry", "billing.change_nightlyrun", "billing.change_nightlystep",
        "billing.change_paymentattempt", "billing.change_periodchangerequest", "billing.change_policysettings",
        "billing.change_sandboxcharge", "billing.change_subscription", "billing.change_wallet", "billing.credit_wallet",
        "billing.refund_payment", "billing.run_night", "billing.view_card", "billing.view_clientnight", "billing.view_dispute",
        "billing.view_freeaccountflag", "billing.view_idempotencyrecord", "billing.view_invoice", "billing.view_invoiceline",
        "billing.view_invoicesequence", "billing.view_ledgerentry", "billing.view_nightlyrun", "billing.view_nightlystep",
        "billing.view_paymentattempt", "billing.view_periodchangerequest", "billing.view_policysettings", "billing.view_sandboxcharge",
        "billing.view_subscription", "billing.view_wallet", "compliance.add_holiday", "compliance.add_incident",
        "compliance.add_legaldocument", "compliance.change_complaint", "compliance.change_cookieconsent", "compliance.change_holiday",
        "compliance.change_incident", "compliance.change_legalacceptance", "compliance.change_legaldocument",
        "compliance.change_legalnotice", "compliance.change_marketingconsent", "compliance.change_privacyexport",
        "compliance.change_privacyrequest", "compliance.fulfil_privacy_request", "compliance.view_auditlog", "compliance.view_auditseal",
        "compliance.view_complaint", "compliance.view_cookieconsent", "compliance.view_holiday", "compliance.view_incident",
        "compliance.view_legalacceptance", "compliance.view_legaldocument", "compliance.view_legalnotice",
        "compliance.view_marketingconsent", "compliance.view_privacyexport", "compliance.view_privacyrequest",
        "projects.change_addressbook", "projects.change_block", "projects.change_broadcast", "projects.change_contact",
        "projects.change_funnel", "projects.change_funnelstate", "projects.change_funnelstep", "projects.change_outboundmessage",
        "projects.change_project", "projects.change_projectbot", "projects.change_projectmember", "projects.change_projectrestriction",
        "projects.change_subscriber", "projects.change_subscribertag", "projects.change_telegramupdate", "projects.review_project",
        "projects.suspend_project", "projects.view_addressbook", "projects.view_block", "projects.view_broadcast", "projects.view_contact",
        "projects.view_funnel", "projects.view_funnelstate", "projects.view_funnelstep", "projects.view_outboundmessage",
        "projects.view_project", "projects.view_projectbot", "projects.view_projectmember", "projects.view_projectrestriction",
        "projects.view_subscriber", "projects.view_subscribertag", "projects.view_telegramupdate",
    ],
}

APPS = ["accounts", "billing", "compliance", "projects"]


def set_roles(apps, schema_editor):
    # Permissions are normally made after all migrations; the groups need them now.
    for label in APPS:
        app_config = apps.get_app_config(label)
        app_config.models_module = True
        create_permissions(app_config, apps=apps, verbosity=0)
        app_config.models_module = None
    Group = apps.get_model("auth", "Group")
    Permission = apps.get_model("auth", "Permission")
    for name, dotted_names in ROLES.items():
        group, _ = Group.objects.get_or_create(name=name)
        permissions = []
        for dotted in dotted_names:
            app_label, codename = dotted.split(".")
            permissions.append(Permission.objects.get(content_type__app_label=app_label, codename=codename))
        group.permissions.set(permissions)


def remove_admin_role(apps, schema_editor):
    apps.get_model("auth", "Group").objects.filter(name="admin").delete()


class Migration(migrations.Migration):
    dependencies = [
        ("accounts", "0010_notice_indexed_once"),
        ("billing", "0014_staff_permissions"),
        ("compliance", "0015_staff_permissions"),
        ("projects", "0008_funnel_staff_permissions"),
        ("auth", "0012_alter_user_first_name_max_length"),
        ("contenttypes", "0002_remove_content_type_name"),
    ]
    operations = [migrations.RunPython(set_roles, remove_admin_role)]
