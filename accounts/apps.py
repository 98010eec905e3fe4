from django.apps import AppConfig


class AccountsConfig(AppConfig):
    name = "accounts"
    verbose_name = "Accounts"

    def ready(self) -> None:
        # Imported here, not at the top: models and other apps can be imported only once the app registry is ready.
        from accounts import privacy as accounts_privacy
        from accounts import signals  # noqa: F401  (connects allauth's events to our services)
        from compliance import privacy

        privacy.register("accounts", export=accounts_privacy.export, erase=accounts_privacy.erase)
