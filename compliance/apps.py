from django.apps import AppConfig


class ComplianceConfig(AppConfig):
    name = "compliance"
    verbose_name = "Compliance"

    def ready(self) -> None:
        from compliance import privacy, privacy_export, retention

        privacy.register("compliance", export=privacy_export.export, erase=privacy_export.erase)
        retention.register("cookie consents", retention.purge_cookie_consents)
        from compliance.services import purge_expired_exports

        retention.register("expired exports", purge_expired_exports)
