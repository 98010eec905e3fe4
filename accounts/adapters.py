from allauth.account.adapter import DefaultAccountAdapter
from allauth.socialaccount.adapter import DefaultSocialAccountAdapter
from django import forms

from accounts import services
from core.admin import refusal


class AccountAdapter(DefaultAccountAdapter):
    def authenticate(self, request, **credentials):
        # Say plainly that the email is locked, rather than "wrong password" (ACC-2).
        email = credentials.get("email") or credentials.get("username") or ""
        if remaining := services.sign_in_lockout_remaining(email=email):
            raise forms.ValidationError(refusal(services.lockout_refusal(remaining)))
        return super().authenticate(request, **credentials)


class SocialAccountAdapter(DefaultSocialAccountAdapter):
    """Social sign-up (ToU 5.1) always shows our form: the terms and the age are still asked."""

    def is_auto_signup_allowed(self, request, sociallogin) -> bool:
        return False
