"""Sign-in (ACC-2): the lockout after failed sign-ins, the second factor, tokens for the API."""

import hashlib

from allauth.mfa.models import Authenticator
from allauth.mfa.recovery_codes.internal.auth import RecoveryCodes
from allauth.mfa.totp.internal.auth import TOTP
from django.conf import settings
from django.contrib.auth import authenticate
from django.core.cache import cache
from django.db import transaction
from django.utils import timezone

from accounts.audit_actions import Audit
from accounts.models import (
    ApiKey,
    Client,
    normalize_email,
)
from accounts.services.api_keys import sign_in_key
from accounts.services.counters import count
from compliance.services import record
from core.exceptions import RuleRefused

# --- sign-in and lockout (ACC-2) ----------------------------------------------------------------


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
    failures = count(failures_key, timeout=window)
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
    return sign_in_key(client=client, name="token", actor=client)  # a blocked client signs in too (ACC-3)



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
