"""Every write that moves money. The rules of each function are named in its docstring.

How a payment is made, always the same way (`_collect`): the attempt is recorded and committed
with its idempotency key before the gateway is called; the gateway is called with that key; the
outcome is recorded; only then, in one transaction under the wallet's lock, the money is booked
to the ledger and what it paid for is written. So a failure anywhere leaves no subscription
without its payment and no payment without its ledger entry (an unknown outcome is reconciled by
its key, never charged anew), and a repeat of the same request reuses the same key and charges
nothing twice (PER-7). Locks are always taken in the same order: wallet, then invoice number.
"""

import contextvars
import datetime
import math
import uuid
from dataclasses import dataclass

from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.db.models import Sum
from django.utils import timezone

from accounts import services as accounts
from accounts.models import Client
from billing.gateways import CardDeclined, GatewayUnavailable, get_gateway
from billing.models import (
    MINIMUM_PACKAGE_CENTS,
    PERIOD_MONTHS,
    Card,
    FreeAccountFlag,
    Invoice,
    InvoiceLine,
    InvoiceSequence,
    LedgerEntry,
    PaymentAttempt,
    Period,
    PeriodChangeRequest,
    PolicySettings,
    Subscription,
    Wallet,
    period_bounds,
)
from compliance.services import record
from core.clock import billing_date
from core.exceptions import RuleRefused
from core.money import dollars, prorate_formula
from core.sql import update_rows
from projects import selectors as projects_selectors
from projects import services as projects

VERIFICATION_CENTS = 100  # WAL-4, ToU 7.3
CARD_REMOVAL_DEBT_LIMIT_CENTS = 100  # CARD-2, ToU 3.21
TOP_UP_MIN_CENTS, TOP_UP_MAX_CENTS = 100, 1_000_000
PACKAGE_SIZE = 1_000  # TAR-3


# --- prices and policy (TAR-4) ----------------------------------------------------------------------


def current_policy() -> PolicySettings:
    """The prices and policy in force: the newest version (defaults as RULES.md until staff set one)."""
    return PolicySettings.objects.order_by("-created_at", "-id").first() or PolicySettings()


POLICY_FIELDS = [
    "package_monthly_cents", "quarterly_discount_percent", "yearly_discount_percent", "setup_fee_cents",
    "prorate_on_cancel", "cancel_notice_business_days", "late_fee_cents", "retention_days", "refund_window_days",
]


def check_policy_changes(changes: dict) -> None:
    """Refuse a policy that breaks a rule: a package below $10 (TAR-4) → `price_below_minimum`."""
    unknown = set(changes) - set(POLICY_FIELDS)
    if unknown:
        raise ValidationError({name: ["Not a policy setting."] for name in unknown})
    if changes.get("package_monthly_cents", MINIMUM_PACKAGE_CENTS) < MINIMUM_PACKAGE_CENTS:
        raise RuleRefused("price_below_minimum", f"A package may not cost less than {dollars(MINIMUM_PACKAGE_CENTS)} a month (ToU 3.5).")
    for name in ("quarterly_discount_percent", "yearly_discount_percent"):
        if not 0 <= changes.get(name, 0) < 100:
            raise ValidationError({name: ["A discount is between 0 and 99 percent."]})


@transaction.atomic
def change_policy(*, actor: Client, note: str = "", **changes) -> PolicySettings:
    """Staff set new prices or policy (TAR-4): a new version, in force for periods that start from
    now on (a period keeps the price it was paid at). A package below $10.00 is refused."""
    check_policy_changes(changes)
    before = current_policy()
    values = {name: getattr(before, name) for name in POLICY_FIELDS} | changes
    policy = PolicySettings.objects.create(**values, note=note, created_by=actor)
    record(
        action="billing.policy_changed", actor=actor, target=policy,
        details={"changed": {k: [getattr(before, k), v] for k, v in changes.items() if getattr(before, k) != v}, "note": note},
    )
    return policy


def packages_needed(active_subscribers: int) -> int:
    """TAR-3: `max(1, ceil(total_active / 1000))`, over all the projects a client owns."""
    return max(1, math.ceil(active_subscribers / PACKAGE_SIZE))


# --- the wallet (WAL-1) -------------------------------------------------------------------------------


def wallet_of(client: Client) -> Wallet:
    wallet, _ = Wallet.objects.get_or_create(client=client)
    return wallet


def _locked_wallet(client: Client) -> Wallet:
    wallet_of(client)
    return Wallet.objects.select_for_update().get(client=client)


def balance_cents(wallet: Wallet) -> int:
    """The balance is the sum of the ledger, always (WAL-1): never a stored figure."""
    return wallet.entries.aggregate(total=Sum("amount_cents"))["total"] or 0


def _post(
    wallet: Wallet, *, amount: int, kind: str, description: str, reference: str, key: str,
    invoice: Invoice | None = None, payment: PaymentAttempt | None = None, actor: Client | None = None,
) -> LedgerEntry:
    """Add one ledger entry under the wallet's lock; a key already used returns its entry."""
    if existing := LedgerEntry.objects.filter(idempotency_key=key).first():
        return existing
    return LedgerEntry.objects.create(
        wallet=wallet, amount_cents=amount, kind=kind, description=description[:300], reference=reference[:120],
        idempotency_key=key, invoice=invoice, payment=payment, actor=actor if getattr(actor, "is_authenticated", False) else None,
    )


# --- invoices and credit notes (WAL-6) --------------------------------------------------------------


def _sequence_row(series: str, year: int) -> InvoiceSequence:
    """The sequence row of a series and year, locked until the transaction ends: so a rolled-back
    invoice gives its number back and two at once never share one."""
    try:
        with transaction.atomic():
            InvoiceSequence.objects.get_or_create(series=series, year=year)
    except IntegrityError:  # made at this moment by another transaction: it exists now
        pass
    return InvoiceSequence.objects.select_for_update().get(series=series, year=year)


def _next_number(series: str, year: int) -> tuple[int, str]:
    sequence = _sequence_row(series, year)
    sequence.last += 1
    sequence.save(update_fields=["last"])
    return sequence.last, f"{series}-{year}-{sequence.last:06d}"


def _issue(*, client: Client, kind: str, lines: list[tuple[str, int]], reference: str, status: str = Invoice.Status.PAID,
           corrects: Invoice | None = None) -> Invoice:
    series = "INV" if kind == Invoice.Kind.INVOICE else "CN"
    now = timezone.now()
    year = billing_date(now).year
    # The night numbers its invoices per chunk (number_pending_invoices), so that its workers do
    # not queue on the sequence row once per invoice; everywhere else the number is taken now.
    sequence, number = (None, None) if NUMBER_LATER.get() else _next_number(series, year)
    invoice = Invoice.objects.create(
        number=number, kind=kind, series=series, year=year, sequence=sequence, client=client, client_name=client.name,
        client_email=client.email, issued_at=now, due_at=now, total_cents=sum(amount for _, amount in lines),
        status=status, corrects=corrects, reference=reference,
    )
    InvoiceLine.objects.bulk_create([InvoiceLine(invoice=invoice, description=d[:300], amount_cents=a) for d, a in lines])
    return invoice


NUMBER_LATER: contextvars.ContextVar[bool] = contextvars.ContextVar("number_later", default=False)


def number_pending_invoices() -> int:
    """Give every invoice issued without a number its number, in the order issued: one lock of
    each sequence row for all of them, gapless (WAL-6). Returns how many were numbered."""
    numbered = 0
    pending = Invoice.objects.filter(sequence__isnull=True).order_by().values_list("series", "year").distinct()
    for series, year in list(pending):
        with transaction.atomic():
            row = _sequence_row(series, year)
            invoices = list(Invoice.objects.select_for_update().filter(series=series, year=year, sequence__isnull=True).order_by("id"))
            for invoice in invoices:
                row.last += 1
                invoice.sequence, invoice.number = row.last, f"{series}-{year}-{row.last:06d}"
            update_rows(Invoice, invoices, ["sequence", "number"])
            row.save(update_fields=["last"])
            numbered += len(invoices)
    return numbered


def _credit(wallet: Wallet, *, client: Client, amount: int, kind: str, description: str, reference: str, key: str,
            actor: Client | None = None) -> LedgerEntry | None:
    """A credit to the wallet with its credit note (WAL-3, WAL-6). Nothing for nothing."""
    if amount <= 0 or LedgerEntry.objects.filter(idempotency_key=key).exists():
        return None
    note = _issue(client=client, kind=Invoice.Kind.CREDIT_NOTE, lines=[(description, -amount)], reference=reference)
    return _post(wallet, amount=amount, kind=kind, description=description, reference=reference, key=key, invoice=note, actor=actor)


def _charge_fees(wallet: Wallet, *, client: Client, lines: list[tuple[str, int, str]], reference: str, key: str) -> Invoice:
    """Debit fees from the wallet (WAL-2: the wallet pays first) on one invoice. `lines` are
    (description, cents, ledger kind)."""
    invoice = _issue(client=client, kind=Invoice.Kind.INVOICE, lines=[(d, a) for d, a, _ in lines], reference=reference)
    for n, (description, amount, kind) in enumerate(lines):
        _post(wallet, amount=-amount, kind=kind, description=description, reference=reference, key=f"{key}:fee:{n}", invoice=invoice)
    return invoice


# --- the gateway, always the same way (CARD-3, CARD-4, PER-7) ---------------------------------------


def live_card(client: Client, role: str = Card.Role.MAIN) -> Card | None:
    return Card.objects.filter(client=client, role=role, removed_at__isnull=True, verified_at__isnull=False).first()


def _customer_ref(client: Client) -> str:
    return f"client-{client.pk}"


def _collect(*, client: Client, card: Card, amount: int, purpose: str, key: str, kind: str = PaymentAttempt.Kind.CHARGE) -> PaymentAttempt:
    """Charge a card once for `key`: the attempt is committed before the gateway call, the call
    carries the key, the outcome is recorded. An attempt decided before is returned as it is."""
    attempt, _ = PaymentAttempt.objects.get_or_create(
        idempotency_key=key,
        defaults={"client": client, "card": card, "kind": kind, "amount_cents": amount, "purpose": purpose[:200], "gateway": card.gateway},
    )
    if attempt.status in (PaymentAttempt.Status.SUCCEEDED, PaymentAttempt.Status.FAILED):
        return attempt
    gateway = get_gateway()
    try:
        result = gateway.charge(card_token=card.token, amount_cents=amount, idempotency_key=key, description=purpose, customer_ref=_customer_ref(client))
    except GatewayUnavailable:
        PaymentAttempt.objects.filter(pk=attempt.pk, status=PaymentAttempt.Status.PENDING).update(status=PaymentAttempt.Status.UNKNOWN)
        attempt.refresh_from_db()
        return attempt
    return _record_outcome(attempt, result)


def collect_many(requests: list[tuple[Client, Card, int, str, str]]) -> dict[str, PaymentAttempt]:
    """`_collect` for many at once (the night's chunks): every attempt committed in one statement
    before any gateway call, each call with its key, every outcome recorded in one transaction.
    `requests` are (client, card, amount, purpose, key); the answer maps each key to its attempt."""
    if not requests:
        return {}
    with transaction.atomic():
        PaymentAttempt.objects.bulk_create(
            [PaymentAttempt(client=client, card=card, kind=PaymentAttempt.Kind.CHARGE, amount_cents=amount, purpose=purpose[:200],
                            idempotency_key=key, gateway=card.gateway) for client, card, amount, purpose, key in requests],
            ignore_conflicts=True,
        )
    keys = [key for *_, key in requests]
    attempts = {a.idempotency_key: a for a in PaymentAttempt.objects.filter(idempotency_key__in=keys)}
    gateway = get_gateway()
    results, unknown = {}, []
    for client, card, _, purpose, key in requests:
        attempt = attempts[key]
        if attempt.status in (PaymentAttempt.Status.SUCCEEDED, PaymentAttempt.Status.FAILED):
            continue
        try:
            results[key] = gateway.charge(card_token=card.token, amount_cents=attempt.amount_cents, idempotency_key=key, description=purpose,
                                          customer_ref=_customer_ref(client))
        except GatewayUnavailable:
            unknown.append(key)
    now = timezone.now()
    with transaction.atomic():
        open_ones = list(PaymentAttempt.objects.select_for_update().filter(
            idempotency_key__in=list(results), status__in=[PaymentAttempt.Status.PENDING, PaymentAttempt.Status.UNKNOWN]))
        for attempt in open_ones:
            result = results[attempt.idempotency_key]
            attempt.status = PaymentAttempt.Status.SUCCEEDED if result.succeeded else PaymentAttempt.Status.FAILED
            attempt.failure_code, attempt.gateway_reference, attempt.completed_at = result.failure_code[:60], result.reference[:120], now
        update_rows(PaymentAttempt, open_ones, ["status", "failure_code", "gateway_reference", "completed_at"])
        PaymentAttempt.objects.filter(idempotency_key__in=unknown, status=PaymentAttempt.Status.PENDING).update(status=PaymentAttempt.Status.UNKNOWN)
    return {a.idempotency_key: a for a in PaymentAttempt.objects.filter(idempotency_key__in=keys)}


def _record_outcome(attempt: PaymentAttempt, result) -> PaymentAttempt:
    with transaction.atomic():
        attempt = PaymentAttempt.objects.select_for_update().get(pk=attempt.pk)
        if attempt.status in (PaymentAttempt.Status.PENDING, PaymentAttempt.Status.UNKNOWN):
            attempt.status = PaymentAttempt.Status.SUCCEEDED if result.succeeded else PaymentAttempt.Status.FAILED
            attempt.failure_code = result.failure_code[:60]
            attempt.gateway_reference = result.reference[:120]
            attempt.completed_at = timezone.now()
            attempt.save(update_fields=["status", "failure_code", "gateway_reference", "completed_at"])
    return attempt


def _collect_from_cards(*, client: Client, amount: int, purpose: str, key: str) -> PaymentAttempt:
    """The main card, then the backup card when the main one fails (CARD-4)."""
    card = live_card(client)
    if card is None:
        raise RuleRefused("card_required", "Add and verify a payment card first.")
    attempt = _collect(client=client, card=card, amount=amount, purpose=purpose, key=key)
    backup = live_card(client, Card.Role.BACKUP)
    if attempt.status == PaymentAttempt.Status.FAILED and backup is not None:
        attempt = _collect(client=client, card=backup, amount=amount, purpose=purpose, key=f"{key}:backup")
    return attempt


def _refuse_unless_paid(attempt: PaymentAttempt) -> None:
    if attempt.status == PaymentAttempt.Status.UNKNOWN or attempt.status == PaymentAttempt.Status.PENDING:
        raise RuleRefused(
            "payment_pending",
            "The payment provider did not answer; nothing else was done. Try again in a moment: you will not be charged twice.",
            status=503,
        )
    if attempt.status == PaymentAttempt.Status.FAILED:
        raise RuleRefused("payment_failed", f"The card was declined ({attempt.failure_code or 'no reason given'}); nothing was changed.")


def _book(wallet: Wallet, attempt: PaymentAttempt, *, kind: str = LedgerEntry.Kind.CARD_PAYMENT, description: str = "") -> LedgerEntry | None:
    """Put a succeeded payment's money in the wallet, once (under the wallet's lock)."""
    attempt = PaymentAttempt.objects.select_for_update().get(pk=attempt.pk)
    if attempt.status != PaymentAttempt.Status.SUCCEEDED or attempt.booked or attempt.kind == PaymentAttempt.Kind.REFUND:
        return None
    card = attempt.card
    entry = _post(
        wallet, amount=attempt.amount_cents, kind=kind, description=description or f"Paid by {card}: {attempt.purpose} (WAL-2: what the wallet lacked)",
        reference=f"payment:{attempt.pk}", key=f"payment:{attempt.idempotency_key}", payment=attempt,
    )
    PaymentAttempt.objects.filter(pk=attempt.pk).update(booked=True)
    return entry


def reconcile_unknown_attempts(*, older_than: datetime.timedelta = datetime.timedelta(minutes=5)) -> int:
    """Reconcile every attempt left unknown (or sent and never answered) for a while: the beat
    runs this, so that money the gateway did take reaches the wallet without anyone asking."""
    stale = PaymentAttempt.objects.filter(
        status__in=[PaymentAttempt.Status.UNKNOWN, PaymentAttempt.Status.PENDING], created_at__lt=timezone.now() - older_than
    ).exclude(kind=PaymentAttempt.Kind.REFUND)
    done = 0
    for attempt in stale.iterator():
        try:
            reconcile_attempt(attempt=attempt)
            done += 1
        except GatewayUnavailable:
            break  # still unreachable: the next run tries again
    return done


def reconcile_attempt(*, attempt: PaymentAttempt) -> PaymentAttempt:
    """Settle an attempt whose outcome was unknown by asking the gateway for its key (never by
    charging again). Money that did arrive goes to the wallet: no payment without its entry."""
    if attempt.status not in (PaymentAttempt.Status.UNKNOWN, PaymentAttempt.Status.PENDING):
        return attempt
    result = get_gateway().find_charge(idempotency_key=attempt.idempotency_key)
    if result is None:
        with transaction.atomic():
            PaymentAttempt.objects.filter(pk=attempt.pk).update(
                status=PaymentAttempt.Status.FAILED, failure_code="not_received", completed_at=timezone.now()
            )
        attempt.refresh_from_db()
        return attempt
    attempt = _record_outcome(attempt, result)
    with transaction.atomic():
        wallet = _locked_wallet(attempt.client)
        kind = LedgerEntry.Kind.VERIFICATION if attempt.kind == PaymentAttempt.Kind.VERIFICATION else LedgerEntry.Kind.CARD_PAYMENT
        if _book(wallet, attempt, kind=kind):
            record(action="billing.payment_reconciled", target=attempt, client=attempt.client, details={"amount_cents": attempt.amount_cents})
    attempt.refresh_from_db()
    return attempt


# --- cards (CARD-1, CARD-2, CARD-4, WAL-4, TAR-6) ------------------------------------------------------


def attach_card(*, client: Client, token: str, role: str = Card.Role.MAIN, actor: Client | None = None) -> Card:
    """Save a card through the gateway and verify it: $1 is charged to it and credited to the
    wallet (WAL-4). It replaces the client's card of that role (CARD-4 for the backup card).
    A declined card, or a failed verification, leaves the client's cards as they were."""
    if not isinstance(token, str) or not token.strip():
        raise ValidationError({"token": ["Send the card token from the payment form."]})
    gateway = get_gateway()
    try:
        details = gateway.attach_card(token=token.strip(), customer_ref=_customer_ref(client))
    except CardDeclined as exc:
        raise RuleRefused("card_declined", f"The card was refused ({exc.code}). Try another card.") from None
    except GatewayUnavailable:
        raise RuleRefused("payment_pending", "The payment provider did not answer; try again in a moment.", status=503) from None
    card = Card.objects.create(
        client=client, role=role, gateway=gateway.name, token=details.token, brand=details.brand, last4=details.last4,
        exp_month=details.exp_month, exp_year=details.exp_year, fingerprint=details.fingerprint,
    )
    # One verification per card, role and day: two requests at once (or a retry) charge $1 once.
    key = f"verify:{client.pk}:{role}:{details.fingerprint}:{billing_date()}"
    attempt = _collect(client=client, card=card, amount=VERIFICATION_CENTS, purpose="Card verification", key=key,
                       kind=PaymentAttempt.Kind.VERIFICATION)
    if attempt.status != PaymentAttempt.Status.SUCCEEDED:
        Card.objects.filter(pk=card.pk, verified_at__isnull=True).update(removed_at=timezone.now())
        _refuse_unless_paid(attempt)
    with transaction.atomic():
        wallet = _locked_wallet(client)
        card = Card.objects.select_for_update().get(pk=card.pk)
        if card.verified_at is None:
            now = timezone.now()
            Card.objects.filter(client=client, role=role, removed_at__isnull=True, verified_at__isnull=False).update(removed_at=now)
            card.verified_at = now
            card.save(update_fields=["verified_at"])
            _book(wallet, attempt, kind=LedgerEntry.Kind.VERIFICATION, description=f"Card verification of {card}: $1.00 back to your wallet (WAL-4)")
            record(action="billing.card_added", actor=actor, target=card, client=client, details={"role": role, "brand": card.brand, "last4": card.last4})
            _flag_shared_card(client=client, card=card)
    from billing.night import after_payment  # the night's dunning state lives there

    after_payment(client=client, try_cards=True)  # a new card pays a debt at once (DUN-4)
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
    from allauth.account.models import EmailAddress

    if client.tariff != Client.Tariff.FREE:
        return
    others = (
        EmailAddress.objects.filter(email__iexact=email, verified=True, user__tariff=Client.Tariff.FREE)
        .exclude(user=client).values_list("user_id", flat=True)
    )
    for other_id in others:
        FreeAccountFlag.objects.get_or_create(client=client, other_id=other_id, matched_on=FreeAccountFlag.Match.EMAIL)


def debt_cents(wallet: Wallet) -> int:
    """What is owed: a negative balance (DUN-1)."""
    return max(0, -balance_cents(wallet))


@transaction.atomic
def remove_card(*, client: Client, role: str = Card.Role.MAIN, actor: Client | None = None) -> None:
    """Delete the card data (CARD-2): only with a debt of at most $1 and PRO deactivated. The
    backup card may go at any time."""
    wallet = _locked_wallet(client)
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
    record(action="billing.card_removed", actor=actor, target=card, client=client, details={"role": role})


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


def _pay_shortfall(*, client: Client, amount: int, purpose: str, key: str) -> PaymentAttempt | None:
    """Charge the cards what the wallet lacks for `amount` (WAL-2), a debt included; None when
    the wallet covers it."""
    shortfall = amount - balance_cents(wallet_of(client))
    if shortfall <= 0:
        return None
    attempt = _collect_from_cards(client=client, amount=shortfall, purpose=purpose, key=key)
    _refuse_unless_paid(attempt)
    return attempt


def _period_fee_line(period: str, packages: int, package_cents: int, start: datetime.date, end: datetime.date) -> str:
    noun = "package" if packages == 1 else "packages"
    return f"PRO {period} {start:%d.%m.%Y}–{end:%d.%m.%Y}: {packages} {noun} × {dollars(package_cents)}"


def activate_pro(*, client: Client, period: str, actor: Client | None = None) -> Subscription:
    """Activate PRO for a period (PER-1, PER-2): a verified email and a verified card are needed;
    the first period is charged in advance with the set-up fee where one is due (once in a
    client's life, DEA-4), from the wallet first and the card for the rest (WAL-2). Activation
    lifts a `free_limit` block at once (TAR-5) and restores projects archived within the
    retention window (DEA-4). Two requests at once charge once."""
    period = _clean_period(period)
    client = Client.objects.get(pk=client.pk)
    if not client.email_verified:
        raise RuleRefused("email_unverified", "Verify your email address before activating PRO (ToU 5.6).")
    if live_card(client) is None:
        raise RuleRefused("card_required", "Add and verify a payment card before activating PRO (ToU 7.3).")
    subscription = _subscription(client)
    if subscription is not None and subscription.is_active:
        raise RuleRefused("already_active", "PRO is active already; change its period instead.")
    number = (subscription.activations if subscription else 0) + 1
    key = f"activation:{client.pk}:{number}"
    quote = activation_quote(client=client, period=period)
    attempt = _pay_shortfall(client=client, amount=quote.total_cents, purpose=f"PRO activation, {period}", key=key)

    with transaction.atomic():
        wallet = _locked_wallet(client)
        if attempt is not None:
            _book(wallet, attempt)  # the money reaches the wallet whatever happens next (PER-7)
        subscription = Subscription.objects.select_for_update().filter(client=client).first()
        if subscription is not None and (subscription.is_active or subscription.activations >= number):
            raise RuleRefused("already_active", "PRO is active already; a payment made twice stays in your wallet.")
        today = billing_date()
        start, end = period_bounds(anchor=today, period=period, index=1)
        policy = current_policy()
        lines = [(f"{_period_fee_line(period, quote.packages, quote.package_cents, start, end)} (activation, PER-2)",
                  quote.packages * quote.package_cents, LedgerEntry.Kind.FEE)]
        if quote.setup_fee_cents:
            lines.append(("Set-up fee, once in a client's life (PER-2)", quote.setup_fee_cents, LedgerEntry.Kind.SETUP_FEE))
        if balance_cents(wallet) < quote.total_cents:
            raise RuleRefused("payment_failed", "The wallet and the card did not cover the activation; nothing was activated.")
        _charge_fees(wallet, client=client, lines=lines, reference=key, key=key)
        now = timezone.now()
        values = {
            "status": Subscription.Status.ACTIVE, "period": period, "packages": quote.packages, "anchor_date": today, "period_index": 1,
            "period_start": start, "period_end": end, "package_price_cents": quote.package_cents, "ends_after": None,
            "activations": number, "activated_at": now, "deactivated_at": None,
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
        record(action="billing.pro_activated", actor=actor, target=subscription, client=client,
               details={"period": period, "packages": quote.packages, "total_cents": quote.total_cents})
    return subscription


def _switch_period(*, client: Client, period: str, why: str, actor: Client | None) -> Subscription:
    """A new period from today: the unused part of the current one credited, the new one charged
    in full at its own price and discount (PER-4; PER-5 on approval)."""
    subscription = _subscription(client)
    today = billing_date()
    key = f"switch:{client.pk}:{subscription.activations}:{subscription.period_start}:{subscription.period}:{period}:{today}"
    policy = current_policy()
    new_price = policy.package_cents(period)
    unused, formula = prorate_formula(
        packages=subscription.packages, price_cents=subscription.package_price_cents,
        days=subscription.days_left(today), period_days=subscription.period_days,
    )
    fee = subscription.packages * new_price
    attempt = _pay_shortfall(client=client, amount=fee - unused, purpose=f"Switch to {period}", key=key)
    with transaction.atomic():
        wallet = _locked_wallet(client)
        if attempt is not None:
            _book(wallet, attempt)
        subscription = Subscription.objects.select_for_update().get(pk=subscription.pk)
        if LedgerEntry.objects.filter(idempotency_key=f"{key}:fee:0").exists():
            return subscription  # done by a request at the same moment
        _credit(wallet, client=client, amount=unused, kind=LedgerEntry.Kind.UNUSED_CREDIT, reference=key, key=f"{key}:unused",
                description=f"Unused {subscription.period} period credited (PER-4): {formula}")
        start, end = period_bounds(anchor=today, period=period, index=1)
        _charge_fees(wallet, client=client, lines=[(f"{_period_fee_line(period, subscription.packages, new_price, start, end)} (period changed, {'PER-4' if why == 'longer' else 'PER-5'})", fee, LedgerEntry.Kind.FEE)],
                     reference=key, key=key)
        before = subscription.period
        subscription.period, subscription.anchor_date, subscription.period_index = period, today, 1
        subscription.period_start, subscription.period_end, subscription.package_price_cents = start, end, new_price
        subscription.ends_after = None
        subscription.save()
        record(action="billing.period_changed", actor=actor, target=subscription, client=client, details={"from": before, "to": period, "why": why})
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
            record(action="billing.shorter_period_requested", actor=actor, target=request, client=client, details={"to": period})
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
    record(action="billing.shorter_period_refused", actor=actor, target=request, client=request.client, details={"note": note})
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
    `prorate_on_cancel` is on (DEA-1). Asked later than `cancel_notice_business_days` before the
    renewal, it takes effect after the next period (DEA-3)."""
    if confirm is not True:
        raise ValidationError({"confirm": ["Confirm that your projects will be archived and deleted after the retention window."]})
    wallet = _locked_wallet(client)
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
        record(action="billing.pro_deactivation_scheduled", actor=actor, target=subscription, client=client, details={"ends_after": str(next_end)})
        return subscription
    key = f"deactivation:{client.pk}:{subscription.activations}"
    if policy.prorate_on_cancel:
        unused, formula = prorate_formula(
            packages=subscription.packages, price_cents=subscription.package_price_cents,
            days=subscription.days_left(today) - 1, period_days=subscription.period_days,  # today is used
        )
        _credit(wallet, client=client, amount=unused, kind=LedgerEntry.Kind.UNUSED_CREDIT, reference=key, key=f"{key}:unused",
                description=f"Unused part of the PRO period credited on deactivation (DEA-1): {formula}")
    end_pro(subscription=subscription, actor=actor)
    return subscription


def end_pro(*, subscription: Subscription, actor: Client | None = None) -> None:
    """PRO ends: the client is on Free from now, a new Free stint (TAR-2), its projects archived
    (DEA-2). Called inside the caller's transaction."""
    now = timezone.now()
    subscription.status, subscription.deactivated_at, subscription.ends_after = Subscription.Status.DEACTIVATED, now, None
    subscription.save(update_fields=["status", "deactivated_at", "ends_after"])
    Client.objects.filter(pk=subscription.client_id).update(tariff=Client.Tariff.FREE, tariff_since=now)
    projects.archive_owner_projects(owner=subscription.client, actor=actor)
    record(action="billing.pro_deactivated", actor=actor, target=subscription, client=subscription.client)


# --- top-ups, staff credits and refunds (WAL-3, WAL-5) ---------------------------------------------------


def top_up(*, client: Client, amount_cents: int, idempotency_key: str | None = None, actor: Client | None = None) -> LedgerEntry:
    """Put money in the wallet from the card (WAL-5). The same Idempotency-Key charges once."""
    if not isinstance(amount_cents, int) or not TOP_UP_MIN_CENTS <= amount_cents <= TOP_UP_MAX_CENTS:
        raise ValidationError({"amount_cents": [f"Between {dollars(TOP_UP_MIN_CENTS)} and {dollars(TOP_UP_MAX_CENTS)}, in cents."]})
    key = f"topup:{client.pk}:{idempotency_key or uuid.uuid4().hex}"
    attempt = _collect_from_cards(client=client, amount=amount_cents, purpose=f"Wallet top-up {dollars(amount_cents)}", key=key)
    if attempt.amount_cents != amount_cents:
        raise RuleRefused("idempotency_key_reused", "This Idempotency-Key was used for another amount.")
    _refuse_unless_paid(attempt)
    with transaction.atomic():
        wallet = _locked_wallet(client)
        entry = _book(wallet, attempt, kind=LedgerEntry.Kind.TOP_UP, description=f"Top-up from {attempt.card} (WAL-5)")
        if entry is not None:
            record(action="billing.topped_up", actor=actor, target=entry, client=client, details={"amount_cents": amount_cents})
    from billing.night import after_payment

    after_payment(client=client)  # DUN-4
    return LedgerEntry.objects.get(payment=attempt)


@transaction.atomic
def staff_credit(*, client: Client, amount_cents: int, reason: str, actor: Client) -> LedgerEntry:
    """Staff credit the wallet, with a reason and a credit note (WAL-3)."""
    if not isinstance(amount_cents, int) or amount_cents <= 0:
        raise ValidationError({"amount_cents": ["A positive amount in cents."]})
    if not reason.strip():
        raise ValidationError({"reason": ["Say why."]})
    wallet = _locked_wallet(client)
    key = f"staff-credit:{uuid.uuid4().hex}"
    entry = _credit(wallet, client=client, amount=amount_cents, kind=LedgerEntry.Kind.STAFF_CREDIT, reference=f"staff:{actor.pk}",
                    key=key, description=f"Credit by staff (WAL-3): {reason.strip()}", actor=actor)
    record(action="billing.staff_credit", actor=actor, target=entry, client=client, details={"amount_cents": amount_cents, "reason": reason})
    return entry


def staff_refund(*, payment: PaymentAttempt, amount_cents: int, reason: str, actor: Client) -> PaymentAttempt:
    """The exception to WAL-3: staff return money to the card it came from, within the refund
    window, with a reason; the wallet is debited by the same amount, so it cannot be spent twice."""
    if not reason.strip():
        raise ValidationError({"reason": ["Say why."]})
    if payment.status != PaymentAttempt.Status.SUCCEEDED or payment.kind == PaymentAttempt.Kind.REFUND:
        raise RuleRefused("not_refundable", "Only a succeeded card payment can be refunded.")
    policy = current_policy()
    if payment.created_at < timezone.now() - datetime.timedelta(days=policy.refund_window_days):
        raise RuleRefused("refund_window_passed", f"Refunds are possible within {policy.refund_window_days} days of the payment.")
    refunded = PaymentAttempt.objects.filter(refunds=payment, status=PaymentAttempt.Status.SUCCEEDED).aggregate(t=Sum("amount_cents"))["t"] or 0
    if not isinstance(amount_cents, int) or not 0 < amount_cents <= payment.amount_cents - refunded:
        raise ValidationError({"amount_cents": [f"At most {dollars(payment.amount_cents - refunded)} is left to refund."]})
    client = payment.client
    with transaction.atomic():
        wallet = _locked_wallet(client)
        if balance_cents(wallet) < amount_cents:
            raise RuleRefused("refund_exceeds_balance", "The wallet holds less than this; the money was spent on fees.")
        key = f"refund:{payment.pk}:{refunded}:{amount_cents}"
        attempt, _ = PaymentAttempt.objects.get_or_create(
            idempotency_key=key,
            defaults={"client": client, "card": payment.card, "kind": PaymentAttempt.Kind.REFUND, "amount_cents": amount_cents,
                      "purpose": f"Refund: {reason}"[:200], "gateway": payment.gateway, "refunds": payment},
        )
    try:
        result = get_gateway().refund(charge_reference=payment.gateway_reference, amount_cents=amount_cents, idempotency_key=key)
    except GatewayUnavailable:
        raise RuleRefused("payment_pending", "The payment provider did not answer; try again: the refund will not be made twice.", status=503) from None
    attempt = _record_outcome(attempt, result)
    if attempt.status != PaymentAttempt.Status.SUCCEEDED:
        raise RuleRefused("refund_failed", f"The gateway refused the refund ({attempt.failure_code}).")
    with transaction.atomic():
        wallet = _locked_wallet(client)
        _post(wallet, amount=-amount_cents, kind=LedgerEntry.Kind.STAFF_REFUND, description=f"Refunded to {payment.card}: {reason.strip()}",
              reference=f"payment:{payment.pk}", key=f"refund-entry:{key}", payment=attempt, actor=actor)
        record(action="billing.staff_refund", actor=actor, target=attempt, client=client, details={"amount_cents": amount_cents, "reason": reason})
    return attempt
