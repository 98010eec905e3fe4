"""Opening an account (ACC-1): registration, its documents, the email's verification."""


from allauth.account.models import EmailAddress
from django.contrib.auth.password_validation import validate_password
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.utils import timezone

from accounts.audit_actions import Audit
from accounts.models import (
    Client,
    normalize_email,
)
from accounts.services.preferences import is_language
from compliance.models import LegalDocument
from compliance.selectors import current_documents
from compliance.services import accept_documents, record
from core.exceptions import RuleRefused

REGISTRATION_DOCUMENTS = [LegalDocument.Kind.TERMS, LegalDocument.Kind.PRIVACY]


# --- registration -------------------------------------------------------------------------------


def registration_errors(*, name: str, email: str, password: str | None, accept_terms: bool, age_confirmed: bool) -> dict:
    """Field-by-field reasons a registration is refused (ACC-1); empty when it may go ahead.
    Shared by the API serializer and the dashboard form so both say the same."""
    errors: dict[str, list[str]] = {}
    if not (name or "").strip():
        errors["name"] = ["Enter your name."]
    if Client.objects.filter(email=normalize_email(email)).exists():
        errors["email"] = ["An account with this email already exists."]
    if accept_terms is not True:
        errors["accept_terms"] = ["You must accept the Terms of Use and the Privacy Policy."]
    if age_confirmed is not True:
        errors["age_confirmed"] = ["You must confirm that you are 16 or older."]
    if password is not None:  # None: a social sign-up, which has no password of ours
        try:
            validate_password(password, Client(email=normalize_email(email), name=name or ""))
        except ValidationError as exc:
            errors["password"] = list(exc.messages)
    return errors


@transaction.atomic
def register_client(
    *, name: str, email: str, password: str | None, accept_terms: bool, age_confirmed: bool, via: str = "api",
    language: str = "",
) -> Client:
    """Open an account (ACC-1, TAR-1): on Free, with the current Terms and Privacy versions
    accepted and the age confirmation recorded. The verification email is the caller's to send
    (it needs the request to build the link): `send_email_verification`. `language`: the one the
    client registered in (the request's), its dashboard's and emails' until it chooses another;
    empty, the browser's decides (NTF-1)."""
    errors = registration_errors(
        name=name, email=email, password=password, accept_terms=accept_terms, age_confirmed=age_confirmed
    )
    if errors:
        raise ValidationError(errors)
    documents = current_documents(kinds=REGISTRATION_DOCUMENTS)
    if len(documents) != len(REGISTRATION_DOCUMENTS):
        raise RuleRefused("legal_documents_missing", "Registration is closed until the Terms and Privacy Policy are published.")
    now = timezone.now()
    try:
        with transaction.atomic():
            client = Client.objects.create_user(
                email=email, password=password, name=name.strip(), age_confirmed_at=now, tariff=Client.Tariff.FREE,
                language=language if is_language(language) else "",
            )
    except IntegrityError:
        # Two registrations raced for one address: the database's unique index decided.
        raise ValidationError({"email": ["An account with this email already exists."]}) from None
    EmailAddress.objects.create(user=client, email=client.email, primary=True, verified=False)
    accept_documents(client=client, documents=documents)
    record(action=Audit.REGISTERED, actor=client, target=client, client=client, details={"via": via})
    return client


def send_email_verification(*, request, client: Client) -> None:
    """Mail the link that verifies the client's primary address (allauth's confirmation)."""
    address = EmailAddress.objects.filter(user=client, email=client.email).first()
    if address is not None and not address.verified:
        address.send_confirmation(request, signup=True)


@transaction.atomic
def mark_email_verified(*, client: Client, email: str) -> None:
    """The client followed the verification link for `email` (ACC-1)."""
    client = Client.objects.select_for_update().get(pk=client.pk)
    if client.email != normalize_email(email) or client.email_verified_at is not None:
        return
    client.email_verified_at = timezone.now()
    client.save(update_fields=["email_verified_at"])
    record(action=Audit.EMAIL_VERIFIED, actor=client, target=client, client=client)
