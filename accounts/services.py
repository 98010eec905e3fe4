"""Every write about clients: registration, sign-in, state and blocks, API keys, 2FA, recovery.

Each service runs in one transaction, writes its audit entry in it (CMP-5) and raises
`RuleRefused` or a field `ValidationError` before writing anything when it refuses.
"""

import hashlib
import hmac
import math
import secrets
from datetime import datetime

from allauth.account.forms import default_token_generator
from allauth.account.models import EmailAddress
from allauth.account.utils import user_pk_to_url_str
from allauth.mfa.models import Authenticator
from allauth.mfa.recovery_codes.internal.auth import RecoveryCodes
from allauth.mfa.totp.internal.auth import TOTP
from django.conf import settings
from django.contrib.auth import authenticate
from django.contrib.auth.password_validation import validate_password
from django.core.cache import cache
from django.core.exceptions import ValidationError
from django.core.mail import send_mail
from django.db import IntegrityError, transaction
from django.urls import reverse
from django.utils import timezone

from accounts.audit_actions import Audit
from accounts.models import (
    AccessRecoveryRequest,
    AccountStateChange,
    ApiKey,
    Client,
    normalize_email,
)
from compliance.audit import audit_row, record_rows, target_of
from compliance.models import LegalDocument
from compliance.selectors import current_documents
from compliance.services import accept_documents, erase_or_hold, record
from core.bulk import insert
from core.exceptions import RuleRefused
from core.request_context import current_request

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
    *, name: str, email: str, password: str | None, accept_terms: bool, age_confirmed: bool, via: str = "api"
) -> Client:
    """Open an account (ACC-1, TAR-1): on Free, with the current Terms and Privacy versions
    accepted and the age confirmation recorded. The verification email is the caller's to send
    (it needs the request to build the link): `send_email_verification`."""
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
                email=email, password=password, name=name.strip(), age_confirmed_at=now, tariff=Client.Tariff.FREE
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


# --- sign-in and lockout (ACC-2) ----------------------------------------------------------------


def _count(key: str, *, timeout: int) -> int:
    """Add one to a shared counter (atomic on Redis) that starts at 0 and expires after timeout."""
    cache.add(key, 0, timeout=timeout)
    try:
        return cache.incr(key)
    except ValueError:  # expired between add and incr
        cache.set(key, 1, timeout=timeout)
        return 1


def _lockout_keys(email: str) -> tuple[str, str]:
    digest = hashlib.sha256(normalize_email(email).encode()).hexdigest()[:32]
    return f"signin-failures:{digest}", f"signin-lock:{digest}"


def sign_in_lockout_remaining(*, email: str) -> int:
    """Seconds left of the lockout for this email, 0 when sign-in is open."""
    _, lock_key = _lockout_keys(email)
    until = cache.get(lock_key)
    if until is None:
        return 0
    return max(0, int(until - timezone.now().timestamp()) + 1)


def note_failed_sign_in(*, email: str) -> None:
    """Count a failed sign-in; the LOGIN_FAILURE_LIMIT-th within the window locks the email."""
    failures_key, lock_key = _lockout_keys(email)
    window = settings.LOGIN_LOCKOUT_SECONDS
    failures = _count(failures_key, timeout=window)
    if failures >= settings.LOGIN_FAILURE_LIMIT:
        cache.set(lock_key, timezone.now().timestamp() + window, timeout=window)
        cache.delete(failures_key)
        client = Client.objects.filter(email=normalize_email(email)).first()
        if client is not None:
            record(action=Audit.SIGN_IN_LOCKED, target=client, client=client, details={"seconds": window})


def clear_failed_sign_ins(*, email: str) -> None:
    failures_key, _ = _lockout_keys(email)
    cache.delete(failures_key)


def lockout_refusal(seconds: int) -> RuleRefused:
    minutes = max(1, round(seconds / 60))
    return RuleRefused(
        "sign_in_locked",
        f"Too many failed sign-ins. Try again in about {minutes} minute{'s' if minutes != 1 else ''}.",
        status=429,
        retry_after=seconds,
    )


def verify_second_factor(*, client: Client, code: str) -> bool:
    """A TOTP code or an unused recovery code of the client's (ACC-2)."""

    code = (code or "").strip()
    if not code:
        return False
    for authenticator in Authenticator.objects.filter(user=client):
        if authenticator.type == Authenticator.Type.TOTP and TOTP(authenticator).validate_code(code):
            return True
        if authenticator.type == Authenticator.Type.RECOVERY_CODES and RecoveryCodes(authenticator).validate_code(code):
            return True
    return False


def has_two_factor(client: Client) -> bool:
    return Authenticator.objects.filter(user=client, type=Authenticator.Type.TOTP).exists()


def issue_token(*, request, email: str, password: str, otp: str = "") -> tuple[ApiKey, str]:
    """Exchange email, password and, with 2FA on, a code for a new API key named `token`
    (ACC-2, ACC-5). Locked-out emails are refused before the password is even checked."""
    if remaining := sign_in_lockout_remaining(email=email):
        raise lockout_refusal(remaining)
    client = authenticate(request, email=email, password=password)
    if client is None:
        if remaining := sign_in_lockout_remaining(email=email):
            raise lockout_refusal(remaining)
        raise RuleRefused("invalid_credentials", "The email or the password is wrong.", status=401)
    if has_two_factor(client):
        if not otp:
            raise RuleRefused("otp_required", "Two-factor authentication is on: send the code as `otp`.", status=401)
        if not verify_second_factor(client=client, code=otp):
            note_failed_sign_in(email=email)
            raise RuleRefused("otp_invalid", "The two-factor code is wrong or already used.", status=401)
    return create_api_key(client=client, name="token", actor=client)


# --- API keys (ACC-5) -----------------------------------------------------------------------------

API_KEY_PREFIX = "ak"


def _api_key_digest(secret: str) -> str:
    return hmac.new(settings.SECRET_KEY.encode(), secret.encode(), hashlib.sha256).hexdigest()


@transaction.atomic
def create_api_key(*, client: Client, name: str, actor: Client | None) -> tuple[ApiKey, str]:
    """Make a named key and return it with its full secret, which is never stored or shown again."""
    name = (name or "").strip()
    if not name:
        raise ValidationError({"name": ["Give the key a name."]})
    for _ in range(3):
        prefix = secrets.token_hex(5)
        secret = secrets.token_urlsafe(32)
        try:
            with transaction.atomic():
                api_key = ApiKey.objects.create(client=client, name=name[:100], prefix=prefix, digest=_api_key_digest(secret))
            break
        except IntegrityError:  # prefix collision: draw again
            continue
    else:
        raise RuntimeError("Could not draw a unique API key prefix.")
    record(action=Audit.API_KEY_CREATED, actor=actor, target=api_key, client=client, details={"name": api_key.name})
    return api_key, f"{API_KEY_PREFIX}_{prefix}_{secret}"


def api_key_for_secret(key: str) -> ApiKey | None:
    """The live key this full key string names, or None (unknown, wrong secret or revoked)."""
    parts = (key or "").split("_", 2)
    if len(parts) != 3 or parts[0] != API_KEY_PREFIX:
        return None
    api_key = ApiKey.objects.select_related("client").filter(prefix=parts[1]).first()
    if api_key is None or api_key.is_revoked:
        return None
    if not hmac.compare_digest(api_key.digest, _api_key_digest(parts[2])):
        return None
    return api_key


def note_api_key_used(api_key: ApiKey) -> None:
    # One write a minute at most: a busy key must not turn every request into an UPDATE.
    now = timezone.now()
    if api_key.last_used_at is None or (now - api_key.last_used_at).total_seconds() > 60:
        ApiKey.objects.filter(pk=api_key.pk).update(last_used_at=now)
        api_key.last_used_at = now


@transaction.atomic
def revoke_api_key(*, api_key: ApiKey, actor: Client | None) -> ApiKey:
    """Revoke a key for good; it answers 401 from the next request on. Revoking twice is a no-op."""
    api_key = ApiKey.objects.select_for_update().get(pk=api_key.pk)
    if api_key.revoked_at is not None:
        return api_key
    api_key.revoked_at = timezone.now()
    api_key.save(update_fields=["revoked_at"])
    record(action=Audit.API_KEY_REVOKED, actor=actor, target=api_key, client=api_key.client, details={"name": api_key.name})
    return api_key


def api_key_request_wait(api_key: ApiKey) -> int:
    """Count one request of this key against its per-minute limit (ACC-5). Returns 0 when it may
    go ahead, else the seconds to wait.

    The limit holds over any 60 seconds, not per clock minute (a generic cell rate: a key may
    spend its whole minute at once, then one request per 60/limit seconds), so a burst across a
    minute boundary cannot pass twice the limit. The first time a key is refused it waits for its
    next slot; each further refusal within the hour locks it for 60 s more, up to 720 s."""
    now_us = int(timezone.now().timestamp() * 1_000_000)
    lock_key = f"apikey-lock:{api_key.pk}"
    if (locked_until := cache.get(lock_key)) is not None and locked_until > now_us:
        return math.ceil((locked_until - now_us) / 1_000_000)
    window_us = 60_000_000
    interval_us = window_us // max(1, api_key.rate_limit_per_minute)
    tat_key = f"apikey-tat:{api_key.pk}"  # the theoretical arrival time of the next request
    tat = max(cache.get(tat_key) or now_us, now_us)
    allowed_at = tat + interval_us - window_us
    if now_us >= allowed_at:
        cache.set(tat_key, tat + interval_us, timeout=120)
        return 0
    strikes_key = f"apikey-strikes:{api_key.pk}"
    strikes = _count(strikes_key, timeout=3600)
    cache.touch(strikes_key, 3600)  # a key is forgiven an hour after its last overrun, not its first
    if strikes == 1:
        return max(1, math.ceil((allowed_at - now_us) / 1_000_000))
    lock_seconds = min(settings.API_KEY_LOCK_STEP_SECONDS * (strikes - 1), settings.API_KEY_LOCK_MAX_SECONDS)
    cache.set(lock_key, now_us + lock_seconds * 1_000_000, timeout=lock_seconds)
    record(
        action=Audit.API_KEY_LOCKED, target=api_key, client=api_key.client,
        details={"seconds": lock_seconds, "limit_per_minute": api_key.rate_limit_per_minute},
    )
    return lock_seconds


# --- account state (ACC-3) ----------------------------------------------------------------------


def _change_states(
    clients: list[Client], *, to_status: str, actor: Client | None, reason: str = "", until: datetime | None = None, note: str = ""
) -> list[Client]:
    """Move locked client rows to one state, each with its history row and audit entry: a few
    statements whatever their number (a night chunk's, or a request's one)."""
    if not clients:
        return clients
    actor = actor if getattr(actor, "is_authenticated", False) else None
    block_reason = reason if to_status == Client.Status.BLOCKED else ""
    blocked_until = until if to_status == Client.Status.BLOCKED else None
    history, audit = [], []
    for client in clients:
        from_status = client.status
        client.status, client.block_reason, client.blocked_until = to_status, block_reason, blocked_until
        history.append(AccountStateChange(client_id=client.pk, from_status=from_status, to_status=to_status, reason=reason, until=until,
                                          actor=actor, note=note))
        audit.append(audit_row(
            action=Audit.ACCOUNT_STATE[to_status], actor=actor, client_id=client.pk, **target_of(client),
            details={"from": from_status, "to": to_status, "reason": reason, "until": until.isoformat() if until else None, "note": note},
        ))
    Client.objects.filter(pk__any_of=[c.pk for c in clients]).update(status=to_status, block_reason=block_reason, blocked_until=blocked_until)
    insert(history)
    record_rows(audit)
    return clients


def _change_state(
    *, client: Client, to_status: str, actor: Client | None, reason: str = "", until: datetime | None = None, note: str = ""
) -> Client:
    """Move a locked client row to a state, with its history row and audit entry."""
    return _change_states([client], to_status=to_status, actor=actor, reason=reason, until=until, note=note)[0]


def _locked(client: Client) -> Client:
    return Client.objects.select_for_update().get(pk=client.pk)


def _locked_many(client_ids: list[int]) -> list[Client]:
    return list(Client.objects.select_for_update().filter(pk__any_of=sorted(set(client_ids))).order_by("pk"))


@transaction.atomic
def block(
    *, client: Client, reason: str, until: datetime | None = None, actor: Client | None = None, note: str = ""
) -> Client:
    """Block an account (ACC-3) for a reason, until a time or (until=None) for good. Blocking an
    account already blocked for the same reason and end changes nothing."""
    block_many([client.pk], reason=reason, until=until, actor=actor, note=note)
    return Client.objects.get(pk=client.pk)


@transaction.atomic
def block_many(
    client_ids: list[int], *, reason: str, until: datetime | None = None, actor: Client | None = None, note: str = ""
) -> list[int]:
    """`block` for many accounts at once (the night's second failed collections, DUN-3): the ones
    blocked now. Refused for all if any of them is deleted."""
    if reason not in Client.BlockReason.values:
        raise ValidationError({"reason": [f"Unknown block reason {reason!r}."]})
    if until is not None and until <= timezone.now():
        raise ValidationError({"until": ["The end of a block must lie in the future."]})
    clients = _locked_many(client_ids)
    if any(c.status == Client.Status.DELETED for c in clients):
        raise RuleRefused("account_deleted", "A deleted account cannot be blocked.")
    changing = [c for c in clients if not (c.status == Client.Status.BLOCKED and c.block_reason == reason and c.blocked_until == until)]
    _change_states(changing, to_status=Client.Status.BLOCKED, actor=actor, reason=reason, until=until, note=note)
    return [c.pk for c in changing]


@transaction.atomic
def unblock(*, client: Client, actor: Client | None = None, reason: str | None = None, note: str = "") -> Client:
    """Lift the block (ACC-3). With `reason`, only a block for that reason is lifted, so that
    paying a debt does not lift a block for abuse. Unblocking an unblocked account is a no-op."""
    client = _locked(client)
    if client.status != Client.Status.BLOCKED or (reason is not None and client.block_reason != reason):
        return client
    return _change_state(client=client, to_status=Client.Status.ACTIVE, actor=actor, note=note)


@transaction.atomic
def suspend(*, client: Client, actor: Client | None = None, note: str = "") -> Client:
    """Suspend an active account for unpaid fees (ACC-3, DUN-2). A blocked account stays blocked."""
    suspend_many([client.pk], actor=actor, note=note)
    return Client.objects.get(pk=client.pk)


@transaction.atomic
def suspend_many(client_ids: list[int], *, actor: Client | None = None, note: str = "") -> list[int]:
    """`suspend` for many accounts at once (the night's first failed collections, DUN-2): the
    active ones are suspended; returns them."""
    changing = [c for c in _locked_many(client_ids) if c.status == Client.Status.ACTIVE]
    _change_states(changing, to_status=Client.Status.SUSPENDED, actor=actor, note=note)
    return [c.pk for c in changing]


@transaction.atomic
def lift_suspension(*, client: Client, actor: Client | None = None, note: str = "") -> Client:
    client = _locked(client)
    if client.status != Client.Status.SUSPENDED:
        return client
    return _change_state(client=client, to_status=Client.Status.ACTIVE, actor=actor, note=note)


def lift_expired_blocks() -> int:
    """End every timed block whose end has passed (ACC-3); each client in its own transaction.
    Returns how many were lifted."""
    lifted = 0
    now = timezone.now()
    due = Client.objects.filter(status=Client.Status.BLOCKED, blocked_until__lte=now).values_list("pk", flat=True)
    for pk in due.iterator():
        with transaction.atomic():
            client = _locked(Client(pk=pk))
            if client.status == Client.Status.BLOCKED and client.blocked_until is not None and client.blocked_until <= now:
                _change_state(client=client, to_status=Client.Status.ACTIVE, actor=None, note="The block's time ran out.")
                lifted += 1
    return lifted


def delete_account(*, client: Client, password: str, actor: Client) -> Client:
    """The client deletes its account (DEA-5): it can no longer sign in and its keys stop working;
    then any debt is charged to the card and its personal data erased (CMP-2), keeping what tax,
    accounting or an open dispute needs — or, while a debt remains, an erasure request waits for
    staff. The email can register again once erased."""

    client = _close_account(client=client, password=password, actor=actor)
    erase_or_hold(client=client, actor=actor)
    client.refresh_from_db()
    return client


@transaction.atomic
def _close_account(*, client: Client, password: str, actor: Client) -> Client:
    if not client.check_password(password or ""):
        raise ValidationError({"password": ["The password is wrong."]})
    return close_account(client=client, actor=actor, note="Deleted by the client.")


@transaction.atomic
def close_account(*, client: Client, actor: Client | None, note: str) -> Client:
    """DEA-5, CMP-2: the account closes (it can no longer sign in, its keys stop working), with its
    state history and audit entry, whoever closes it: the client deleting it, or staff granting
    its erasure. Closing a closed account changes nothing."""
    client = _locked(client)
    if client.status == Client.Status.DELETED:
        return client
    ApiKey.objects.filter(client=client, revoked_at__isnull=True).update(revoked_at=timezone.now())
    client.is_active = False
    client.save(update_fields=["is_active"])
    return _change_state(client=client, to_status=Client.Status.DELETED, actor=actor, note=note)


# --- two-factor authentication (ACC-2) ------------------------------------------------------------


@transaction.atomic
def turn_off_two_factor(*, client: Client, actor: Client | None, note: str = "") -> bool:
    """Remove every second factor of the client (ToU 6.3, 6.4): by the client, or by staff on the
    client's request. Returns whether there was any."""
    removed, _ = Authenticator.objects.filter(user=client).delete()
    if removed:
        record(action=Audit.TWO_FACTOR_DISABLED, actor=actor, target=client, client=client, details={"note": note})
    return bool(removed)


def note_two_factor_change(*, client: Client, enabled: bool, kind: str) -> None:
    """Audit a second factor the client added or removed through the dashboard (allauth)."""
    record(
        action=Audit.TWO_FACTOR_ENABLED if enabled else Audit.TWO_FACTOR_REMOVED,
        actor=client, target=client, client=client, details={"type": kind},
    )


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
    is mailed to the contact address."""
    recovery = _open_recovery(recovery)
    client = recovery.client
    if client is None or client.status == Client.Status.DELETED:
        raise RuleRefused("recovery_no_account", "No live account has this email; refuse the request instead.")
    client = _locked(client)
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
