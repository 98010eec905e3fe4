"""The account's state (ACC-3) and its closing (DEA-5)."""

from datetime import datetime

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone

from accounts.audit_actions import Audit
from accounts.models import (
    AccountStateChange,
    ApiKey,
    Client,
)
from compliance.audit import audit_row, record_rows, target_of
from compliance.services import erase_or_hold
from core.bulk import insert
from core.exceptions import RuleRefused

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
