"""The account's restrictions and the state derived from them (ACC-3), and its closing (DEA-5).

An account holds any number of restrictions at once (`Restriction`: a block for a reason, or the
billing suspension), each set, moved and lifted on its own. The account's `status`, `block_reason`
and `blocked_until` are derived from those that hold: blocked while any block holds (the one that
ends last shows), else suspended while the suspension holds, else active. Every write here is a few
statements for any number of accounts (a night chunk's, or a request's one) and writes the
restriction, the state's history row when the state moves, and their audit entries.
"""

import logging
from datetime import datetime

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone
from django.utils.formats import date_format
from django.utils.functional import lazy
from django.utils.text import format_lazy
from django.utils.translation import gettext_lazy as _

from accounts.audit_actions import Audit
from accounts.models import AccountStateChange, ApiKey, Client, Notice, Restriction
from accounts.selectors import holding_restrictions
from accounts.services.notices import Draft, notify, notify_many, send_notice
from accounts.states import derive_state
from compliance.audit import audit_row, record_rows, target_of
from compliance.services import erase_or_hold
from core.bulk import insert
from core.exceptions import RuleRefused
from core.sql import update_rows

logger = logging.getLogger(__name__)
Kind = Restriction.Kind
Reason = Client.BlockReason
day_text = lazy(lambda moment: date_format(timezone.localtime(moment), "DATE_FORMAT"), str)  # in the notice's language


def _actor(actor):
    return actor if getattr(actor, "is_authenticated", False) else None


def _locked_many(client_ids: list[int]) -> list[Client]:
    return list(Client.objects.select_for_update().filter(pk__any_of=sorted(set(client_ids))).order_by("pk"))


def _rederive(clients: list[Client], *, now: datetime, actor, note: str) -> list[Client]:
    """Bring locked clients' state in line with their restrictions; a history row and an audit
    entry for each whose state moved. Returns those."""
    holding = holding_restrictions([c.pk for c in clients], now=now)
    moved, history, audit, told = [], [], [], []
    for client in clients:
        state = derive_state(holding[client.pk], deleted=client.status == Client.Status.DELETED)
        if (client.status, client.block_reason, client.blocked_until) == (state.status, state.block_reason, state.blocked_until):
            continue
        from_status, from_reason = client.status, client.block_reason
        client.status, client.block_reason, client.blocked_until = state.status, state.block_reason, state.blocked_until
        draft = _state_notice(client, from_status=from_status, from_reason=from_reason, now=now)
        if draft is not None:
            told.append(draft)
        moved.append(client)
        history.append(AccountStateChange(client_id=client.pk, from_status=from_status, to_status=state.status, reason=state.block_reason,
                                          until=state.blocked_until, actor=actor, note=note, created_at=now))
        audit.append(audit_row(
            action=Audit.ACCOUNT_STATE[state.status], actor=actor, client_id=client.pk, **target_of(client),
            details={"from": from_status, "to": state.status, "reason": state.block_reason,
                     "until": state.blocked_until.isoformat() if state.blocked_until else None, "note": note},
        ))
    update_rows(Client, moved, ["status", "block_reason", "blocked_until"])
    insert(history)
    record_rows(audit)
    notify_many(told)
    return moved


# Billing tells its own moves, with the amount (billing.emails: suspended, blocked for unpaid
# fees, paid, the Free limit passed; PRO activation lifts the last).
TOLD_BY_BILLING = {Reason.BILLING, Reason.FREE_LIMIT}


def _state_notice(client: Client, *, from_status: str, from_reason: str, now: datetime) -> Draft | None:
    """NTF-1: the client is told it is blocked (with the reason and end) or unblocked."""
    if client.status == Client.Status.BLOCKED and client.block_reason not in TOLD_BY_BILLING and (from_status, from_reason) != (client.status, client.block_reason):
        until = (format_lazy(_("The block ends on {day}."), day=day_text(client.blocked_until)) if client.blocked_until
                 else _("The block holds until staff lift it."))
        return Draft(client_id=client.pk, language=client.language, kind=Notice.Kind.ACCOUNT_BLOCKED, event=f"state:blocked:{client.block_reason}:{now.isoformat()}",
                     subject=_("Your account is blocked"),
                     lines=[format_lazy(_("Your account is blocked: {reason}."), reason=Reason(client.block_reason).label), until,
                            _("You can still sign in, read your projects and pay; nothing can be changed or sent meanwhile. Write to support if you think this is a mistake.")])
    if from_status == Client.Status.BLOCKED and client.status != Client.Status.BLOCKED and from_reason not in TOLD_BY_BILLING:
        return Draft(client_id=client.pk, language=client.language, kind=Notice.Kind.ACCOUNT_UNBLOCKED, event=f"state:unblocked:{now.isoformat()}",
                     subject=_("Your account is unblocked"), lines=[_("Your account is unblocked: your projects run again.")])
    return None


def _restriction_details(restriction: Restriction, note: str) -> dict:
    return {"kind": restriction.kind, "reason": restriction.reason,
            "until": restriction.ends_at.isoformat() if restriction.ends_at else None, "note": note}


@transaction.atomic
def restrict_many(
    client_ids: list[int], *, kind: str, reason: str, until: datetime | None = None, actor: Client | None = None,
    note: str = "", now: datetime | None = None,
) -> list[int]:
    """Add a restriction to many accounts (ACC-3): a block for `reason` until a time or for good,
    or the billing suspension. An account that already holds one of that kind and reason has its
    end moved to `until` instead; one that holds it with the same end changes nothing. Refused for
    all if any account is deleted. Returns the accounts whose restrictions changed."""
    if not client_ids:
        return []
    now = now or timezone.now()
    if reason not in Reason.values:
        raise ValidationError({"reason": [f"Unknown block reason {reason!r}."]})
    if kind == Kind.SUSPENSION and reason != Reason.BILLING:
        raise ValidationError({"reason": ["Only unpaid fees suspend an account (DUN-2)."]})
    if until is not None and until <= now:
        raise ValidationError({"until": ["The end of a block must lie in the future."]})
    actor = _actor(actor)
    clients = _locked_many(client_ids)
    if any(c.status == Client.Status.DELETED for c in clients):
        raise RuleRefused("account_deleted", "A deleted account cannot be restricted.")
    open_rows = {r.client_id: r for r in Restriction.objects.filter(client_id__any_of=[c.pk for c in clients], kind=kind, reason=reason,
                                                                     lifted_at__isnull=True)}
    new, moved_end, ran_out, changed, audit = [], [], [], [], []
    for client in clients:
        current = open_rows.get(client.pk)
        if current is not None and current.ends_at is not None and current.ends_at <= now:
            current.lifted_at, current.lift_note = current.ends_at, "The restriction's time ran out."
            ran_out.append(current)
            current = None
        if current is not None and current.ends_at == until:
            continue
        if current is None:
            restriction = Restriction(client_id=client.pk, kind=kind, reason=reason, starts_at=now, ends_at=until, set_by=actor, note=note)
            new.append(restriction)
            action = Audit.RESTRICTED
        else:
            current.ends_at, current.note = until, note or current.note
            restriction = current
            moved_end.append(current)
            action = Audit.RESTRICTION_CHANGED
        changed.append(client)
        audit.append(audit_row(action=action, actor=actor, client_id=client.pk, **target_of(client), details=_restriction_details(restriction, note)))
    update_rows(Restriction, ran_out, ["lifted_at", "lift_note"])
    update_rows(Restriction, moved_end, ["ends_at", "note"])
    insert(new)
    record_rows(audit)
    _rederive(changed, now=now, actor=actor, note=note)
    return [c.pk for c in changed]


@transaction.atomic
def lift_many(
    client_ids: list[int], *, kinds: list[str] | None = None, reasons: list[str] | None = None, actor: Client | None = None,
    note: str = "", now: datetime | None = None,
) -> list[int]:
    """Lift the accounts' open restrictions of the given kinds and reasons, and only those
    (ACC-3: DUN-4 lifts the billing ones, PRO activation `free_limit`, staff what they choose).
    Returns the accounts that had any to lift."""
    if not client_ids:
        return []
    now = now or timezone.now()
    actor = _actor(actor)
    clients = _locked_many(client_ids)
    rows = Restriction.objects.filter(client_id__any_of=[c.pk for c in clients], lifted_at__isnull=True)
    if kinds is not None:
        rows = rows.filter(kind__in=kinds)
    if reasons is not None:
        rows = rows.filter(reason__in=reasons)
    lifting = list(rows)
    for restriction in lifting:
        restriction.lifted_at, restriction.lifted_by, restriction.lift_note = min(now, restriction.ends_at or now), actor, note
    update_rows(Restriction, lifting, ["lifted_at", "lifted_by", "lift_note"])
    record_rows([audit_row(action=Audit.RESTRICTION_LIFTED, actor=actor, client_id=r.client_id, target_type="accounts.client",
                           target_id=r.client_id, details=_restriction_details(r, note)) for r in lifting])
    touched = {r.client_id for r in lifting}
    _rederive([c for c in clients if c.pk in touched], now=now, actor=actor, note=note)
    return sorted(touched)


def _refreshed(client: Client) -> Client:
    return Client.objects.get(pk=client.pk)


def block(*, client: Client, reason: str, until: datetime | None = None, actor: Client | None = None, note: str = "",
          now: datetime | None = None) -> Client:
    """Block an account (ACC-3) for a reason, until a time or (until=None) for good, beside any
    other restriction it holds. Blocking again for the same reason moves that block's end."""
    block_many([client.pk], reason=reason, until=until, actor=actor, note=note, now=now)
    return _refreshed(client)


def block_many(client_ids: list[int], *, reason: str, until: datetime | None = None, actor: Client | None = None, note: str = "",
               now: datetime | None = None) -> list[int]:
    """`block` for many accounts at once (the night's second failed collections, DUN-3)."""
    if not client_ids:
        return []  # a night chunk with none: not even a savepoint
    return restrict_many(client_ids, kind=Kind.BLOCK, reason=reason, until=until, actor=actor, note=note, now=now)


def unblock(*, client: Client, actor: Client | None = None, reason: str | None = None, note: str = "",
            now: datetime | None = None) -> Client:
    """Lift the account's blocks (ACC-3): with `reason`, only the block for that reason, so that
    paying a debt does not lift a block for abuse; without, every block (staff). A suspension stays."""
    lift_many([client.pk], kinds=[Kind.BLOCK], reasons=None if reason is None else [reason], actor=actor, note=note, now=now)
    return _refreshed(client)


def suspend(*, client: Client, actor: Client | None = None, note: str = "", now: datetime | None = None) -> Client:
    """Suspend an account for unpaid fees (ACC-3, DUN-2), beside any block it holds."""
    suspend_many([client.pk], actor=actor, note=note, now=now)
    return _refreshed(client)


def suspend_many(client_ids: list[int], *, actor: Client | None = None, note: str = "", now: datetime | None = None) -> list[int]:
    """`suspend` for many accounts at once (the night's first failed collections, DUN-2)."""
    if not client_ids:
        return []
    return restrict_many(client_ids, kind=Kind.SUSPENSION, reason=Reason.BILLING, actor=actor, note=note, now=now)


def lift_suspension(*, client: Client, actor: Client | None = None, note: str = "", now: datetime | None = None) -> Client:
    lift_many([client.pk], kinds=[Kind.SUSPENSION], actor=actor, note=note, now=now)
    return _refreshed(client)


def lift_billing(*, client: Client, note: str, now: datetime | None = None) -> Client:
    """DUN-4: the debt is paid: the suspension and the billing block are lifted, and only they."""
    lift_many([client.pk], reasons=[Reason.BILLING], note=note, now=now)
    return _refreshed(client)


def lift_expired_blocks(now: datetime | None = None) -> int:
    """End every timed restriction whose end has passed (ACC-3), at its end, and bring those
    accounts' state in line. A few statements for any number. Returns how many accounts."""
    now = now or timezone.now()
    with transaction.atomic():
        due = list(Restriction.objects.filter(lifted_at__isnull=True, ends_at__lte=now).values_list("client_id", flat=True).distinct())
        if not due:
            return 0
        clients = _locked_many(due)
        ran_out = list(Restriction.objects.filter(client_id__any_of=due, lifted_at__isnull=True, ends_at__lte=now))
        for restriction in ran_out:
            restriction.lifted_at, restriction.lift_note = restriction.ends_at, "The restriction's time ran out."
        update_rows(Restriction, ran_out, ["lifted_at", "lift_note"])
        record_rows([audit_row(action=Audit.RESTRICTION_LIFTED, client_id=r.client_id, target_type="accounts.client", target_id=r.client_id,
                               details=_restriction_details(r, "The restriction's time ran out.")) for r in ran_out])
        _rederive(clients, now=now, actor=None, note="The block's time ran out.")
        return len(clients)


# --- closing (DEA-5, CMP-2) ------------------------------------------------------------------


def delete_account(*, client: Client, password: str, actor: Client) -> Client:
    """The client deletes its account (DEA-5): it can no longer sign in and its keys stop working;
    then any debt is charged to the card and its personal data erased (CMP-2), keeping what tax,
    accounting or an open dispute needs — or, while a debt remains, an erasure request waits for
    staff. The email can register again once erased."""

    client = _close_account(client=client, password=password, actor=actor)
    _tell_deleted(client)
    erase_or_hold(client=client, actor=actor)
    client.refresh_from_db()
    return client


def _tell_deleted(client: Client) -> None:
    """NTF-1: mailed at once, outside any transaction, while the address is still there (the
    erasure that follows removes it, and the notice once mailed)."""
    notice = notify(client=client, kind=Notice.Kind.ACCOUNT_DELETED, event="account:deleted", subject=_("Your account is deleted"),
                    lines=[_("Your account is deleted: nobody can sign in to it any more and its API keys no longer work."),
                           _("Your personal data is erased, except what tax and accounting law or an open dispute require us to keep "
                             "(DEA-5, CMP-2). The wallet's balance is not refunded.")])
    if notice is not None:
        try:
            send_notice(notice.pk)
        except Exception:  # the mail server's trouble must not stop the erasure; the task retries
            logger.exception("The deletion notice of client %s could not be mailed now.", client.pk)


@transaction.atomic
def _close_account(*, client: Client, password: str, actor: Client) -> Client:
    if not client.check_password(password or ""):
        raise ValidationError({"password": ["The password is wrong."]})
    return close_account(client=client, actor=actor, note="Deleted by the client.")


@transaction.atomic
def close_account(*, client: Client, actor: Client | None, note: str, now: datetime | None = None) -> Client:
    """DEA-5, CMP-2: the account closes (it can no longer sign in, its keys stop working), with its
    state history and audit entry, whoever closes it: the client deleting it, or staff granting
    its erasure. Its restrictions are kept as they were, for the record. Closing a closed account
    changes nothing."""
    now = now or timezone.now()
    client = _locked_many([client.pk])[0]
    if client.status == Client.Status.DELETED:
        return client
    ApiKey.objects.filter(client=client, revoked_at__isnull=True).update(revoked_at=now)
    client.is_active = False
    client.save(update_fields=["is_active"])
    from_status = client.status
    client.status, client.block_reason, client.blocked_until = Client.Status.DELETED, "", None
    client.save(update_fields=["status", "block_reason", "blocked_until"])
    actor = _actor(actor)
    AccountStateChange.objects.create(client=client, from_status=from_status, to_status=client.status, actor=actor, note=note, created_at=now)
    record_rows([audit_row(action=Audit.ACCOUNT_STATE[client.status], actor=actor, client_id=client.pk, **target_of(client),
                           details={"from": from_status, "to": client.status, "reason": "", "until": None, "note": note})])
    return client
