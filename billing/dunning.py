"""Dunning (DUN-1..5, CARD-4): collecting what is owed, the states a failed collection leads to,
and their lifting once paid. The night collects a chunk at a time (`collect_chunk`); a request
collects one client's debt (`after_payment`); both through `payments`, under the client's
collection lock, the debt re-read after taking it."""

import datetime
import logging
import traceback

from django.db import transaction
from django.utils import timezone

from accounts import services as accounts
from accounts.models import Client
from billing import emails, payments
from billing.audit_actions import Audit
from billing.invoicing import charge_late_fees, mark_uncollectible
from billing.ledger import balance_cents, balances, debt_cents, locked_wallet, locked_wallets, wallet_of
from billing.models import Card, ClientNight, LedgerEntry, PaymentAttempt, Subscription, Wallet
from billing.tariffs import end_pro
from compliance.services import record
from core.bulk import insert, insert_rows
from core.exceptions import RuleRefused
from core.money import dollars
from projects import services as projects
from projects.models import Project

logger = logging.getLogger(__name__)
DUNNING_DAYS = 30  # DUN-5
STEP = "dunning"
Status = PaymentAttempt.Status


def lift_dunning(client: Client, wallet: Wallet) -> None:
    """DUN-4: once the debt is paid, suspension and the billing block are lifted at once."""
    was = wallet.failed_collections
    wallet.failed_collections, wallet.debt_since, wallet.deletion_scheduled_for = 0, None, None
    wallet.save(update_fields=["failed_collections", "debt_since", "deletion_scheduled_for"])
    accounts.lift_suspension(client=client, note="Debt paid (DUN-4).")
    accounts.unblock(client=client, reason=Client.BlockReason.BILLING, note="Debt paid (DUN-4).")
    projects.set_owner_projects_status(owner=client, status=Project.Status.ACTIVE)
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
    night if it failed or is to be resent, else a new try (committed before any call)."""
    latest: dict[int, PaymentAttempt] = {}
    for attempt in PaymentAttempt.objects.filter(purpose_key__any_of=list(purpose_keys.values())).order_by("try_number"):
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
            gateway=card.gateway, lease_owner=lease[0], leased_until=lease[1],
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
    with transaction.atomic():
        wallets = locked_wallets(client_ids)
        now_balances = balances(client_ids)
        # The common case in bulk: nothing owed now, and no dunning state to lift.
        plain = {c for c in client_ids if c in wallets and now_balances.get(c, 0) >= 0
                 and not wallets[c].failed_collections and wallets[c].debt_since is None}
        insert_rows(ClientNight, [{"client_id": c, "night": day, "step": STEP} for c in sorted(plain)])
        outcome["done"] += len(plain)
        clients = Client.objects.in_bulk([c for c in client_ids if c not in plain])
        for client_id in [c for c in client_ids if c not in plain]:
            try:
                with transaction.atomic():
                    dunning_outcome(clients[client_id], attempt=by_client.get(client_id), day=day, at=at,
                                    locked=(wallets[client_id], now_balances.get(client_id, 0)) if client_id in wallets else None)
                    ClientNight.objects.create(client_id=client_id, night=day, step=STEP)
                outcome["done"] += 1
            except Exception as exc:  # noqa: BLE001 (one client's failure must not stop the others)
                logger.exception("night of %s, dunning: client %s failed", day, client_id)
                outcome["failures"].append({"client": client_id, "error": f"{type(exc).__name__}: {exc}", "trace": traceback.format_exc()[-2000:]})


def dunning_outcome(client: Client, *, attempt: PaymentAttempt | None, day: datetime.date, at: datetime.datetime | None = None,
                    locked: tuple[Wallet, int] | None = None) -> str | None:
    """What tonight's collection means for the client (DUN-2..5): paid → lifted (DUN-4); not known
    yet → nothing; failed → suspended the first time, blocked the second, PRO ended and deletion
    scheduled after 30 days (its open invoices uncollectible). Returns the email sent, if any.
    `locked`: the client's wallet as locked by the caller's transaction, and its balance then."""
    wallet, balance = locked if locked is not None else (locked_wallet(client), None)
    if (balance if balance is not None else balance_cents(wallet)) >= 0:
        if wallet.failed_collections or wallet.debt_since:
            lift_dunning(client, wallet)
        return None
    if attempt is not None and attempt.status in PaymentAttempt.UNSETTLED:
        return None  # not known to have failed: reconciled later, counted as nothing tonight
    if attempt is None and payments.unsettled_clients([client.pk]):
        return None
    wallet.failed_collections += 1
    wallet.debt_since = wallet.debt_since or day
    step = emails.SUSPENDED
    if wallet.failed_collections == 1:
        accounts.suspend(client=client, note="First failed collection (DUN-2).")
        projects.set_owner_projects_status(owner=client, status=Project.Status.SUSPENDED)
    else:
        step = emails.BLOCKED
        accounts.block(client=client, reason=Client.BlockReason.BILLING, note="Second failed collection in a row (DUN-3).")
        projects.set_owner_projects_status(owner=client, status=Project.Status.LOCKED)
    if (day - wallet.debt_since).days >= DUNNING_DAYS and wallet.deletion_scheduled_for is None:
        step = emails.DEACTIVATED
        subscription = Subscription.objects.select_for_update().filter(client=client).first()
        if subscription is not None and subscription.is_active:
            end_pro(subscription=subscription, now=at)
        mark_uncollectible(client=client)
        Card.objects.filter(client=client, removed_at__isnull=True).update(removed_at=at or timezone.now(), token="")
        wallet.deletion_scheduled_for = day
        record(action=Audit.ACCOUNT_DELETION_SCHEDULED, client=client, target=client, details={"debt_since": str(wallet.debt_since), "rule": "DUN-5"})
    wallet.save(update_fields=["failed_collections", "debt_since", "deletion_scheduled_for"])
    emails.enqueue_email(client.pk, step)
    return step
