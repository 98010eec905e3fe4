"""The dashboard's project forms: shapes only; the services say what is allowed."""

from django import forms

from projects.access import SECTIONS, Level, Section
from projects.models import Industry


class ProjectForm(forms.Form):
    name = forms.CharField(max_length=120)
    industry = forms.ChoiceField(choices=Industry.choices, initial=Industry.OTHER,
                                 help_text="Some industries wait for staff review before the project may send (PRJ-7).")


class SubscriberForm(forms.Form):
    name = forms.CharField(max_length=200, required=False)
    email = forms.CharField(max_length=254, required=False)
    phone = forms.CharField(max_length=40, required=False, help_text="International, e.g. +4915112345678.")
    consent = forms.BooleanField(label="The person consented to receive messages.")


class MemberForm(forms.Form):
    email = forms.EmailField(max_length=254)

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        for section in SECTIONS:
            self.fields[section] = forms.ChoiceField(choices=Level.choices, initial=Level.NONE, label=Section(section).label)

    def access(self) -> dict[str, str]:
        return {section: self.cleaned_data[section] for section in SECTIONS}
