"""PRO's life at a client's or staff's request: activation (PER-1, PER-2, TAR-5, DEA-4), period
changes (PER-4, PER-5) and deactivation (DEA-1..3). Each card payment goes through `payments`
(WAL-2: the wallet first, the cards for the rest) before the change is written in a transaction
of its own; locks in the one order: collection lock, wallet, invoice number."""

import datetime
from dataclasses import dataclass

from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.utils import timezone
from django.utils.translation import gettext_noop

from accounts import services as accounts
from accounts.models import Client
from billing import emails, payments
from billing.audit_actions import Audit
from billing.invoicing import charge_fees, credit, period_fee_line
from billing.ledger import balance_cents, locked_wallet, wallet_of
from billing.models import PERIOD_MONTHS, LedgerEntry, Period, PeriodChangeRequest, Subscription, period_bounds
from billing.payments import live_card
from billing.policy import current_policy, packages_needed
from billing.tariffs import end_pro
from compliance.services import record
from core.clock import billing_date
from core.exceptions import RuleRefused, lowered
from core.money import prorate_formula
from projects import selectors as projects_selectors
from projects import services as projects


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
    emails.tell_pro_activated(client=client, subscription_pk=subscription.pk, number=number, packages=quote.packages, period=period,
                              start=start, end=end, total_cents=quote.total_cents)
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
        raise RuleRefused("same_period", gettext_noop("The period is %(period)s already."), params={"period": lowered(Period(period).label)})
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
    emails.tell_period_decided(client=request.client, request_pk=request.pk, approved=True, period=request.to_period, note=note)
    return subscription


@transaction.atomic
def refuse_period_change(*, request: PeriodChangeRequest, actor: Client, note: str = "") -> PeriodChangeRequest:
    request = PeriodChangeRequest.objects.select_for_update().get(pk=request.pk)
    if request.status != PeriodChangeRequest.Status.PENDING:
        raise RuleRefused("request_decided", "This request was decided already.")
    request.status, request.decided_at, request.decided_by, request.staff_note = PeriodChangeRequest.Status.REFUSED, timezone.now(), actor, note
    request.save()
    record(action=Audit.SHORTER_PERIOD_REFUSED, actor=actor, target=request, client=request.client, details={"note": note})
    emails.tell_period_decided(client=request.client, request_pk=request.pk, approved=False, period=request.from_period, note=note)
    return request


def business_days_between(start: datetime.date, end: datetime.date) -> int:
    """Weekdays after `start` up to and including `end`."""
    days, day = 0, start
    while day < end:
        day += datetime.timedelta(days=1)
        days += day.weekday() < 5
    return days


@dataclass(frozen=True)
class DeactivationPlan:
    """What deactivating PRO today does (DEA-1..3): ends it at once with the unused part credited,
    or lets a paid period run out first (`ends_after`)."""

    at_once: bool
    ends_after: datetime.date | None
    credit_cents: int
    formula: str
    rule: str  # the rule that decides it: DEA-1 (credit or run out), DEA-3 (late notice)


def deactivation_plan(subscription: Subscription, *, today: datetime.date | None = None) -> DeactivationPlan:
    """DEA-1..3 for an active subscription: the one reading of the policy that both the service
    and the confirmation the client sees before it deactivates use."""
    policy = current_policy()
    today = today or billing_date()
    renewal = subscription.period_end + datetime.timedelta(days=1)
    notice = policy.cancel_notice_business_days
    if notice and business_days_between(today, renewal) < notice:
        _, next_end = period_bounds(anchor=subscription.anchor_date, period=subscription.period, index=subscription.period_index + 1)
        return DeactivationPlan(at_once=False, ends_after=next_end, credit_cents=0, formula="", rule="DEA-3")
    if not policy.prorate_on_cancel:
        return DeactivationPlan(at_once=False, ends_after=subscription.period_end, credit_cents=0, formula="", rule="DEA-1")
    unused, formula = prorate_formula(
        packages=subscription.packages, price_cents=subscription.package_price_cents,
        days=subscription.days_left(today) - 1, period_days=subscription.period_days,  # today is used
    )
    return DeactivationPlan(at_once=True, ends_after=None, credit_cents=unused, formula=formula, rule="DEA-1")


@transaction.atomic
def deactivate_pro(*, client: Client, confirm: bool, actor: Client | None = None) -> Subscription:
    """The client returns to Free (DEA-1..3). It confirms that its projects will be archived and
    deleted after the retention window (DEA-2). With `prorate_on_cancel` on (DEA-1) it takes
    effect at once and the unused part of the period is credited, on a credit note that corrects
    the period's invoice; off, the paid period runs out first (`ends_after`, the night ends PRO,
    with its packages and the projects until then). Asked later than `cancel_notice_business_days`
    before the renewal, it takes effect after the next period (DEA-3)."""
    if confirm is not True:
        raise ValidationError({"confirm": ["Confirm that your projects will be archived and deleted after the retention window."]})
    wallet = locked_wallet(client)
    subscription = Subscription.objects.select_for_update().filter(client=client).first()
    if subscription is None or not subscription.is_active:
        raise RuleRefused("not_pro", "PRO is not active.")
    plan = deactivation_plan(subscription)
    if not plan.at_once:
        subscription.ends_after = plan.ends_after
        subscription.save(update_fields=["ends_after"])
        record(action=Audit.PRO_DEACTIVATION_SCHEDULED, actor=actor, target=subscription, client=client,
               details={"ends_after": str(plan.ends_after), "rule": plan.rule})
        emails.tell_deactivation(client=client, subscription_pk=subscription.pk, activations=subscription.activations, ends_after=plan.ends_after)
        return subscription
    key = f"deactivation:{client.pk}:{subscription.activations}"
    credit(wallet, client=client, amount=plan.credit_cents, kind=LedgerEntry.Kind.UNUSED_CREDIT, reference=key, key=f"{key}:unused",
           description=f"Unused part of the PRO period credited on deactivation (DEA-1): {plan.formula}", corrects=subscription.period_invoice)
    end_pro(subscription=subscription, actor=actor)
    emails.tell_deactivation(client=client, subscription_pk=subscription.pk, activations=subscription.activations, credit_cents=plan.credit_cents)
    return subscription
