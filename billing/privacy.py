"""What billing holds on a person, for the privacy export (CMP-2)."""

from django.db import transaction
from django.utils import timezone

from billing import services
from billing.cards import detach_cards
from billing.dunning import after_payment
from billing.models import Card, Dispute, Invoice, LedgerEntry, Subscription
from billing.tariffs import end_pro


def export(client) -> dict:
    subscription = Subscription.objects.filter(client=client).first()
    return {
        "balance_cents": services.balance_cents(services.wallet_of(client)),
        "subscription": {"status": subscription.status, "period": subscription.period, "packages": subscription.packages,
                         "period_start": str(subscription.period_start), "period_end": str(subscription.period_end)} if subscription else None,
        "cards": [{"role": c.role, "brand": c.brand, "last4": c.last4, "exp_month": c.exp_month, "exp_year": c.exp_year,
                   "removed_at": c.removed_at.isoformat() if c.removed_at else None} for c in Card.objects.filter(client=client)],
        "ledger": [{"amount_cents": e.amount_cents, "kind": e.kind, "description": e.description, "created_at": e.created_at.isoformat()}
                   for e in LedgerEntry.objects.filter(wallet__client=client)],
        "invoices": [{"number": i.number, "kind": i.kind, "total_cents": i.total_cents, "issued_at": i.issued_at.isoformat()}
                     for i in Invoice.objects.filter(client=client)],
    }


def erase(client, person) -> None:
    """Invoices and the ledger are kept for tax (their amounts untouched); the party on them is
    anonymised; card data is deleted."""

    Invoice.objects.filter(client=client).update(client_name="Erased client", client_email=f"erased-{client.pk}@erased.invalid")
    Card.objects.filter(client=client).update(token="", fingerprint="", removed_at=timezone.now())


def settle_debt(client) -> None:
    """DEA-5: before an erasure (the account deleted, or its erasure granted), any debt is charged
    to the card; then PRO ends at once, the wallet's balance not refunded (WAL-3), so that no later
    night renews, charges or writes to the account; and the cards are detached at the gateway."""
    actor = client if getattr(client, "is_authenticated", False) else None
    after_payment(client=client, try_cards=True)
    with transaction.atomic():
        subscription = Subscription.objects.select_for_update().filter(client=client).first()
        if subscription is not None and subscription.is_active:
            end_pro(subscription=subscription, actor=actor)
    detach_cards(client=client, actor=actor)


def dispute_hold(client) -> str | None:
    """CMP-2: an open dispute keeps the records it turns on."""
    disputes = Dispute.objects.filter(client=client, closed_at__isnull=True).count()
    return f"{disputes} payment dispute{'s are' if disputes > 1 else ' is'} open" if disputes else None


def debt_hold(client) -> str | None:
    debt = services.debt_cents(services.wallet_of(client))
    return f"a debt of ${debt / 100:.2f} is unpaid" if debt > 0 else None
