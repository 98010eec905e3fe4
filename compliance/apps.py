from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class ComplianceConfig(AppConfig):
    name = "compliance"
    verbose_name = _("Compliance")

    def ready(self) -> None:
        # Imported here, not at the top: models and other apps can be imported only once the app registry is ready.
        from compliance import privacy, privacy_export, retention

        privacy.register("compliance", export=privacy_export.export, erase=privacy_export.erase)
        retention.register("cookie consents", retention.purge_cookie_consents)
        from compliance.services import purge_expired_exports

        retention.register("expired exports", purge_expired_exports)
        from django.contrib.admin.models import LogEntry
        from django.db.models.signals import post_save

        from compliance.admin_log import record_admin_log_entry

        post_save.connect(record_admin_log_entry, sender=LogEntry, dispatch_uid="compliance.admin_log")
