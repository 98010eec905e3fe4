"""The staff console's sidebar, grouped by the staff's work (issue 16): clients, money, projects,
compliance, operations. Each entry is a model's list, shown to those who may view it."""

from django.apps import apps
from django.urls import NoReverseMatch, reverse
from django.utils.translation import gettext_lazy as _

# (group, icon, [(app_label.model, icon)]) in the order staff meet them.
SECTIONS = [
    (_("Clients"), "group", [
        ("accounts.client", "person"), ("accounts.restriction", "block"), ("accounts.accountstatechange", "history"),
        ("accounts.apikey", "key"), ("accounts.notice", "mail"), ("accounts.accessrecoveryrequest", "lock_reset"),
    ]),
    (_("Money"), "payments", [
        ("billing.subscription", "autorenew"), ("billing.wallet", "account_balance_wallet"), ("billing.ledgerentry", "receipt_long"),
        ("billing.invoice", "description"), ("billing.paymentattempt", "credit_card"), ("billing.card", "credit_card"),
        ("billing.dispute", "gavel"), ("billing.periodchangerequest", "event_repeat"), ("billing.freeaccountflag", "flag"),
        ("billing.policysettings", "tune"),
    ]),
    (_("Projects"), "smart_toy", [
        ("projects.project", "smart_toy"), ("projects.subscriber", "groups"), ("projects.funnel", "account_tree"),
        ("projects.funnelstep", "footprint"), ("projects.broadcast", "campaign"), ("projects.outboundmessage", "send"),
        ("projects.projectbot", "robot_2"), ("projects.addressbook", "contacts"), ("projects.contact", "contact_page"),
    ]),
    (_("Compliance"), "policy", [
        ("compliance.privacyrequest", "shield_person"), ("compliance.complaint", "report"), ("compliance.incident", "emergency"),
        ("compliance.legaldocument", "article"), ("compliance.legalacceptance", "task_alt"), ("compliance.marketingconsent", "mark_email_read"),
        ("compliance.cookieconsent", "cookie"), ("compliance.auditlog", "manage_search"), ("compliance.auditseal", "verified"),
        ("compliance.holiday", "calendar_month"),
    ]),
    (_("Operations"), "settings", [
        ("billing.nightlyrun", "bedtime"), ("billing.idempotencyrecord", "fingerprint"), ("billing.sandboxcharge", "science"),
        ("auth.group", "admin_panel_settings"), ("mfa.authenticator", "phonelink_lock"),
    ]),
]


def sidebar(request) -> list[dict]:
    """The sections with the lists this staff member may view (a section with none is left out)."""
    groups = []
    for title, _icon, entries in SECTIONS:
        items = []
        for label, icon in entries:
            app_label, model_name = label.split(".")
            try:
                model = apps.get_model(app_label, model_name)
                link = reverse(f"admin:{app_label}_{model_name}_changelist")
            except (LookupError, NoReverseMatch):
                continue
            if request.user.has_perm(f"{app_label}.view_{model_name}") or request.user.has_perm(f"{app_label}.change_{model_name}"):
                items.append({"title": model._meta.verbose_name_plural.capitalize(), "icon": icon, "link": link})
        if items:
            groups.append({"title": title, "separator": True, "collapsible": False, "items": items})
    return groups
