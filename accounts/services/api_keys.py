"""API keys (ACC-5): created and revoked, found by their secret, and their rate limit."""

import hashlib
import hmac
import math
import secrets

from django.conf import settings
from django.core.cache import cache
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.utils import timezone

from accounts.audit_actions import Audit
from accounts.models import (
    ApiKey,
    Client,
)
from accounts.selectors import check_may
from accounts.services.counters import count
from accounts.states import Act
from compliance.services import record

# --- API keys (ACC-5) -----------------------------------------------------------------------------

API_KEY_PREFIX = "ak"


def _api_key_digest(secret: str) -> str:
    return hmac.new(settings.SECRET_KEY.encode(), secret.encode(), hashlib.sha256).hexdigest()


def create_api_key(*, client: Client, name: str, actor: Client | None) -> tuple[ApiKey, str]:
    """Make a named key and return it with its full secret, which is never stored or shown again.
    A blocked account makes none (ACC-3); it signs in all the same (`sign_in_key`) and may revoke
    its keys, which only takes access away."""
    check_may(client, Act.CREATE_API_KEY)
    return sign_in_key(client=client, name=name, actor=actor)


@transaction.atomic
def sign_in_key(*, client: Client, name: str, actor: Client | None) -> tuple[ApiKey, str]:
    """A new key for a client that signed in (ACC-2), blocked or not: how `create_api_key` makes
    one once it may."""
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
    strikes = count(strikes_key, timeout=3600)
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


API_KEY_LIMIT_MAX = 100_000


@transaction.atomic
def set_api_key_limit(*, api_key: ApiKey, limit: int, actor: Client) -> ApiKey:
    """Staff give a key another rate limit (ACC-5), audited with the values before and after."""
    if not 1 <= limit <= API_KEY_LIMIT_MAX:
        raise ValidationError({"rate_limit_per_minute": [f"Between 1 and {API_KEY_LIMIT_MAX:,} requests a minute."]})
    api_key = ApiKey.objects.select_for_update().get(pk=api_key.pk)
    if api_key.rate_limit_per_minute != limit:
        record(action=Audit.API_KEY_LIMIT_CHANGED, actor=actor, target=api_key, client=api_key.client,
               details={"from": api_key.rate_limit_per_minute, "to": limit})
        api_key.rate_limit_per_minute = limit
        api_key.save(update_fields=["rate_limit_per_minute"])
    return api_key
