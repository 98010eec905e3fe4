"""Reads of billing, shared by the API, the admin and the night."""

import datetime
from dataclasses import dataclass

from django.db.models import QuerySet
from django.utils import timezone
from django.utils.formats import date_format
from django.utils.translation import gettext as _

from billing.ledger import balances
from billing.models import Card, Invoice, LedgerEntry, NightlyRun, PeriodChangeRequest, Subscription
from billing.payments import live_card
from billing.policy import FREE_LIMIT, PACKAGE_SIZE, current_policy, packages_needed
from billing.subscriptions.lifecycle import activation_quote, deactivation_plan
from core.clock import billing_date, billing_zone, night_of
from core.money import local_dollars, prorate_formula
from projects import selectors as projects_selectors


def balance_of(client) -> int:
    """The wallet's balance (WAL-1), read only: a client with no wallet yet has $0.00."""
    return balances([client.pk]).get(client.pk, 0)


def summary(*, client) -> dict:
    """What `GET /api/v1/billing/` shows."""
    subscription = Subscription.objects.filter(client=client).first()
    active = subscription is not None and subscription.is_active
    balance = balance_of(client)
    pending = PeriodChangeRequest.objects.filter(client=client, status=PeriodChangeRequest.Status.PENDING).first()
    return {
        "tariff": client.tariff,
        "period": subscription.period if active else None,
        "packages": subscription.packages if active else 0,
        "period_start": subscription.period_start if active else None,
        "period_end": subscription.period_end if active else None,
        "ends_after": subscription.ends_after if active else None,
        "balance_cents": balance,
        "debt_cents": max(0, -balance),
        "active_subscribers": projects_selectors.active_subscribers_of_owner(owner_id=client.pk),
        "card": live_card(client),
        "backup_card": live_card(client, Card.Role.BACKUP),
        "pending_period": pending.to_period if pending else None,
    }


def next_night(now: datetime.datetime | None = None) -> datetime.date:
    """The billing day of the next night run (01:00 in the billing zone)."""
    now = now or timezone.now()
    today = billing_date(now)
    return today if now.astimezone(billing_zone()).hour < 1 else today + datetime.timedelta(days=1)


@dataclass(frozen=True)
class PackageChange:
    """What the night does to the packages of a PRO client (PER-6): `change` packages, at
    `amount_cents` (a charge when positive, a credit when negative), explained by `formula`."""

    packages_before: int
    packages_after: int
    amount_cents: int
    formula: str

    @property
    def change(self) -> int:
        return self.packages_after - self.packages_before


def package_change(*, subscription: Subscription, active_subscribers: int, night: datetime.date) -> PackageChange | None:
    """The night's package adjustment for a count (PER-6), pro rata for the days left in the
    period from that night on. The night applies exactly this; the client sees it beforehand."""
    needed = packages_needed(active_subscribers)
    if not subscription.is_active or needed == subscription.packages:
        return None
    delta = needed - subscription.packages
    amount, formula = prorate_formula(
        packages=abs(delta), price_cents=subscription.package_price_cents,
        days=subscription.days_left(night), period_days=subscription.period_days,
    )
    return PackageChange(subscription.packages, needed, amount if delta > 0 else -amount, formula)


def _split(amount: int, available: int) -> tuple[int, int]:
    """(from the wallet, from the card) for a charge (WAL-2)."""
    wallet = max(0, min(amount, available))
    return wallet, amount - wallet


def upcoming(*, client, now: datetime.datetime | None = None) -> dict:
    """WAL-7: what tonight's package change and the next renewal will charge, and how much of it
    comes from the wallet and how much from the card."""
    subscription = Subscription.objects.filter(client=client).first()
    if subscription is None or not subscription.is_active:
        return {"renewal": None, "tonight": None}
    night = next_night(now)
    active = projects_selectors.active_subscribers_of_owner(owner_id=client.pk)
    available = balance_of(client)
    tonight = None
    change = package_change(subscription=subscription, active_subscribers=active, night=night)
    if change is not None:
        wallet, card = _split(change.amount_cents, available) if change.amount_cents > 0 else (0, 0)
        tonight = {"packages_change": change.change, "amount_cents": change.amount_cents, "wallet_cents": wallet, "card_cents": card,
                   "description": change.formula}
        available -= change.amount_cents
    renewal = None
    ends = subscription.ends_after is not None and subscription.ends_after <= subscription.period_end
    if not ends:
        renewal_day = subscription.period_end + datetime.timedelta(days=1)
        packages = packages_needed(active)
        amount = packages * current_policy().package_cents(subscription.period)
        wallet, card = _split(amount, available)
        renewal = {"at": night_of(renewal_day), "packages": packages, "amount_cents": amount, "wallet_cents": wallet, "card_cents": card}
    return {"renewal": renewal, "tonight": tonight}


def ledger_of(*, client) -> QuerySet[LedgerEntry]:
    return LedgerEntry.objects.filter(wallet__client=client)


def invoices_of(*, client) -> QuerySet[Invoice]:
    return Invoice.objects.filter(client=client).select_related("corrects", "late_fee_for").prefetch_related("lines")


def deletion_terms(*, client) -> dict:
    """What deleting the account means for its money (DEA-5), for the confirmation the client sees
    before it confirms: PRO ends at once, the wallet's balance is not refunded (WAL-3), a debt is
    charged to the card first, and the cards are detached at the gateway."""
    subscription = Subscription.objects.filter(client=client).first()
    active = subscription is not None and subscription.is_active
    balance = balance_of(client)
    cards = [card for card in (live_card(client), live_card(client, Card.Role.BACKUP)) if card is not None]
    sentences = []  # in the reader's language, money and dates as it writes them
    if active:
        sentences.append(_("PRO ends at once, though the period runs to %(day)s; nothing of it is credited.") % {"day": date_format(subscription.period_end, "DATE_FORMAT")})
    if balance > 0:
        sentences.append(_("The wallet's balance of %(amount)s is not refunded (WAL-3).") % {"amount": local_dollars(balance)})
    if balance < 0:
        sentences.append(_("The debt of %(amount)s is charged to your card first; if it stays unpaid, your data is kept until it is settled (ToU 24.5).")
                         % {"amount": local_dollars(-balance)})
    if cards:
        sentences.append(_("Your saved cards are removed from the payment provider."))
    sentences.append(_("Invoices and the ledger are kept for tax and accounting, with your name and email erased."))
    return {"pro_active": active, "period_end": subscription.period_end if active else None, "wallet_balance_cents": max(balance, 0),
            "refunded_cents": 0, "debt_cents": max(0, -balance), "cards": len(cards), "consequences": sentences}


def deactivation_terms(*, client) -> dict | None:
    """What deactivating PRO today would do (DEA-1..3), for the confirmation the client sees
    first; None without active PRO."""
    subscription = Subscription.objects.filter(client=client).first()
    if subscription is None or not subscription.is_active:
        return None
    if subscription.ends_after is not None:
        return {"scheduled": True, "ends_after": subscription.ends_after, "at_once": False, "credit_cents": 0, "formula": "",
                "retention_days": current_policy().retention_days}
    plan = deactivation_plan(subscription)
    return {"scheduled": False, "at_once": plan.at_once, "ends_after": plan.ends_after, "credit_cents": plan.credit_cents, "formula": plan.formula,
            "rule": plan.rule, "retention_days": current_policy().retention_days}


def subscriber_capacity(summary: dict) -> int:
    """How many active subscribers the tariff holds: the packages on PRO (TAR-3), the Free limit (TAR-1)."""
    return summary["packages"] * PACKAGE_SIZE if summary["tariff"] == "pro" else FREE_LIMIT


def activation_terms(*, client, period: str) -> dict:
    """What activating PRO for `period` charges now, and how much of it the wallet and the card
    pay (WAL-2): the confirmation the client sees first."""
    quote = activation_quote(client=client, period=period)
    wallet, card = _split(quote.total_cents, balance_of(client))
    return {"quote": quote, "packages_total": quote.packages * quote.package_cents, "from_wallet": wallet, "from_card": card}


def last_night() -> NightlyRun | None:
    """The latest real run of the night (dry runs left out), whatever its status: what the health
    check reads (issue 17, item 6)."""
    return NightlyRun.objects.filter(dry_run=False).order_by("-started_at", "-id").first()

