"""Prices and policy (TAR-4): the bottom of billing, read by every other part of it."""

import math

from django.core.exceptions import ValidationError
from django.db import transaction

from accounts.models import Client
from billing.audit_actions import Audit
from billing.models import MINIMUM_PACKAGE_CENTS, Period, PolicySettings
from compliance.services import record
from core.exceptions import RuleRefused
from core.money import dollars
from core.tasks import enqueue

PACKAGE_SIZE = 1_000  # TAR-3

POLICY_FIELDS = [
    "package_monthly_cents", "quarterly_discount_percent", "yearly_discount_percent", "setup_fee_cents",
    "prorate_on_cancel", "cancel_notice_business_days", "late_fee_cents", "grace_days", "retention_days", "refund_window_days",
]


def current_policy() -> PolicySettings:
    """The prices and policy in force: the newest version (defaults as RULES.md until staff set one)."""
    return PolicySettings.objects.order_by("-created_at", "-id").first() or PolicySettings()


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
    now on (a period keeps the price it was paid at). A package below $10.00 is refused. Every PRO
    client whose price changes is told before its next period (ToU 13.3, NTF-1)."""
    check_policy_changes(changes)
    before = current_policy()
    values = {name: getattr(before, name) for name in POLICY_FIELDS} | changes
    policy = PolicySettings.objects.create(**values, note=note, created_by=actor)
    record(
        action=Audit.POLICY_CHANGED, actor=actor, target=policy,
        details={"changed": {k: [getattr(before, k), v] for k, v in changes.items() if getattr(before, k) != v}, "note": note},
    )
    if any(before.package_cents(period) != policy.package_cents(period) for period in Period.values):
        enqueue("billing.tasks.tell_price_change", policy.pk)  # NTF-1: each PRO client told ahead, after the commit
    return policy


FREE_LIMIT = 500  # TAR-1: active subscribers a Free client may have over all its projects


def packages_needed(active_subscribers: int) -> int:
    """TAR-3: `max(1, ceil(total_active / 1000))`, over all the projects a client owns."""
    return max(1, math.ceil(active_subscribers / PACKAGE_SIZE))
