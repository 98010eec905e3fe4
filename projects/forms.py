"""The dashboard's project forms: shapes only; the services say what is allowed."""

import csv
import io

from django import forms
from django.utils.translation import gettext_lazy as _

from projects.access import SECTIONS, Level, Section
from projects.models import Industry


class ProjectForm(forms.Form):
    name = forms.CharField(max_length=120)
    industry = forms.ChoiceField(choices=Industry.choices, initial=Industry.OTHER,
                                 help_text=_("Some industries wait for staff review before the project may send (PRJ-7)."))


class SubscriberForm(forms.Form):
    name = forms.CharField(max_length=200, required=False)
    email = forms.CharField(max_length=254, required=False)
    phone = forms.CharField(max_length=40, required=False, help_text=_("International, e.g. +4915112345678."))
    consent = forms.BooleanField(label=_("The person consented to receive messages."))


class MemberForm(forms.Form):
    email = forms.EmailField(max_length=254)

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        for section in SECTIONS:
            self.fields[section] = forms.ChoiceField(choices=Level.choices, initial=Level.NONE, label=Section(section).label)

    def access(self) -> dict[str, str]:
        return {section: self.cleaned_data[section] for section in SECTIONS}


class AddressBookForm(forms.Form):
    name = forms.CharField(max_length=120, label=_("Name of the address book"))


# An upload holds up to IMPORT_MAX_ROWS rows; a row is rarely over 100 bytes.
UPLOAD_MAX_BYTES = 5 * 1024 * 1024


class ContactUploadForm(forms.Form):
    """An address book's CSV file (a header of name, email, phone in any order, any of them
    left out) read into the rows an import takes; the import checks each row (PRJ-5)."""

    file = forms.FileField(label=_("CSV file"), help_text=_("A header row naming the columns name, email and phone; up to 10,000 rows."))
    consent_confirmed = forms.BooleanField(label=_("Every person in this file consented to receive messages (ToU 10.2)."))

    def clean_file(self) -> list[dict]:
        upload = self.cleaned_data["file"]
        if upload.size > UPLOAD_MAX_BYTES:
            raise forms.ValidationError(_("The file is over 5 MB; split it into smaller ones."))
        data = upload.read()
        if b"\x00" in data:
            raise forms.ValidationError(_("This is not a text file (it holds NUL bytes); save it as CSV."))
        try:
            text = data.decode("utf-8-sig")
        except UnicodeDecodeError:
            raise forms.ValidationError(_("The file is not UTF-8 text; save it as CSV in UTF-8.")) from None
        try:
            reader = csv.DictReader(io.StringIO(text, newline=""), restkey="_extra")
            header = [name.strip().lower() for name in reader.fieldnames or []]
            if not {"name", "email", "phone"} & set(header):
                raise forms.ValidationError(_("The first row must name the columns: name, email, phone."))
            reader.fieldnames = header
            rows = []
            for row in reader:
                rows.append({key: (row.get(key) or "").strip() for key in ("name", "email", "phone")})
        except csv.Error as exc:
            raise forms.ValidationError(_("The file is not valid CSV: %(error)s"), params={"error": exc}) from None
        if not rows:
            raise forms.ValidationError(_("The file has a header but no rows."))
        return rows
