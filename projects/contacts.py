"""Checking the contacts clients hand us (PRJ-5): one email, one phone, one role-address rule for
the API, the pop-up form and imports alike. Pure functions: no database here."""

import phonenumbers
from django.core.exceptions import ValidationError
from django.core.validators import validate_email
from django.utils.translation import gettext_noop

from accounts.models import normalize_email

# Addresses of a function rather than a person: nobody behind them consented (ToU 21.2, 21.3).
ROLE_LOCAL_PARTS = frozenset(
    {
        "abuse", "accounts", "admin", "administrator", "billing", "careers", "contact", "contactus",
        "do-not-reply", "donotreply", "enquiries", "feedback", "help", "helpdesk", "hello", "hostmaster",
        "hr", "info", "inquiries", "jobs", "legal", "mail", "mailer-daemon", "marketing", "media",
        "newsletter", "no-reply", "noreply", "office", "postmaster", "press", "privacy", "root",
        "sales", "security", "service", "support", "team", "webmaster",
    }
)


class Reason:
    """Why a row was refused, as the import answers it (`{row, reason}`)."""

    INVALID_ROW = "invalid_row"
    MISSING_CONTACT = "missing_contact"
    INVALID_EMAIL = "invalid_email"
    INVALID_PHONE = "invalid_phone"
    ROLE_ADDRESS = "role_address"
    DUPLICATE_IN_FILE = "duplicate_in_file"
    ALREADY_IN_PROJECT = "already_in_project"

    # Plain str, marked for extraction: translated where shown (`projects.imports`).
    SENTENCES = {
        INVALID_ROW: gettext_noop("The row is not an object of name, email and phone."),
        MISSING_CONTACT: gettext_noop("The row is empty: give a name, an email or a phone number."),
        INVALID_EMAIL: gettext_noop("The email address is not valid."),
        INVALID_PHONE: gettext_noop("The phone number is not valid; use the international form, e.g. +4915112345678."),
        ROLE_ADDRESS: gettext_noop("A role address (info@, support@ and the like) belongs to no one who could consent."),
        DUPLICATE_IN_FILE: gettext_noop("The same email or phone appears on an earlier row."),
        ALREADY_IN_PROJECT: gettext_noop("This email or phone is already here."),
    }


def is_role_address(email: str) -> bool:
    local = email.split("@", 1)[0].lower()
    return local in ROLE_LOCAL_PARTS or local.split("+", 1)[0] in ROLE_LOCAL_PARTS


def clean_email(value: str) -> str:
    """The address in its one spelling, or ValidationError."""
    email = normalize_email(value)
    validate_email(email)
    return email


def clean_phone(value: str) -> str:
    """The number in E.164 (`+4915112345678`), or ValidationError. Numbers are international:
    without a country code there is no telling whose number it is."""
    raw = (value or "").strip()
    try:
        number = phonenumbers.parse(raw, None)
    except phonenumbers.NumberParseException:
        raise ValidationError("Not a phone number.") from None
    # Possible for its country (length and country code), the check made at 10,000 rows an
    # import; whether a line is in service no library can tell anyway.
    if not phonenumbers.is_possible_number(number):
        raise ValidationError("Not a valid phone number.")
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


def check_contact(row) -> tuple[dict | None, str | None]:
    """One uploaded row → (`{name, email, phone}` cleaned, None) or (None, reason)."""
    if not isinstance(row, dict):
        return None, Reason.INVALID_ROW
    name, email, phone = row.get("name") or "", row.get("email") or "", row.get("phone") or ""
    if not all(isinstance(v, str) for v in (name, email, phone)) or len(name) > 200:
        return None, Reason.INVALID_ROW
    if not name.strip() and not email.strip() and not phone.strip():
        return None, Reason.MISSING_CONTACT
    if email.strip():
        try:
            email = clean_email(email)
        except ValidationError:
            return None, Reason.INVALID_EMAIL
        if is_role_address(email):
            return None, Reason.ROLE_ADDRESS
    if phone.strip():
        try:
            phone = clean_phone(phone)
        except ValidationError:
            return None, Reason.INVALID_PHONE
    return {"name": name.strip(), "email": email, "phone": phone}, None
