"""What a client or staff do with money: cards, PRO (activation, periods, deactivation), top-ups,
staff credits and refunds. The rules of each function are named in its docstring.

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
from django.db import IntegrityError, transaction
from django.db.models import Sum
from django.utils import timezone

from accounts import services as accounts
from accounts.models import Client
from billing import dunning, idempotency, payments
from billing.audit_actions import Audit
from billing.gateways import CardDeclined, GatewayUnavailable, get_gateway
from billing.invoicing import charge_fees, credit, period_fee_line, period_invoice_of
from billing.ledger import balance_cents, debt_cents, locked_wallet, wallet_of
from billing.models import (
    PERIOD_MONTHS,
    Card,
    FreeAccountFlag,
    Invoice,
    LedgerEntry,
    PaymentAttempt,
    Period,
    PeriodChangeRequest,
    Subscription,
    period_bounds,
)
from billing.payments import live_card, reconcile_attempt
from billing.policy import POLICY_FIELDS, change_policy, check_policy_changes, current_policy, packages_needed
from billing.tariffs import end_pro
from compliance.services import record
from core.clock import billing_date
from core.exceptions import RuleRefused
from core.money import dollars, prorate_formula
from projects import selectors as projects_selectors
from projects import services as projects

# The names other apps and the admin use, kept here: billing's one door for a use case.
__all__ = [
    "POLICY_FIELDS", "balance_cents", "change_policy", "check_policy_changes", "current_policy", "debt_cents", "end_pro",
    "live_card", "packages_needed", "reconcile_attempt", "wallet_of",
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
            raise RuleRefused("card_removal_refused", f"Pay the debt of {dollars(debt_cents(wallet))} first; a card can go with at most $1.00 owed.")
    Card.objects.filter(pk=card.pk).update(removed_at=timezone.now())
    record(action=Audit.CARD_REMOVED, actor=actor, target=card, client=client, details={"role": role})


# --- PRO: activation, period changes, deactivation (PER-1..5, DEA-1..4, TAR-5) -----------------------


@dataclass(frozen=True)
class Quote:
    packages: int
    package_cents: int
    setup_fee_cents: int

    @property
    def total_cents(self) -> int:
        return self.packages * self.package_cents + self.setup_fee_cents


def _subscription(client: Client) -> Subscription | None:
    return Subscription.objects.filter(client=client).first()


def activation_quote(*, client: Client, period: str) -> Quote:
    """What activating PRO for `period` costs now: the packages the client's subscribers need
    (TAR-3), the period's price, and the set-up fee if it was never charged (DEA-4)."""
    policy = current_policy()
    subscription = _subscription(client)
    setup = 0 if subscription is not None and subscription.setup_fee_charged_at else policy.setup_fee_cents
    active = projects_selectors.active_subscribers_of_owner(owner_id=client.pk)
    return Quote(packages=packages_needed(active), package_cents=policy.package_cents(period), setup_fee_cents=setup)


def _clean_period(period) -> str:
    if period not in Period.values:
        raise ValidationError({"period": [f"Choose one of {', '.join(Period.values)}."]})
    return period


def _pay_shortfall(*, client: Client, amount: int, purpose: str, purpose_key: str) -> None:
    """WAL-2: the cards pay what the wallet lacks for `amount` (a debt included), read under the
    collection lock; the money is in the wallet when this returns, whatever the caller does next."""
    payments.pay_from_cards(client=client, lacking=lambda: amount - balance_cents(wallet_of(client)), purpose=purpose, purpose_key=purpose_key)


class _WalletShort(Exception):
    """The wallet no longer covers the fee (a debit landed after the card paid): pay again."""


def _pay_then(*, client: Client, amount: int, purpose: str, purpose_key: str, what: str, apply):
    """WAL-2, then the action: the cards pay what the wallet lacks (booked at once), then `apply()`
    writes in its own transaction; once more if a debit landed in between (`_WalletShort`)."""
    for _ in range(2):
        _pay_shortfall(client=client, amount=amount, purpose=purpose, purpose_key=purpose_key)
        try:
            return apply()
        except _WalletShort:
            continue
    raise RuleRefused("payment_failed", f"The wallet and the card did not cover the {what}; what was paid stays in your wallet.")


def activate_pro(*, client: Client, period: str, actor: Client | None = None) -> Subscription:
    """Activate PRO for a period (PER-1, PER-2): a verified email and a verified card are needed;
    the first period is charged in advance with the set-up fee where one is due (once in a
    client's life, DEA-4), from the wallet first and the card for the rest (WAL-2). Activation
    lifts a `free_limit` block at once (TAR-5) and restores projects archived within the
    retention window (DEA-4). Two requests at once charge once (PER-7); what the card paid stays
    in the wallet if the activation is then refused; a declined card can be replaced and tried
    again (a new attempt)."""
    period = _clean_period(period)
    client = Client.objects.get(pk=client.pk)
    if not client.email_verified:
        raise RuleRefused("email_unverified", "Verify your email address before activating PRO (ToU 5.6).")
    if live_card(client) is None:
        raise RuleRefused("card_required", "Add and verify a payment card before activating PRO (ToU 7.3).")
    # The whole activation under the collection lock: a second request at the same moment (a
    # double click) finds PRO active before it could charge anything.
    with payments.collection_lock(client.pk):
        subscription = _subscription(client)
        if subscription is not None and subscription.is_active:
            raise RuleRefused("already_active", "PRO is active already; change its period instead.")
        number = (subscription.activations if subscription else 0) + 1
        key = f"activation:{client.pk}:{number}"
        quote = activation_quote(client=client, period=period)
        return _pay_then(client=client, amount=quote.total_cents, purpose=f"PRO activation, {period}", purpose_key=key, what="activation",
                         apply=lambda: _activate(client=client, period=period, quote=quote, number=number, key=key, actor=actor))


@transaction.atomic(durable=True)
def _activate(*, client: Client, period: str, quote: Quote, number: int, key: str, actor: Client | None) -> Subscription:
    wallet = locked_wallet(client)
    subscription = Subscription.objects.select_for_update().filter(client=client).first()
    if subscription is not None and (subscription.is_active or subscription.activations >= number):
        raise RuleRefused("already_active", "PRO is active already; a payment made twice stays in your wallet.")
    if balance_cents(wallet) < quote.total_cents:
        raise _WalletShort
    today = billing_date()
    start, end = period_bounds(anchor=today, period=period, index=1)
    policy = current_policy()
    lines = [(f"{period_fee_line(period, quote.packages, quote.package_cents, start, end)} (activation, PER-2)",
              quote.packages * quote.package_cents, LedgerEntry.Kind.FEE)]
    if quote.setup_fee_cents:
        lines.append(("Set-up fee, once in a client's life (PER-2)", quote.setup_fee_cents, LedgerEntry.Kind.SETUP_FEE))
    invoice = charge_fees(wallet, client=client, lines=lines, reference=key, key=key)
    now = timezone.now()
    values = {
        "status": Subscription.Status.ACTIVE, "period": period, "packages": quote.packages, "anchor_date": today, "period_index": 1,
        "period_start": start, "period_end": end, "package_price_cents": quote.package_cents, "ends_after": None,
        "activations": number, "activated_at": now, "deactivated_at": None, "period_invoice": invoice,
    }
    if quote.setup_fee_cents:
        values["setup_fee_charged_at"] = now
    if subscription is None:
        subscription = Subscription.objects.create(client=client, setup_fee_charged_at=values.pop("setup_fee_charged_at", None), **values)
    else:
        for name, value in values.items():
            setattr(subscription, name, value)
        subscription.save()
    previous_end = client.tariff_since
    Client.objects.filter(pk=client.pk).update(tariff=Client.Tariff.PRO, tariff_since=now)
    accounts.unblock(client=client, reason=Client.BlockReason.FREE_LIMIT, note="PRO activated (TAR-5).")
    projects.restore_owner_projects(owner=client, since=max(previous_end, now - datetime.timedelta(days=policy.retention_days)))
    record(action=Audit.PRO_ACTIVATED, actor=actor, target=subscription, client=client,
           details={"period": period, "packages": quote.packages, "total_cents": quote.total_cents})
    return subscription


def _switch_period(*, client: Client, period: str, why: str, actor: Client | None) -> Subscription:
    """A new period from today: the unused part of the current one credited (a credit note that
    corrects the period's invoice), the new one charged in full at its own price and discount
    (PER-4; PER-5 on approval)."""
    subscription = _subscription(client)
    today = billing_date()
    key = f"switch:{client.pk}:{subscription.activations}:{subscription.period_start}:{subscription.period}:{period}:{today}"
    new_price = current_policy().package_cents(period)
    unused, _ = prorate_formula(
        packages=subscription.packages, price_cents=subscription.package_price_cents,
        days=subscription.days_left(today), period_days=subscription.period_days,
    )
    with payments.collection_lock(client.pk):  # a second request at once finds the switch made
        if LedgerEntry.objects.filter(idempotency_key=f"{key}:fee:0").exists():
            return Subscription.objects.get(pk=subscription.pk)
        return _pay_then(client=client, amount=subscription.packages * new_price - unused, purpose=f"Switch to {period}", purpose_key=key, what="switch",
                         apply=lambda: _switch(client=client, subscription=subscription, period=period, why=why, key=key, actor=actor))


@transaction.atomic(durable=True)
def _switch(*, client: Client, subscription: Subscription, period: str, why: str, key: str, actor: Client | None) -> Subscription:
    wallet = locked_wallet(client)
    subscription = Subscription.objects.select_for_update().get(pk=subscription.pk)
    if LedgerEntry.objects.filter(idempotency_key=f"{key}:fee:0").exists():
        return subscription  # done by a request at the same moment
    today = billing_date()
    new_price = current_policy().package_cents(period)
    unused, formula = prorate_formula(
        packages=subscription.packages, price_cents=subscription.package_price_cents,
        days=subscription.days_left(today), period_days=subscription.period_days,
    )
    fee = subscription.packages * new_price
    if balance_cents(wallet) + unused < fee:
        raise _WalletShort
    credit(wallet, client=client, amount=unused, kind=LedgerEntry.Kind.UNUSED_CREDIT, reference=key, key=f"{key}:unused",
           description=f"Unused {subscription.period} period credited (PER-4): {formula}", corrects=subscription.period_invoice)
    start, end = period_bounds(anchor=today, period=period, index=1)
    rule = "PER-4" if why == "longer" else "PER-5"
    invoice = charge_fees(wallet, client=client, lines=[(f"{period_fee_line(period, subscription.packages, new_price, start, end)} (period changed, {rule})", fee, LedgerEntry.Kind.FEE)],
                          reference=key, key=key)
    before = subscription.period
    subscription.period, subscription.anchor_date, subscription.period_index = period, today, 1
    subscription.period_start, subscription.period_end, subscription.package_price_cents = start, end, new_price
    subscription.ends_after, subscription.period_invoice = None, invoice
    subscription.save()
    record(action=Audit.PERIOD_CHANGED, actor=actor, target=subscription, client=client, details={"from": before, "to": period, "why": why})
    return subscription


def change_period(*, client: Client, period: str, actor: Client | None = None) -> tuple[Subscription, PeriodChangeRequest | None]:
    """Switch the period (PER-4, PER-5): to a longer one at once; a shorter one is asked of staff
    and waits (the answer carries `pending_period`)."""
    period = _clean_period(period)
    subscription = _subscription(client)
    if subscription is None or not subscription.is_active:
        raise RuleRefused("not_pro", "PRO is not active; activate it for the period you want.")
    if period == subscription.period:
        raise RuleRefused("same_period", f"The period is {period} already.")
    if PERIOD_MONTHS[period] > PERIOD_MONTHS[subscription.period]:
        return _switch_period(client=client, period=period, why="longer", actor=actor), None
    try:
        with transaction.atomic():
            request = PeriodChangeRequest.objects.create(client=client, from_period=subscription.period, to_period=period)
            record(action=Audit.SHORTER_PERIOD_REQUESTED, actor=actor, target=request, client=client, details={"to": period})
    except IntegrityError:
        raise RuleRefused("request_pending", "A request for a shorter period is waiting for staff already.") from None
    return subscription, request


def approve_period_change(*, request: PeriodChangeRequest, actor: Client, note: str = "") -> Subscription:
    """Staff approve a shorter period (PER-5): it takes effect at once, like PER-4, and the longer
    period's discount is lost."""
    with transaction.atomic():
        request = PeriodChangeRequest.objects.select_for_update().get(pk=request.pk)
        if request.status != PeriodChangeRequest.Status.PENDING:
            raise RuleRefused("request_decided", "This request was decided already.")
    subscription = _subscription(request.client)
    if subscription is None or not subscription.is_active or subscription.period != request.from_period:
        raise RuleRefused("request_outdated", "The subscription changed since the request; refuse it instead.")
    subscription = _switch_period(client=request.client, period=request.to_period, why="approved shorter", actor=actor)
    PeriodChangeRequest.objects.filter(pk=request.pk).update(
        status=PeriodChangeRequest.Status.APPROVED, decided_at=timezone.now(), decided_by=actor, staff_note=note
    )
    return subscription


@transaction.atomic
def refuse_period_change(*, request: PeriodChangeRequest, actor: Client, note: str = "") -> PeriodChangeRequest:
    request = PeriodChangeRequest.objects.select_for_update().get(pk=request.pk)
    if request.status != PeriodChangeRequest.Status.PENDING:
        raise RuleRefused("request_decided", "This request was decided already.")
    request.status, request.decided_at, request.decided_by, request.staff_note = PeriodChangeRequest.Status.REFUSED, timezone.now(), actor, note
    request.save()
    record(action=Audit.SHORTER_PERIOD_REFUSED, actor=actor, target=request, client=request.client, details={"note": note})
    return request


def business_days_between(start: datetime.date, end: datetime.date) -> int:
    """Weekdays after `start` up to and including `end`."""
    days, day = 0, start
    while day < end:
        day += datetime.timedelta(days=1)
        days += day.weekday() < 5
    return days


@transaction.atomic
def deactivate_pro(*, client: Client, confirm: bool, actor: Client | None = None) -> Subscription:
    """The client returns to Free (DEA-1..3). It confirms that its projects will be archived and
    deleted after the retention window (DEA-2). The unused part of the period is credited when
    `prorate_on_cancel` is on (DEA-1), on a credit note that corrects the period's invoice. Asked
    later than `cancel_notice_business_days` before the renewal, it takes effect after the next
    period (DEA-3)."""
    if confirm is not True:
        raise ValidationError({"confirm": ["Confirm that your projects will be archived and deleted after the retention window."]})
    wallet = locked_wallet(client)
    subscription = Subscription.objects.select_for_update().filter(client=client).first()
    if subscription is None or not subscription.is_active:
        raise RuleRefused("not_pro", "PRO is not active.")
    policy = current_policy()
    today = billing_date()
    renewal = subscription.period_end + datetime.timedelta(days=1)
    notice = policy.cancel_notice_business_days
    if notice and business_days_between(today, renewal) < notice:
        _, next_end = period_bounds(anchor=subscription.anchor_date, period=subscription.period, index=subscription.period_index + 1)
        subscription.ends_after = next_end
        subscription.save(update_fields=["ends_after"])
        record(action=Audit.PRO_DEACTIVATION_SCHEDULED, actor=actor, target=subscription, client=client, details={"ends_after": str(next_end)})
        return subscription
    key = f"deactivation:{client.pk}:{subscription.activations}"
    if policy.prorate_on_cancel:
        unused, formula = prorate_formula(
            packages=subscription.packages, price_cents=subscription.package_price_cents,
            days=subscription.days_left(today) - 1, period_days=subscription.period_days,  # today is used
        )
        credit(wallet, client=client, amount=unused, kind=LedgerEntry.Kind.UNUSED_CREDIT, reference=key, key=f"{key}:unused",
               description=f"Unused part of the PRO period credited on deactivation (DEA-1): {formula}", corrects=subscription.period_invoice)
    end_pro(subscription=subscription, actor=actor)
    return subscription


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
