"""Dunning (DUN-1..5, CARD-4): collecting what is owed, the states a failed collection leads to,
and their lifting once paid. The night collects a chunk at a time (`collect_chunk`); a request
collects one client's debt (`after_payment`); both through `payments`, under the client's
collection lock, the debt re-read after taking it."""

import datetime
import logging

from django.db import transaction

from accounts import services as accounts
from accounts.models import Client
from billing import emails, payments
from billing.audit_actions import Audit
from billing.invoicing import charge_late_fees, mark_uncollectible
from billing.ledger import balance_cents, balances, debt_cents, locked_wallet, wallet_of
from billing.models import Card, ClientNight, LedgerEntry, PaymentAttempt, Subscription, Wallet
from billing.tariffs import end_pro
from compliance.services import receive_privacy_request, record
from core.batches import at_once_or_each
from core.bulk import insert, insert_rows
from core.exceptions import RuleRefused
from core.money import dollars
from core.sql import update_rows
from projects import restrictions as project_restrictions
from projects.models import ProjectRestriction

logger = logging.getLogger(__name__)
DUNNING_DAYS = 30  # DUN-5
STEP = "dunning"
DUNNING_REASONS = [ProjectRestriction.Reason.DUNNING, ProjectRestriction.Reason.BILLING_LOCK]
Status = PaymentAttempt.Status


def lift_dunning(client: Client, wallet: Wallet, *, now: datetime.datetime | None = None) -> None:
    """DUN-4: once the debt is paid, suspension and the billing block are lifted at once."""
    was = wallet.failed_collections
    wallet.failed_collections, wallet.debt_since, wallet.deletion_scheduled_for = 0, None, None
    wallet.save(update_fields=["failed_collections", "debt_since", "deletion_scheduled_for"])
    accounts.lift_billing(client=client, note="Debt paid (DUN-4).", now=now)
    project_restrictions.lift_owners_projects([client.pk], reasons=DUNNING_REASONS, note="Debt paid (DUN-4).", now=now)
    if was:
        emails.enqueue_email(client.pk, emails.PAID)


def lift_if_paid(client: Client) -> None:
    with transaction.atomic():
        wallet = locked_wallet(client)
        if (wallet.failed_collections or wallet.debt_since) and balance_cents(wallet) >= 0:
            lift_dunning(Client.objects.get(pk=client.pk), wallet)


def debt_purpose_key(client: Client) -> str:
    # A new key for each new debt: the ledger's length at the moment it is collected.
    return f"debt:{client.pk}:payment:{LedgerEntry.objects.filter(wallet__client=client).count()}"


def after_payment(*, client: Client, try_cards: bool = False) -> None:
    """After money reached the wallet (a top-up, a new card, a reconciled payment): with
    `try_cards`, collect a debt from the cards at once (DUN-1, CARD-4); then, if nothing is owed
    any more, lift suspension and the billing block (DUN-4). A card that fails here leaves the
    debt to the night."""
    if try_cards and debt_cents(wallet_of(client)) > 0:
        try:
            # Two at once (a main and a backup card saved together) share the key, and the second
            # finds the debt paid once it has the collection lock.
            payments.pay_from_cards(client=client, lacking=lambda: debt_cents(wallet_of(client)),
                                    purpose=f"Unpaid fees {dollars(debt_cents(wallet_of(client)))}", purpose_key=debt_purpose_key(client))
        except RuleRefused:
            pass  # declined or unanswered: the night tries again; reconciliation books what was taken
    lift_if_paid(client)


def reconcile_payments() -> int:
    """The beat's reconciliation (and the night's first step): every payment taken but not booked
    reaches its wallet, every unanswered one is asked of the gateway; debts so paid lift dunning."""
    clients = payments.reconcile()
    for client in Client.objects.filter(pk__in=clients):
        lift_if_paid(client)
    return len(clients)


# --- the night's collections ---------------------------------------------------------------------------


def _night_attempts(requests: dict[int, tuple[Card, int]], purpose_keys: dict[int, str], lease: tuple) -> dict[int, PaymentAttempt]:
    """Tonight's attempt per client for its purpose key: the one made by an earlier run of this
    night if it failed or is to be resent, else a new try, made `sent` under the chunk's lease
    (committed before any call: one that never reached the gateway is asked for by its key, found
    missing, and fails as `not_received`)."""
    latest: dict[int, PaymentAttempt] = {}
    for attempt in PaymentAttempt.objects.filter(purpose_key__any_of=list(purpose_keys.values())).select_related("card").order_by("try_number"):
        latest[attempt.client_id] = attempt
    new = []
    for client_id, (card, amount) in requests.items():
        earlier = latest.get(client_id)
        if earlier is not None and (earlier.status == Status.FAILED or earlier.status in PaymentAttempt.UNSETTLED):
            continue  # decided tonight already (failed), or to be sent again with its key
        number = 1 if earlier is None else earlier.try_number + 1
        key = purpose_keys[client_id] if number == 1 else f"{purpose_keys[client_id]}:try{number}"
        new.append(PaymentAttempt(
            client_id=client_id, card=card, kind=PaymentAttempt.Kind.CHARGE, amount_cents=amount, purpose=f"Unpaid fees {dollars(amount)}",
            purpose_key=purpose_keys[client_id], try_number=number, books_as=LedgerEntry.Kind.CARD_PAYMENT, idempotency_key=key,
            gateway=card.gateway, lease_owner=lease[0], leased_until=lease[1], status=Status.SENT, sent_at=lease[2],
        ))
    with transaction.atomic():
        insert(new)  # under the clients' collection locks: nobody else makes these keys' attempts
    for attempt in new:
        latest[attempt.client_id] = attempt
    return {c: latest[c] for c in requests if c in latest}


def _collect_from(role: str, debts: dict[int, int], cards: dict[tuple[int, str], Card], day: datetime.date) -> dict[int, PaymentAttempt]:
    suffix = "" if role == Card.Role.MAIN else ":backup"
    requests = {c: (cards[(c, role)], amount) for c, amount in debts.items() if (c, role) in cards}
    lease = payments.new_lease()
    attempts = _night_attempts(requests, {c: f"debt:{c}:{day}{suffix}" for c in requests}, lease)
    to_send = [a for a in attempts.values() if a.status in PaymentAttempt.UNSETTLED]
    sent = payments.send_many(to_send, owner=lease[0])
    return {c: sent.get(a.pk, a) for c, a in attempts.items()}


def collect_chunk(client_ids: list[int], *, day: datetime.date, at: datetime.datetime) -> dict:
    """DUN-1 for a chunk: overdue invoices take their late fee (WAL-6); under the clients'
    collection locks, every payment taken is booked and the debts re-read; each debt is collected
    from the main card, then the backup card (CARD-4), the attempts committed before the calls;
    the money booked in its own transaction; then each client's dunning state, marked done with
    it. A client whose earlier charge is still unanswered is not charged again."""
    outcome = {"done": 0, "skipped": 0, "charged": 0, "credited": 0, "failures": []}
    done_before = set(ClientNight.objects.filter(night=day, step=STEP, client_id__any_of=client_ids).values_list("client_id", flat=True))
    todo = [c for c in client_ids if c not in done_before]
    outcome["skipped"] = len(done_before)
    outcome["charged"] += charge_late_fees(todo, now=at)
    locked = payments.take_collection_locks(todo)
    try:
        for client_id in set(todo) - set(locked):
            outcome["failures"].append({"client": client_id, "error": "Another payment of this client was under way; tried again next run."})
        payments.book_many(list(PaymentAttempt.objects.filter(client_id__any_of=locked, status=Status.SUCCEEDED).values_list("pk", flat=True)))
        in_flight = payments.unsettled_clients(locked)
        debts = {c: -b for c, b in balances(locked).items() if b < 0 and c not in in_flight}
        cards = {(card.client_id, card.role): card for card in Card.objects.filter(client_id__any_of=list(debts), removed_at__isnull=True, verified_at__isnull=False)}
        by_client = _collect_from(Card.Role.MAIN, debts, cards, day)
        unpaid = {c: d for c, d in debts.items() if c not in by_client or by_client[c].status == Status.FAILED}
        by_client.update(_collect_from(Card.Role.BACKUP, unpaid, cards, day))
        paid = payments.book_many([a.pk for a in by_client.values() if a.status == Status.SUCCEEDED])
        outcome["charged"] += sum(a.amount_cents for a in paid)
        _apply_outcomes(locked, by_client, outcome, day=day, at=at)
    finally:
        payments.release_collection_locks(locked)
    return outcome


def _apply_outcomes(client_ids: list[int], by_client: dict[int, PaymentAttempt], outcome: dict, *, day: datetime.date, at: datetime.datetime) -> None:
    """The chunk's dunning states in one transaction; if that fails, each client alone, so that
    one client's failure stops nobody else. Every failure logged with its client (None: the chunk)."""
    def work(ids: list[int]) -> int:
        with transaction.atomic():
            dunning_outcomes(ids, by_client, day=day, at=at)
        return len(ids)

    done, failures = at_once_or_each(work, client_ids, logger=logger, what=f"night of {day}, dunning")
    outcome["done"] += sum(done)
    outcome["failures"] += failures


def dunning_outcomes(client_ids: list[int], by_client: dict[int, PaymentAttempt], *, day: datetime.date, at: datetime.datetime) -> dict[str, list[int]]:
    """What tonight's collection means for each client (DUN-2..5), in the caller's transaction,
    the clients marked done with it: paid → lifted (DUN-4); not known yet → nothing; failed →
    suspended the first time, blocked the second, PRO ended and deletion scheduled after 30 days
    (its open invoices uncollectible); each state's email sent once, when it changes. A few
    statements for the chunk; the rare lifts and DUN-5 one by one. `by_client`: tonight's attempt
    of each. Returns the clients by email sent."""
    # Locked in id order; read as values, objects made only of the few whose state moves.
    in_dunning = {c: bool(failed or since) for c, failed, since in Wallet.objects.select_for_update().filter(client_id__any_of=client_ids)
                  .order_by("pk").values_list("client_id", "failed_collections", "debt_since")}
    now_balances = balances(list(in_dunning))
    owing = [c for c in in_dunning if now_balances.get(c, 0) < 0]
    unknown = payments.unsettled_clients([c for c in owing if c not in by_client])
    failed = [c for c in owing if c not in unknown and (c not in by_client or by_client[c].status not in PaymentAttempt.UNSETTLED)]
    lifting = [c for c in in_dunning if now_balances.get(c, 0) >= 0 and in_dunning[c]]
    wallets = {w.client_id: w for w in Wallet.objects.filter(client_id__any_of=failed + lifting)}
    for client in Client.objects.filter(pk__any_of=lifting).order_by("pk"):
        lift_dunning(client, wallets[client.pk], now=at)
    for client_id in failed:
        wallet = wallets[client_id]
        wallet.failed_collections += 1
        wallet.debt_since = wallet.debt_since or day
    first = [c for c in failed if wallets[c].failed_collections == 1]
    again = [c for c in failed if wallets[c].failed_collections > 1]
    # DUN-5: each email once, when the dunning state changes (suspended, blocked, deactivated);
    # a third failure and later ones change nothing and tell nothing again.
    sent: dict[str, list[int]] = {emails.SUSPENDED: list(first), emails.BLOCKED: [c for c in again if wallets[c].failed_collections == 2],
                                  emails.DEACTIVATED: []}
    accounts.suspend_many(first, note="First failed collection (DUN-2).", now=at)
    project_restrictions.restrict_owners_projects(first, reason=ProjectRestriction.Reason.DUNNING, note="First failed collection (DUN-2).", now=at)
    accounts.block_many(again, reason=Client.BlockReason.BILLING, note="Second failed collection in a row (DUN-3).", now=at)
    project_restrictions.restrict_owners_projects(again, reason=ProjectRestriction.Reason.BILLING_LOCK, note="Second failed collection in a row (DUN-3).", now=at)
    ending = [c for c in failed if (day - wallets[c].debt_since).days >= DUNNING_DAYS and wallets[c].deletion_scheduled_for is None]
    for client in Client.objects.filter(pk__any_of=ending).order_by("pk"):
        _deactivate(client, wallets[client.pk], day=day, at=at)
        for kind in (emails.SUSPENDED, emails.BLOCKED):
            if client.pk in sent[kind]:
                sent[kind].remove(client.pk)
        sent[emails.DEACTIVATED].append(client.pk)
    due = [c for c in failed if c not in ending and wallets[c].deletion_scheduled_for is not None and wallets[c].deletion_scheduled_for <= day]
    for client in Client.objects.filter(pk__any_of=due).order_by("pk"):
        _delete_scheduled(client, wallets[client.pk], at=at)
    update_rows(Wallet, [wallets[c] for c in failed], ["failed_collections", "debt_since", "deletion_scheduled_for"])
    for kind, clients in sent.items():
        emails.enqueue_emails(clients, kind)
    insert_rows(ClientNight, [{"client_id": c, "night": day, "step": STEP} for c in sorted(set(client_ids))])
    return sent


def _delete_scheduled(client: Client, wallet: Wallet, *, at: datetime.datetime) -> None:
    """DUN-5: the deletion scheduled 30 days after PRO ended is carried out as DEA-5's: the account
    closes with its history, and its erasure waits for staff while the debt stays a hold (CMP-2).
    Closed, the account is no later night's business."""
    accounts.close_account(client=client, actor=None, now=at, note=f"Deleted as scheduled on {wallet.deletion_scheduled_for} (DUN-5): the debt is unpaid.")
    receive_privacy_request(client=client, kind="erasure", details=f"Deleted for a debt unpaid since {wallet.debt_since} (DUN-5); the debt is a hold.")


def _deactivate(client: Client, wallet: Wallet, *, day: datetime.date, at: datetime.datetime) -> None:
    """DUN-5: 30 days unpaid: PRO ends, the open invoices are uncollectible, the cards removed,
    the account's deletion scheduled."""
    subscription = Subscription.objects.select_for_update().filter(client=client).first()
    if subscription is not None and subscription.is_active:
        end_pro(subscription=subscription, now=at)
    mark_uncollectible(client=client)
    Card.objects.filter(client=client, removed_at__isnull=True).update(removed_at=at, token="")
    wallet.deletion_scheduled_for = day + datetime.timedelta(days=DUNNING_DAYS)
    record(action=Audit.ACCOUNT_DELETION_SCHEDULED, client=client, target=client, details={"debt_since": str(wallet.debt_since), "rule": "DUN-5"})
