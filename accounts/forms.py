from allauth.account.forms import SignupForm as AllauthSignupForm
from allauth.socialaccount.forms import SignupForm as AllauthSocialSignupForm
from django import forms
from django.core.exceptions import ValidationError
from django.urls import reverse
from django.utils.html import format_html
from django.utils.translation import get_language, gettext
from django.utils.translation import gettext_lazy as _

from accounts import services
from accounts.models import ApiKey, Client


class ConsentFields(forms.Form):
    """The fields and checks ACC-1 asks of every sign-up, by password or social."""

    name = forms.CharField(max_length=150, label=_("Your name"))
    accept_terms = forms.BooleanField(
        required=True,
        error_messages={"required": _("You must accept the Terms of Use and the Privacy Policy.")},
    )
    age_confirmed = forms.BooleanField(
        required=True,
        label=_("I am 16 or older"),
        error_messages={"required": _("You must confirm that you are 16 or older.")},
    )

    field_order = ["name", "email", "password1", "accept_terms", "age_confirmed"]

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["accept_terms"].label = format_html(
            gettext(
                'I accept the <a href="{terms}" target="_blank">Terms of Use</a> and the '
                '<a href="{privacy}" target="_blank">Privacy Policy</a>'
            ),
            terms=reverse("legal_document", args=["terms"]),
            privacy=reverse("legal_document", args=["privacy"]),
        )

    def register(self, password: str | None) -> Client:
        try:
            return services.register_client(
                name=self.cleaned_data["name"],
                email=self.cleaned_data["email"],
                password=password,
                accept_terms=self.cleaned_data["accept_terms"],
                age_confirmed=self.cleaned_data["age_confirmed"],
                via="dashboard",
                language=get_language(),  # the page's: the browser's, or the switch's
            )
        except ValidationError as exc:
            # A race with another sign-up: show it on the form like any other error.
            for field, messages in exc.message_dict.items():
                self.add_error(field if field in self.fields else None, messages)
            raise forms.ValidationError(_("Please correct the errors below.")) from exc


class SignupForm(ConsentFields, AllauthSignupForm):
    def save(self, request):
        return self.register(self.cleaned_data["password1"])


class SocialSignupForm(ConsentFields, AllauthSocialSignupForm):
    def save(self, request):
        # A social account signs in with its provider: the password is unusable.
        client = self.register(None)
        self.sociallogin.user = client
        self.sociallogin.save(request, connect=True)  # our service made the EmailAddress
        return client


class ApiKeyCreateForm(forms.ModelForm):
    class Meta:
        model = ApiKey
        fields = ["name"]


class AccessRecoveryForm(forms.Form):
    account_email = forms.EmailField(label=_("Email of the account you cannot reach"))
    contact_email = forms.EmailField(label=_("Email where we can reach you now"))
    proof = forms.CharField(
        widget=forms.Textarea(attrs={"rows": 5}),
        label=_("Proof that the account is yours"),
        help_text=_("For example: the last payment's date and amount, a project's name, or that you can send an ID document on request."),
    )
