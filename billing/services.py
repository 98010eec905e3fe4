"""What a client or staff do with money: cards, top-ups, staff credits and refunds; and, from
`billing.subscriptions`, PRO (activation, periods, deactivation). Billing's one door for a use
case: the API, the dashboard and the admin call these names. The rules of each function are named
in its docstring.

Every card payment goes through `billing.payments` (an attempt committed before the gateway is
called, booked to the wallet in a transaction of its own, under the client's collection lock);
every fee, credit and invoice through `billing.invoicing` and `billing.ledger`. So the money a
card paid always reaches the wallet, even when the action it paid for is then refused (it stays
there, WAL-3), and a repeat of the same request charges nothing twice (PER-7). The gateway is
never called inside a transaction: these services open their own, around their own steps only.
Locks are always taken in the same order: collection lock, wallet, then invoice number.
"""

import datetime
import uuid
from dataclasses import dataclass

from allauth.account.models import EmailAddress
from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import Sum
from django.utils import timezone
from django.utils.translation import gettext_noop

from accounts.models import Client
from billing import dunning, emails, idempotency, payments
from billing.audit_actions import Audit
from billing.gateways import CardDeclined, GatewayUnavailable, get_gateway
from billing.invoicing import credit, period_invoice_of
from billing.ledger import balance_cents, debt_cents, locked_wallet, wallet_of
from billing.models import (
    Card,
    Dispute,
    FreeAccountFlag,
    Invoice,
    LedgerEntry,
    PaymentAttempt,
    Subscription,
)
from billing.payments import live_card, reconcile_attempt
from billing.policy import POLICY_FIELDS, change_policy, check_policy_changes, current_policy, packages_needed
from billing.subscriptions import (
    Quote,
    activate_pro,
    activation_quote,
    approve_period_change,
    business_days_between,
    change_period,
    deactivate_pro,
    refuse_period_change,
)
from billing.tariffs import end_pro
from compliance.services import record
from core.clock import billing_date
from core.exceptions import RuleRefused
from core.money import dollars

# The names other apps and the admin use, kept here: billing's one door for a use case.
__all__ = [
    "POLICY_FIELDS", "balance_cents", "change_policy", "check_policy_changes", "current_policy", "debt_cents", "end_pro",
    "live_card", "packages_needed", "reconcile_attempt", "wallet_of",
    "Quote", "activate_pro", "activation_quote", "approve_period_change", "business_days_between", "change_period", "deactivate_pro",
    "refuse_period_change",
]

VERIFICATION_CENTS = 100  # WAL-4, ToU 7.3
CARD_REMOVAL_DEBT_LIMIT_CENTS = 100  # CARD-2, ToU 3.21
TOP_UP_MIN_CENTS, TOP_UP_MAX_CENTS = 100, 1_000_000
TOP_UP = "topup"  # the idempotency records' operation


def reconcile_unknown_attempts() -> int:
    """The beat's reconciliation (PER-7): see `dunning.reconcile_payments`."""
    return dunning.reconcile_payments()


# --- cards (CARD-1, CARD-2, CARD-4, WAL-4, TAR-6) ------------------------------------------------------


def attach_card(*, client: Client, token: str, role: str = Card.Role.MAIN, actor: Client | None = None) -> Card:
    """Save a card through the gateway and verify it: $1 is charged to it and credited to the
    wallet (WAL-4), once per card, role and day. It replaces the client's card of that role
    (CARD-4 for the backup card) under the client's collection lock, so a collection running at
    that moment never charges the card being replaced. A declined card, or a failed verification,
    leaves the client's cards as they were. A debt is then collected from the cards (DUN-4)."""
    if not isinstance(token, str) or not token.strip():
        raise ValidationError({"token": ["Send the card token from the payment form."]})
    gateway = get_gateway()
    try:
        details = gateway.attach_card(token=token.strip(), customer_ref=payments.customer_ref(client.pk))
    except CardDeclined as exc:
        raise RuleRefused("card_declined", f"The card was refused ({exc.code}). Try another card.") from None
    except GatewayUnavailable:
        raise RuleRefused("payment_pending", "The payment provider did not answer; try again in a moment.", status=503) from None
    with payments.collection_lock(client.pk):
        card = Card.objects.create(
            client=client, role=role, gateway=gateway.name, token=details.token, brand=details.brand, last4=details.last4,
            exp_month=details.exp_month, exp_year=details.exp_year, fingerprint=details.fingerprint,
        )
        purpose_key = f"verify:{client.pk}:{role}:{details.fingerprint}:{billing_date()}"
        earlier = PaymentAttempt.objects.filter(client=client, purpose_key=purpose_key, status__in=PaymentAttempt.TAKEN).first()
        attempt = earlier or payments.attempt_for(
            client=client, card=card, amount=VERIFICATION_CENTS, purpose="Card verification", purpose_key=purpose_key,
            books_as=LedgerEntry.Kind.VERIFICATION, kind=PaymentAttempt.Kind.VERIFICATION,
        )
        if attempt.status not in PaymentAttempt.TAKEN:
            attempt = payments.send(attempt)
        if attempt.status not in PaymentAttempt.TAKEN:
            Card.objects.filter(pk=card.pk, verified_at__isnull=True).update(removed_at=timezone.now())
            payments.refuse_unless_paid(attempt)
        payments.book(attempt, actor=actor)
        with transaction.atomic():
            locked_wallet(client)
            card = Card.objects.select_for_update().get(pk=card.pk)
            now = timezone.now()
            Card.objects.filter(client=client, role=role, removed_at__isnull=True, verified_at__isnull=False).update(removed_at=now)
            card.verified_at = now
            card.save(update_fields=["verified_at"])
            record(action=Audit.CARD_ADDED, actor=actor, target=card, client=client, details={"role": role, "brand": card.brand, "last4": card.last4})
            _flag_shared_card(client=client, card=card)
            emails.tell_card_verified(client=client, card_pk=card.pk, label=Card.label(card.brand, card.last4), backup=role == Card.Role.BACKUP)
    dunning.after_payment(client=client, try_cards=True)  # a new card pays a debt at once (DUN-4)
    return card


def _flag_shared_card(*, client: Client, card: Card) -> None:
    """TAR-6: a Free account whose card another Free account also uses is flagged for staff."""
    if client.tariff != Client.Tariff.FREE:
        return
    others = (
        Card.objects.filter(fingerprint=card.fingerprint, verified_at__isnull=False, client__tariff=Client.Tariff.FREE)
        .exclude(client=client).values_list("client_id", flat=True).distinct()
    )
    for other_id in others:
        FreeAccountFlag.objects.get_or_create(client=client, other_id=other_id, matched_on=FreeAccountFlag.Match.CARD)


def flag_shared_email(*, client: Client, email: str) -> None:
    """TAR-6: a verified email that another Free account has verified too."""

    if client.tariff != Client.Tariff.FREE:
        return
    others = (
        EmailAddress.objects.filter(email__iexact=email, verified=True, user__tariff=Client.Tariff.FREE)
        .exclude(user=client).values_list("user_id", flat=True)
    )
    for other_id in others:
        FreeAccountFlag.objects.get_or_create(client=client, other_id=other_id, matched_on=FreeAccountFlag.Match.EMAIL)


@transaction.atomic
def remove_card(*, client: Client, role: str = Card.Role.MAIN, actor: Client | None = None) -> None:
    """Delete the card data (CARD-2): only with a debt of at most $1 and PRO deactivated. The
    backup card may go at any time."""
    wallet = locked_wallet(client)
    card = live_card(client, role)
    if card is None:
        raise RuleRefused("no_card", "There is no such card to remove.")
    if role == Card.Role.MAIN:
        subscription = Subscription.objects.filter(client=client).first()
        if subscription is not None and subscription.is_active:
            raise RuleRefused("card_removal_refused", "Deactivate PRO before removing the card (ToU 9.4).")
        if debt_cents(wallet) > CARD_REMOVAL_DEBT_LIMIT_CENTS:
            raise RuleRefused("card_removal_refused", gettext_noop("Pay the debt of %(debt)s first; a card can go with at most $1.00 owed."),
                              params={"debt": dollars(debt_cents(wallet))})
    Card.objects.filter(pk=card.pk).update(removed_at=timezone.now())
    record(action=Audit.CARD_REMOVED, actor=actor, target=card, client=client, details={"role": role})


# --- top-ups, staff credits and refunds (WAL-3, WAL-5) ---------------------------------------------------


@dataclass(frozen=True)
class TopUp:
    entry: LedgerEntry
    idempotency_key: str  # the client's, or the one the server made: to repeat the request with


def top_up(*, client: Client, amount_cents: int, idempotency_key: str | None = None, actor: Client | None = None) -> TopUp:
    """Put money in the wallet from the card (WAL-5). The `Idempotency-Key` is bound to the amount:
    the same key charges once and answers as the first time; with another amount it is refused
    before anything is charged (409 `idempotency_key_reused`). Without a key the server makes one
    (returned with the entry); a keyless retry of a top-up that never got its answer is that
    top-up again, not a second charge. Refusals carry the key to retry with."""
    if not isinstance(amount_cents, int) or isinstance(amount_cents, bool) or not TOP_UP_MIN_CENTS <= amount_cents <= TOP_UP_MAX_CENTS:
        raise ValidationError({"amount_cents": [f"Between {dollars(TOP_UP_MIN_CENTS)} and {dollars(TOP_UP_MAX_CENTS)}, in cents."]})
    request = idempotency.begin(client=client, operation=TOP_UP, parameters={"amount_cents": amount_cents}, key=idempotency_key)
    idempotency.replay(request)
    purpose_key = f"topup:{client.pk}:{idempotency.key_digest(request.key)}"
    taken = PaymentAttempt.objects.filter(client=client, purpose_key__in=[purpose_key, f"{purpose_key}:backup"], status__in=PaymentAttempt.TAKEN)
    try:
        payments.pay_from_cards(client=client, lacking=lambda: 0 if taken.exists() else amount_cents, purpose=f"Wallet top-up {dollars(amount_cents)}",
                                purpose_key=purpose_key, books_as=LedgerEntry.Kind.TOP_UP)
    except RuleRefused as refused:
        if refused.code == "payment_pending":  # not known yet: the retry, with this key, learns it
            raise RuleRefused(refused.code, f"{refused.detail} Send it again with the same Idempotency-Key ({request.key}).",
                              status=refused.status, retry_after=refused.retry_after, headers={idempotency.HEADER: request.key}) from None
        # A charge the card declined is a definitive answer, replayed to every repeat of the key; a
        # refusal before any charge (no card yet) is not: the same key may try again once it can.
        if refused.code == "payment_failed":
            idempotency.answer(request, status_code=refused.status, response={"code": refused.code, "detail": refused.detail})
        refused.headers[idempotency.HEADER] = request.key
        raise
    attempt = taken.order_by("-id").first()
    entry = LedgerEntry.objects.get(payment=attempt)
    with transaction.atomic():
        if idempotency.IdempotencyRecord.objects.filter(pk=request.pk, status_code__isnull=True).exists():
            record(action=Audit.TOPPED_UP, actor=actor, target=entry, client=client, details={"amount_cents": amount_cents})
        idempotency.answer(request, status_code=200, response={"entry": entry.pk}, attempt=attempt)
    dunning.after_payment(client=client)  # DUN-4
    return TopUp(entry=entry, idempotency_key=request.key)


@transaction.atomic
def staff_credit(*, client: Client, amount_cents: int, reason: str, actor: Client, corrects: Invoice | None = None) -> LedgerEntry:
    """Staff credit the wallet, with a reason and a credit note (WAL-3) that names the invoice it
    corrects: the one given, else the client's newest invoice (WAL-6)."""
    if not isinstance(amount_cents, int) or isinstance(amount_cents, bool) or amount_cents <= 0:
        raise ValidationError({"amount_cents": ["A positive amount in cents."]})
    if not reason.strip():
        raise ValidationError({"reason": ["Say why."]})
    if corrects is not None and (corrects.client_id != client.pk or corrects.kind != Invoice.Kind.INVOICE):
        raise ValidationError({"corrects": ["Choose one of this client's invoices."]})
    wallet = locked_wallet(client)
    key = f"staff-credit:{uuid.uuid4().hex}"
    entry = credit(wallet, client=client, amount=amount_cents, kind=LedgerEntry.Kind.STAFF_CREDIT, reference=f"staff:{actor.pk}",
                   key=key, description=f"Credit by staff (WAL-3): {reason.strip()}", actor=actor, corrects=corrects or period_invoice_of(client))
    record(action=Audit.STAFF_CREDIT, actor=actor, target=entry, client=client, details={"amount_cents": amount_cents, "reason": reason})
    return entry


def staff_refund(*, payment: PaymentAttempt, amount_cents: int, reason: str, actor: Client) -> PaymentAttempt:
    """The exception to WAL-3: staff return money to the card it came from, within the refund
    window, with a reason; the wallet is debited by the same amount, so it cannot be spent twice.
    Under the client's collection lock; the refund is an attempt like any payment."""
    if not reason.strip():
        raise ValidationError({"reason": ["Say why."]})
    if payment.status not in PaymentAttempt.TAKEN or payment.kind == PaymentAttempt.Kind.REFUND:
        raise RuleRefused("not_refundable", "Only a succeeded card payment can be refunded.")
    policy = current_policy()
    if payment.created_at < timezone.now() - datetime.timedelta(days=policy.refund_window_days):
        raise RuleRefused("refund_window_passed", f"Refunds are possible within {policy.refund_window_days} days of the payment.")
    client = payment.client
    with payments.collection_lock(client.pk):
        refunded = PaymentAttempt.objects.filter(refunds=payment, status__in=PaymentAttempt.TAKEN).aggregate(t=Sum("amount_cents"))["t"] or 0
        if not isinstance(amount_cents, int) or isinstance(amount_cents, bool) or not 0 < amount_cents <= payment.amount_cents - refunded:
            raise ValidationError({"amount_cents": [f"At most {dollars(payment.amount_cents - refunded)} is left to refund."]})
        if balance_cents(wallet_of(client)) < amount_cents:
            raise RuleRefused("refund_exceeds_balance", "The wallet holds less than this; the money was spent on fees.")
        attempt = payments.attempt_for(
            client=client, card=payment.card, amount=amount_cents, purpose=f"Refund: {reason.strip()}", purpose_key=f"refund:{payment.pk}:{refunded}",
            kind=PaymentAttempt.Kind.REFUND, books_as=LedgerEntry.Kind.STAFF_REFUND, refunds=payment,
        )
        if attempt.status not in PaymentAttempt.TAKEN:
            attempt = payments.send(attempt)
        if attempt.status in PaymentAttempt.UNSETTLED:
            raise RuleRefused("payment_pending", "The payment provider did not answer; try again: the refund will not be made twice.", status=503)
        if attempt.status == PaymentAttempt.Status.FAILED:
            raise RuleRefused("refund_failed", f"The gateway refused the refund ({attempt.failure_code}).")
        with transaction.atomic(durable=True):
            if payments.book(attempt, actor=actor):
                record(action=Audit.STAFF_REFUND, actor=actor, target=attempt, client=client, details={"amount_cents": amount_cents, "reason": reason})
    attempt.refresh_from_db()
    return attempt


# --- disputes (CMP-2's hold) --------------------------------------------------------------------


def dispute_errors(*, client: Client | None, payment: PaymentAttempt | None, amount_cents: int | None) -> dict[str, list[str]]:
    """Why a dispute cannot be recorded, field by field: for the service and the admin's form."""
    errors = {}
    if client is None:
        errors["client"] = ["Whose payment is disputed?"]
    elif payment is not None and payment.client_id != client.pk:
        errors["payment"] = ["That payment is another client's."]
    if amount_cents is None or not 0 < amount_cents <= 100_000_000:
        errors["amount_cents"] = ["Between 1 cent and $1,000,000.00."]
    return errors


@transaction.atomic
def open_dispute(*, client: Client, amount_cents: int, actor: Client, payment: PaymentAttempt | None = None, reference: str = "",
                 note: str = "") -> Dispute:
    """Staff record a disputed payment (a chargeback, a bank's case): while open, the client's
    erasure waits (CMP-2), since the records the dispute turns on must be kept."""
    if errors := dispute_errors(client=client, payment=payment, amount_cents=amount_cents):
        raise ValidationError(errors)
    dispute = Dispute.objects.create(client=client, payment=payment, amount_cents=amount_cents, reference=reference.strip(), note=note.strip(),
                                     opened_by=actor)
    record(action=Audit.DISPUTE_OPENED, actor=actor, target=dispute, client=client,
           details={"amount_cents": amount_cents, "payment": payment.pk if payment else None, "reference": dispute.reference})
    return dispute


@transaction.atomic
def close_dispute(*, dispute: Dispute, actor: Client, outcome: str) -> Dispute:
    """The dispute is decided: its hold on the erasure ends. Closing a closed one changes nothing."""
    if not (outcome or "").strip():
        raise ValidationError({"outcome": ["Say how the dispute ended."]})
    dispute = Dispute.objects.select_for_update().get(pk=dispute.pk)
    if dispute.closed_at is not None:
        return dispute
    dispute.closed_at, dispute.closed_by, dispute.outcome = timezone.now(), actor, outcome.strip()
    dispute.save(update_fields=["closed_at", "closed_by", "outcome"])
    record(action=Audit.DISPUTE_CLOSED, actor=actor, target=dispute, client=dispute.client, details={"outcome": dispute.outcome})
    return dispute
