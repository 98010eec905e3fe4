from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class AccountsConfig(AppConfig):
    name = "accounts"
    verbose_name = _("Accounts")

    def ready(self) -> None:
        # Imported here, not at the top: models and other apps can be imported only once the app registry is ready.
        from accounts import privacy as accounts_privacy
        from accounts import signals  # noqa: F401  (connects allauth's events to our services)
        from accounts.selectors import refusal
        from accounts.states import Act
        from compliance import complaints, privacy

        privacy.register("accounts", export=accounts_privacy.export, erase=accounts_privacy.erase)
        complaints.register_guard(lambda complainant: refusal(complainant, Act.FILE_COMPLAINT))
