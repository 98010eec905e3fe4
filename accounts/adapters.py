from allauth.account.adapter import DefaultAccountAdapter
from allauth.core import context
from allauth.socialaccount.adapter import DefaultSocialAccountAdapter
from django import forms
from django.contrib.sites.shortcuts import get_current_site
from django.http import Http404

from accounts import services
from core.admin import refusal
from core.client_ip import client_ip
from core.emails import send_now_or_later


class AccountAdapter(DefaultAccountAdapter):
    def authenticate(self, request, **credentials):
        # Say plainly that the email is locked, rather than "wrong password" (ACC-2).
        email = credentials.get("email") or credentials.get("username") or ""
        if remaining := services.sign_in_lockout_remaining(email=email):
            raise forms.ValidationError(refusal(services.lockout_refusal(remaining)))
        return super().authenticate(request, **credentials)

    def get_client_ip(self, request) -> str:
        # The one reading of the caller's address, by TRUSTED_PROXY_COUNT (issue 17, item 4), for
        # allauth's own rate limits and sessions. allauth refuses a request with none
        # (PermissionDenied); a missing address is one shared budget.
        return client_ip(request) or "0.0.0.0"  # noqa: S104 (never bound)

    def send_mail(self, template_prefix: str, email: str, context_: dict) -> None:
        """allauth's, the message sent by a worker through the outbox (issue 17, item 5): a mail
        server that is down delays the verification email (retried), never fails the
        registration, which answers 201 with the account made."""
        request = context.request
        ctx = {"request": request, "email": email, "current_site": get_current_site(request), **context_}
        send_now_or_later(self.render_mail(template_prefix, email, ctx))


class SocialAccountAdapter(DefaultSocialAccountAdapter):
    """Social sign-up (ToU 5.1) always shows our form: the terms and the age are still asked."""

    def is_auto_signup_allowed(self, request, sociallogin) -> bool:
        return False

    def get_app(self, request, provider, client_id=None):
        """allauth's, but a provider with no app configured (no SOCIAL_*_CLIENT_ID, no SocialApp
        row) is 404 at its login address rather than allauth's DoesNotExist, a 500 (issue 17)."""
        from allauth.socialaccount.models import SocialApp  # (allauth's models load after apps are ready)

        class NoSocialApp(SocialApp.DoesNotExist, Http404):
            """Still what allauth's callers catch, and a 404 when a view lets it through."""

        try:
            return super().get_app(request, provider, client_id=client_id)
        except SocialApp.DoesNotExist:
            raise NoSocialApp(f"No {provider} sign-in is configured.") from None
