"""Stand-in gateways for the payment tests. Each remembers what it charged in the sandbox's table
(`SandboxCharge`), shared by every process, so a test counts what the card really paid. Chosen by
PAYMENT_GATEWAY=tests.billing.gateways.<Name>, in this process or a child's environment."""

import os
import time

from django.db.models import Sum

from billing.gateways.base import GatewayUnavailable
from billing.gateways.sandbox import SandboxGateway
from billing.models import LedgerEntry, SandboxCharge


class LostAnswerGateway(SandboxGateway):
    """Takes the charge, then the answer never arrives."""

    def charge(self, **kwargs):
        super().charge(**kwargs)
        raise GatewayUnavailable("read timed out")


class UnreachableGateway(SandboxGateway):
    """The request never reaches the gateway, nor does a question about it."""

    def charge(self, **kwargs):
        raise GatewayUnavailable("connection refused")

    def find_charge(self, **kwargs):
        raise GatewayUnavailable("connection refused")


class SlowGateway(SandboxGateway):
    """A real gateway's latency: each charge takes SLOW_GATEWAY_SECONDS (0.4 by default)."""

    def charge(self, **kwargs):
        time.sleep(float(os.environ.get("SLOW_GATEWAY_SECONDS", "0.4")))
        return super().charge(**kwargs)


def path(gateway: type) -> str:
    return f"{gateway.__module__}.{gateway.__qualname__}"


def card_paid(client) -> int:
    """Cents the gateway really took from the client's cards (verifications included)."""
    return SandboxCharge.objects.filter(customer_ref=f"client-{client.pk}", kind="charge", status="succeeded").aggregate(
        t=Sum("amount_cents"))["t"] or 0


def booked_from_cards(client) -> int:
    """Cents the wallet's ledger holds as paid by card (every card payment, top-up, verification)."""
    return LedgerEntry.objects.filter(wallet__client=client, payment__isnull=False, amount_cents__gt=0).aggregate(
        t=Sum("amount_cents"))["t"] or 0
