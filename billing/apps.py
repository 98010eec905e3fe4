from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class BillingConfig(AppConfig):
    name = "billing"
    verbose_name = _("Billing")

    def ready(self) -> None:
        # Imported here, not at the top: models and other apps can be imported only once the app registry is ready.
        from allauth.account.signals import email_confirmed

        from billing import admin_panels  # noqa: F401  (registers the client page's billing panels, issue 16)
        from billing import privacy as billing_privacy
        from compliance import privacy

        privacy.register("billing", export=billing_privacy.export, erase=billing_privacy.erase)
        privacy.register_hold(settle=billing_privacy.settle_debt, hold=billing_privacy.debt_hold)
        privacy.register_hold(hold=billing_privacy.dispute_hold)

        def flag_shared_email(sender, request, email_address, **kwargs):
            from billing import services

            services.flag_shared_email(client=email_address.user, email=email_address.email)

        email_confirmed.connect(flag_shared_email, dispatch_uid="billing.flag_shared_email", weak=False)
