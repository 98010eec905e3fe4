"""Billing's staff console (issue 16): every amount in dollars, every action that writes first on a
page that says what will happen, to whom and at what cost (and asks a reason where a rule wants
one), then answered in one sentence. The admin translates and calls billing's services; it decides
nothing itself.

Each module registers the models it keeps: importing them is the registration.
"""

from billing.admin import ledger, night, payments, policy, requests  # noqa: F401
