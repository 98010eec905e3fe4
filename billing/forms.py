"""The dashboard's billing and privacy forms: shapes only; the services say what is allowed."""

from django import forms
from django.utils.translation import gettext_lazy as _

from billing.models import Card, Period
from billing.services import TOP_UP_MAX_CENTS, TOP_UP_MIN_CENTS
from compliance.models import PrivacyRequest


class CardForm(forms.Form):
    token = forms.CharField(max_length=200, help_text=_("From the payment form; in the sandbox e.g. tok_visa."))
    role = forms.ChoiceField(choices=Card.Role.choices, initial=Card.Role.MAIN)


class TopUpForm(forms.Form):
    dollars = forms.DecimalField(min_value=TOP_UP_MIN_CENTS / 100, max_value=TOP_UP_MAX_CENTS / 100, decimal_places=2, max_digits=9)
    key = forms.CharField(required=False, max_length=64, widget=forms.HiddenInput)

    def clean(self):
        data = super().clean()
        if data.get("dollars") is not None:
            data["amount_cents"] = int(data["dollars"] * 100)
        return data


class PeriodForm(forms.Form):
    period = forms.ChoiceField(choices=Period.choices)


class DeactivateForm(forms.Form):
    confirm = forms.BooleanField(label=_("I understand that my projects are archived, and deleted after the retention window."))


class PrivacyRequestForm(forms.Form):
    kind = forms.ChoiceField(choices=PrivacyRequest.Kind.choices)
    details = forms.CharField(required=False, max_length=5000, widget=forms.Textarea(attrs={"rows": 3}))


class DeleteAccountForm(forms.Form):
    confirm = forms.BooleanField(label=_("I understand what deleting my account means."))
    password = forms.CharField(widget=forms.PasswordInput, strip=False)
