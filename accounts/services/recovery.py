"""Access recovery without the password (ACC-4), decided by staff."""


from allauth.account.forms import default_token_generator
from allauth.account.models import EmailAddress
from allauth.account.utils import user_pk_to_url_str
from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.mail import send_mail
from django.db import transaction
from django.urls import reverse
from django.utils import timezone

from accounts.audit_actions import Audit
from accounts.models import (
    AccessRecoveryRequest,
    Client,
    normalize_email,
)
from accounts.services.signin import turn_off_two_factor
from compliance.services import record
from core.exceptions import RuleRefused
from core.request_context import current_request

# --- access recovery (ACC-4) --------------------------------------------------------------------


@transaction.atomic
def request_access_recovery(*, account_email: str, contact_email: str, proof: str) -> AccessRecoveryRequest:
    """File a request to regain an account without its password, for staff to decide (ACC-4).
    The answer never reveals whether the email has an account."""
    if not (proof or "").strip():
        raise ValidationError({"proof": ["Describe how you can prove the account is yours."]})
    account_email = normalize_email(account_email)
    client = Client.objects.filter(email=account_email).first()
    recovery = AccessRecoveryRequest.objects.create(
        account_email=account_email, contact_email=normalize_email(contact_email), proof=proof.strip(), client=client,
        ip=getattr(current_request(), "ip", None),
    )
    record(action=Audit.ACCESS_RECOVERY_REQUESTED, target=recovery, client=client)
    return recovery


def _open_recovery(recovery: AccessRecoveryRequest) -> AccessRecoveryRequest:
    recovery = AccessRecoveryRequest.objects.select_for_update().get(pk=recovery.pk)
    if recovery.status != AccessRecoveryRequest.Status.OPEN:
        raise RuleRefused("recovery_already_decided", "This request has already been decided.")
    return recovery


def _mark_decided(recovery: AccessRecoveryRequest, *, status: str, actor: Client, note: str) -> None:
    recovery.status = status
    recovery.handled_by = actor
    recovery.handled_at = timezone.now()
    recovery.staff_note = note
    recovery.save(update_fields=["status", "handled_by", "handled_at", "staff_note"])


@transaction.atomic
def approve_access_recovery(
    *, recovery: AccessRecoveryRequest, actor: Client, note: str = "", base_url: str, turn_off_2fa: bool = True
) -> AccessRecoveryRequest:
    """Staff accept the proof (ACC-4): the account's email becomes the contact address (to be
    verified again), its second factors are removed, and a one-time link to set a new password
    is mailed to the contact address. A staff account only by a superuser
    (`recovery_staff_account`)."""
    recovery = _open_recovery(recovery)
    client = recovery.client
    if client is None or client.status == Client.Status.DELETED:
        raise RuleRefused("recovery_no_account", "No live account has this email; refuse the request instead.")
    client = Client.objects.select_for_update().get(pk=client.pk)
    if (client.is_staff or client.is_superuser) and not actor.is_superuser:
        # A staff account recovered by a colleague would hand the console (and, for a superuser,
        # every permission) to whoever wrote the request: only a superuser may do it.
        raise RuleRefused("recovery_staff_account", "A staff account's access is restored by a superuser only.", status=403)
    if recovery.contact_email != client.email:
        if Client.objects.filter(email=recovery.contact_email).exclude(pk=client.pk).exists():
            raise RuleRefused("recovery_email_taken", "The contact email belongs to another account.")
        old_email = client.email
        client.email = recovery.contact_email
        client.email_verified_at = None
        client.save(update_fields=["email", "email_verified_at"])
        EmailAddress.objects.filter(user=client).delete()
        EmailAddress.objects.create(user=client, email=client.email, primary=True, verified=False)
        record(action=Audit.EMAIL_CHANGED, actor=actor, target=client, client=client, details={"from": old_email, "to": client.email})
    if turn_off_2fa:
        turn_off_two_factor(client=client, actor=actor, note=f"Access recovery #{recovery.pk}")
    _mark_decided(recovery, status=AccessRecoveryRequest.Status.APPROVED, actor=actor, note=note)
    record(action=Audit.ACCESS_RECOVERY_APPROVED, actor=actor, target=recovery, client=client, details={"note": note})
    link = base_url.rstrip("/") + reverse(
        "account_reset_password_from_key",
        kwargs={"uidb36": user_pk_to_url_str(client), "key": default_token_generator.make_token(client)},
    )
    transaction.on_commit(
        lambda: send_mail(
            f"{settings.ACCOUNT_EMAIL_SUBJECT_PREFIX}Your access has been restored",
            f"Our staff checked your request and restored your access.\n\nSet a new password here: {link}\n",
            None,
            [client.email],
        )
    )
    return recovery


@transaction.atomic
def refuse_access_recovery(*, recovery: AccessRecoveryRequest, actor: Client, note: str = "") -> AccessRecoveryRequest:
    recovery = _open_recovery(recovery)
    _mark_decided(recovery, status=AccessRecoveryRequest.Status.REFUSED, actor=actor, note=note)
    record(action=Audit.ACCESS_RECOVERY_REFUSED, actor=actor, target=recovery, client=recovery.client, details={"note": note})
    transaction.on_commit(
        lambda: send_mail(
            f"{settings.ACCOUNT_EMAIL_SUBJECT_PREFIX}About your access recovery request",
            "We could not confirm that the account is yours, so we did not restore access."
            + (f"\n\n{note}" if note else ""),
            None,
            [recovery.contact_email],
        )
    )
    return recovery
