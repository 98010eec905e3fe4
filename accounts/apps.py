from django.apps import AppConfig


class AccountsConfig(AppConfig):
    name = "accounts"
    verbose_name = "Accounts"

    def ready(self) -> None:
        from accounts import privacy as accounts_privacy
        from accounts import signals  # noqa: F401  (connects allauth's events to our services)
        from compliance import privacy

        privacy.register("accounts", export=accounts_privacy.export, erase=accounts_privacy.erase)
