"""allauth tells us of what happens on its pages; these receivers translate to our services."""

from allauth.account.signals import email_confirmed
from allauth.mfa.signals import authenticator_added, authenticator_removed
from django.dispatch import receiver

from accounts import services


@receiver(email_confirmed)
def _email_confirmed(sender, request, email_address, **kwargs):
    services.mark_email_verified(client=email_address.user, email=email_address.email)


@receiver(authenticator_added)
def _authenticator_added(sender, request, user, authenticator, **kwargs):
    services.note_two_factor_change(client=user, enabled=True, kind=authenticator.type)


@receiver(authenticator_removed)
def _authenticator_removed(sender, request, user, authenticator, **kwargs):
    services.note_two_factor_change(client=user, enabled=False, kind=authenticator.type)
