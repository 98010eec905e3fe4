"""The dashboard's forms for a project's bot and its broadcasts: shapes only; the services say what
is allowed (MSG-1)."""

from django import forms
from django.utils.translation import gettext_lazy as _

from projects.funnels.spec import MAX_TEXT

DATETIME_LOCAL = "%Y-%m-%dT%H:%M"


class BotTokenForm(forms.Form):
    """The token @BotFather gave. Never shown back: the field is empty on every page."""

    token = forms.CharField(max_length=128, label=_("Bot token"), strip=True,
                            widget=forms.PasswordInput(render_value=False, attrs={"autocomplete": "off", "spellcheck": "false",
                                                                                  "autocapitalize": "off", "placeholder": "123456:ABC-DEF…"}),
                            help_text=_("From @BotFather in Telegram. It is stored encrypted and never shown again."))


class BroadcastForm(forms.Form):
    text = forms.CharField(max_length=MAX_TEXT, label=_("Message"), widget=forms.Textarea(attrs={"rows": 4}))
    tag = forms.CharField(max_length=64, required=False, label=_("Only subscribers with the tag"),
                          help_text=_("Empty: every active subscriber."),
                          widget=forms.TextInput(attrs={"autocapitalize": "off", "placeholder": _("e.g. customer")}))
    send_at = forms.DateTimeField(required=False, label=_("Send at (UTC)"), input_formats=[DATETIME_LOCAL, "%Y-%m-%dT%H:%M:%S"],
                                  widget=forms.DateTimeInput(attrs={"type": "datetime-local"}, format=DATETIME_LOCAL),
                                  help_text=_("Empty: now."))

    def clean_text(self) -> str:
        return self.cleaned_data["text"].replace("\r\n", "\n").replace("\r", "\n")
