"""Billing's models, by what they keep: money (`money`) and the nights (`night`)."""

from billing.models.money import (
    CLIENT_MODEL,
    MINIMUM_PACKAGE_CENTS,
    PERIOD_MONTHS,
    Card,
    Dispute,
    FreeAccountFlag,
    IdempotencyRecord,
    Invoice,
    InvoiceLine,
    InvoiceSequence,
    LedgerEntry,
    NeverDeletedQuerySet,
    PaymentAttempt,
    Period,
    PeriodChangeRequest,
    PolicySettings,
    SandboxCharge,
    Subscription,
    Wallet,
    period_bounds,
)
from billing.models.night import ClientMonthMrr, ClientNight, DailySnapshot, NightlyRun, NightlyStep

__all__ = [
    "CLIENT_MODEL", "MINIMUM_PACKAGE_CENTS", "PERIOD_MONTHS", "Card", "ClientMonthMrr", "ClientNight", "DailySnapshot", "Dispute", "FreeAccountFlag",
    "IdempotencyRecord", "Invoice", "InvoiceLine", "InvoiceSequence", "LedgerEntry", "NeverDeletedQuerySet", "NightlyRun", "NightlyStep",
    "PaymentAttempt", "Period", "PeriodChangeRequest", "PolicySettings", "SandboxCharge", "Subscription", "Wallet", "period_bounds",
]
