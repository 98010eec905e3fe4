"""The night's plans: which clients each step has work for tonight, and what, without writing
anything. The same plans choose the night's clients, make the dry run's report, and (through
`selectors`) show a client what tonight will charge (WAL-7)."""

import datetime
from dataclasses import dataclass, field

from accounts.models import Client
from billing import dunning, selectors
from billing.ledger import balances
from billing.models import Card, Subscription, Wallet, period_bounds
from billing.policy import current_policy, packages_needed
from billing.subscriptions.packages import back_under_free_limit, over_free_limit
from core.money import dollars
from projects import selectors as projects_selectors
from projects.models import Project

STEPS = ["count", "packages", "renewals", "dunning", "retention"]


@dataclass
class Decision:
    """One thing the night does (or, in a dry run, would do) for one client."""

    client_id: int
    kind: str  # package_change, free_limit_block, free_limit_lift, renewal, end_pro, collect, purge_projects
    amount_cents: int = 0  # charged when positive, credited when negative
    detail: str = ""


@dataclass
class Night:
    day: datetime.date
    at: datetime.datetime
    counts: dict[int, int] = field(default_factory=dict)


# --- planning (no writes) -----------------------------------------------------------------------


def plan_packages(night: Night) -> list[Decision]:
    """TAR-5: Free clients over 500 active subscribers (not yet blocked for it), and those blocked
    for it that are back under the limit; PER-6: PRO
    clients whose count needs another number of packages."""
    decisions = []
    for client_id in over_free_limit(night.counts).values_list("pk", flat=True):
        decisions.append(Decision(client_id, "free_limit_block", detail=f"{night.counts[client_id]} active subscribers on Free"))
    for client in back_under_free_limit(night.counts):
        decisions.append(Decision(client.pk, "free_limit_lift", detail=f"{night.counts.get(client.pk, 0)} active subscribers: under the limit again"))
    current = Subscription.objects.filter(status=Subscription.Status.ACTIVE, period_end__gte=night.day)
    # Only the subscriptions whose count asks for another number of packages become objects.
    changing = [client_id for client_id, packages in current.values_list("client_id", "packages")
                if packages_needed(night.counts.get(client_id, 0)) != packages]
    for subscription in current.filter(client_id__any_of=changing):
        change = selectors.package_change(subscription=subscription, active_subscribers=night.counts.get(subscription.client_id, 0), night=night.day)
        if change is not None:
            decisions.append(Decision(subscription.client_id, "package_change", change.amount_cents, f"{change.change:+} packages: {change.formula}"))
    return decisions


def due_for_renewal(night: Night):
    """PER-3: the active subscriptions whose period ended before this night."""
    return Subscription.objects.filter(status=Subscription.Status.ACTIVE, period_end__lt=night.day)


def renewing_clients(night: Night) -> list[int]:
    """The clients the renewal step has work for: `plan_renewals`' clients, without its details."""
    return sorted(due_for_renewal(night).values_list("client_id", flat=True))


def plan_renewals(night: Night) -> list[Decision]:
    """PER-3: every period that ended before this night is renewed, each missed one once, on its
    own anniversary; a DEA-3 deactivation ends PRO instead."""
    policy = current_policy()
    decisions = []
    for subscription in due_for_renewal(night):
        index, end = subscription.period_index, subscription.period_end
        packages = packages_needed(night.counts.get(subscription.client_id, 0))
        while end < night.day:
            if subscription.ends_after is not None and subscription.ends_after <= end:
                decisions.append(Decision(subscription.client_id, "end_pro", detail=f"PRO ends after {end}"))
                break
            index += 1
            start, end = period_bounds(anchor=subscription.anchor_date, period=subscription.period, index=index)
            amount = packages * policy.package_cents(subscription.period)
            decisions.append(Decision(subscription.client_id, "renewal", amount, f"{subscription.period} {start}–{end}, {packages} packages"))
    return decisions


def _debts(pending: list[Decision] = ()) -> tuple[dict[int, int], set[int]]:
    """What each client owes (after the charges planned before), and who is in dunning now."""
    now_balances = balances()
    for decision in pending:
        now_balances[decision.client_id] = now_balances.get(decision.client_id, 0) - decision.amount_cents
    # DEA-5: a deleted account's debt stays a hold for staff; no night collects it or moves its state.
    deleted = set(Client.objects.filter(status=Client.Status.DELETED).values_list("pk", flat=True))
    in_dunning = set(Wallet.objects.filter(failed_collections__gt=0).values_list("client_id", flat=True)) - deleted
    return {client_id: -balance for client_id, balance in now_balances.items() if balance < 0 and client_id not in deleted}, in_dunning


def dunning_clients(night: Night) -> list[int]:
    """The clients the dunning step has work for: `plan_dunning`'s clients, without its details."""
    debts, in_dunning = _debts()
    return sorted(set(debts) | in_dunning)


def plan_dunning(night: Night, pending: list[Decision] = ()) -> list[Decision]:
    """DUN-1: every client whose wallet is below zero (after the charges planned before) has its
    debt collected from its cards; a client whose debt is paid leaves dunning (DUN-4)."""
    debts, in_dunning = _debts(pending)
    failed_before = dict(Wallet.objects.filter(client_id__any_of=list(debts)).values_list("client_id", "failed_collections"))
    debt_since = dict(Wallet.objects.filter(client_id__any_of=list(debts), debt_since__isnull=False).values_list("client_id", "debt_since"))
    with_card = set(Card.objects.filter(client_id__any_of=list(debts), removed_at__isnull=True, verified_at__isnull=False).values_list("client_id", flat=True))
    decisions = []
    for client_id, debt in debts.items():
        # What a failed collection would do (DUN-2, DUN-3, DUN-5); without a card it fails for sure.
        since = debt_since.get(client_id, night.day)
        if (night.day - since).days >= dunning.DUNNING_DAYS:
            if_unpaid = "deactivate"
        else:
            if_unpaid = "suspend" if failed_before.get(client_id, 0) == 0 else "block"
        certain = "" if client_id in with_card else " (no card: it will fail)"
        decisions.append(Decision(client_id, "collect", debt, f"debt {dollars(debt)}; if unpaid: {if_unpaid}{certain}"))
    debtors = {d.client_id for d in decisions}
    decisions += [Decision(client_id, "settle", 0, "debt paid") for client_id in in_dunning - debtors]
    return decisions


def plan_retention(night: Night) -> list[Decision]:
    before = night.at - datetime.timedelta(days=current_policy().retention_days)
    expired = Project.objects.filter(status=Project.Status.ARCHIVED, deleted_at__isnull=True, archived_at__lt=before).exclude(
        owner__tariff=Client.Tariff.PRO
    )
    by_owner: dict[int, int] = {}
    for owner_id in expired.values_list("owner_id", flat=True):
        by_owner[owner_id] = by_owner.get(owner_id, 0) + 1
    return [Decision(owner_id, "purge_projects", 0, f"{n} archived projects past the retention window") for owner_id, n in by_owner.items()]


def plan(night: Night) -> dict[str, list[Decision]]:
    """The whole night's decisions as they stand now, for a dry run."""
    night.counts = projects_selectors.active_subscribers_by_owner()
    packages = plan_packages(night)
    renewals = plan_renewals(night)
    charges = [d for d in packages + renewals if d.kind in ("package_change", "renewal")]
    return {"packages": packages, "renewals": renewals, "dunning": plan_dunning(night, charges), "retention": plan_retention(night)}
