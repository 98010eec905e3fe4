"""Subscriptions (PER, DEA, TAR-5): what PRO is for a client, and every change to it.

* `lifecycle`: a request's changes, one client at a time: activation, period changes,
  deactivation.
* `renewals`: PER-3 renewals, and DEA-3's scheduled ends, for any number of clients at once.
* `packages`: PER-6 package changes and TAR-5's Free limit, for any number of clients at once.

The night calls `renew` and `change_packages` with a chunk of clients and a request would call
them with a list of one: one way to write each thing."""

from billing.subscriptions.lifecycle import (
    Quote,
    activate_pro,
    activation_quote,
    approve_period_change,
    business_days_between,
    change_period,
    deactivate_pro,
    deactivation_plan,
    refuse_period_change,
)
from billing.subscriptions.packages import change_packages
from billing.subscriptions.renewals import renew

__all__ = [
    "Quote", "activate_pro", "activation_quote", "approve_period_change", "business_days_between", "change_period", "change_packages",
    "deactivate_pro", "deactivation_plan", "refuse_period_change", "renew",
]
