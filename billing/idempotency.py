"""Idempotency keys as Stripe keeps them: a key is bound to its operation and parameters; a replay
returns the first answer; the same key with other parameters is refused (409) before anything is
charged; keys up to 255 characters, stored whole. A request that sends none gets one made by the
server, returned in the answer; a keyless retry of a request that never got its answer (same
client, operation and parameters, a short window) is taken as that request again."""

import datetime
import hashlib
import json
import uuid

from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.utils import timezone

from accounts.models import Client
from billing.ledger import locked_wallet
from billing.models import IdempotencyRecord
from core.exceptions import RuleRefused

MAX_KEY_LENGTH = 255  # as Stripe
KEYLESS_RETRY_WINDOW = datetime.timedelta(minutes=15)
HEADER = "Idempotency-Key"


def clean_key(key) -> str:
    """A client's key: 1–255 printable characters, taken whole (400 otherwise, nothing done)."""
    if not isinstance(key, str) or not key or len(key) > MAX_KEY_LENGTH:
        raise ValidationError({HEADER: [f"An idempotency key is 1 to {MAX_KEY_LENGTH} characters."]})
    if not key.isprintable() or any(0xD800 <= ord(c) <= 0xDFFF for c in key):
        raise ValidationError({HEADER: ["An idempotency key holds printable characters only."]})
    return key


def digest(parameters: dict) -> str:
    return hashlib.sha256(json.dumps(parameters, sort_keys=True, default=str).encode()).hexdigest()


def key_digest(key: str) -> str:
    """A fixed-length stand-in for a client's key inside our own (gateway) keys."""
    return hashlib.sha256(key.encode()).hexdigest()[:40]


def _unanswered_keyless(client: Client, operation: str, parameters: str) -> IdempotencyRecord | None:
    return (
        IdempotencyRecord.objects.filter(
            client=client, operation=operation, parameters=parameters, server_made=True, status_code__isnull=True,
            created_at__gte=timezone.now() - KEYLESS_RETRY_WINDOW,
        ).order_by("-created_at", "-id").first()
    )


def begin(*, client: Client, operation: str, parameters: dict, key: str | None) -> IdempotencyRecord:
    """The record of this request: the client's key (checked against its first use), or one made
    by the server — the unanswered keyless request it repeats, if there is one."""
    params = digest(parameters)
    server_made = key is None
    key = None if server_made else clean_key(key)
    try:
        with transaction.atomic():
            if server_made:
                # The wallet's row, locked for this moment only: keyless requests sent at the same
                # instant (a double click) find one another's record, one after the other.
                locked_wallet(client)
                earlier = _unanswered_keyless(client, operation, params)
                key = earlier.key if earlier else f"srv_{uuid.uuid4().hex}"
            record, _ = IdempotencyRecord.objects.get_or_create(
                client=client, key=key, defaults={"operation": operation, "parameters": params, "server_made": server_made},
            )
    except IntegrityError:  # made at this moment by the same request sent twice
        record = IdempotencyRecord.objects.get(client=client, key=key)
    if (record.operation, record.parameters) != (operation, params):
        raise RuleRefused(
            "idempotency_key_reused", "This Idempotency-Key was used for another request; nothing was charged. Use a new key.",
            headers={HEADER: key},
        )
    return record


def answer(record: IdempotencyRecord, *, status_code: int, response: dict, attempt=None) -> None:
    """Keep the final answer, replayed to every repeat of the key."""
    IdempotencyRecord.objects.filter(pk=record.pk, status_code__isnull=True).update(
        status_code=status_code, response=response, attempt=attempt or record.attempt
    )


def replay(record: IdempotencyRecord) -> None:
    """A refusal answered before is answered again, the same."""
    record.refresh_from_db()
    if record.status_code is not None and record.status_code >= 400:
        body = record.response or {}
        raise RuleRefused(body.get("code", "refused"), body.get("detail", ""), status=record.status_code, headers={HEADER: record.key})
