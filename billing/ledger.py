"""The wallet's ledger (WAL-1): the wallet lock, entries, balance and debt. The bottom of the
money: invoicing and payments write through here, nothing here knows them."""

import datetime

from django.db.models import OuterRef, Subquery, Sum
from django.db.models.functions import Coalesce
from django.utils import timezone

from accounts.models import Client
from billing.models import Invoice, LedgerEntry, PaymentAttempt, Wallet


def wallet_of(client: Client) -> Wallet:
    wallet, _ = Wallet.objects.get_or_create(client=client)
    return wallet


def locked_wallet(client: Client) -> Wallet:
    """The client's wallet, locked until the caller's transaction ends (made if missing)."""
    wallet_of(client)
    return Wallet.objects.select_for_update().get(client=client)


def locked_wallets(client_ids: list[int]) -> dict[int, Wallet]:
    """Many wallets locked at once, in id order (the one lock order), for a chunk of the night."""
    return {w.client_id: w for w in Wallet.objects.select_for_update().filter(client_id__any_of=client_ids).order_by("pk")}


def locked_wallet_ids(client_ids: list[int]) -> dict[int, int]:
    """`locked_wallets` when only the ids are needed (the entries to write name them): the
    wallets' ids by client, locked in id order; a missing wallet is made."""
    ids = dict(Wallet.objects.select_for_update().filter(client_id__any_of=client_ids).order_by("pk").values_list("client_id", "pk"))
    for client_id in sorted(set(client_ids) - set(ids)):  # (a wallet is made with the client's first entry)
        ids[client_id] = locked_wallet(Client(pk=client_id)).pk
    return ids


def balance_cents(wallet: Wallet) -> int:
    """The balance is the sum of the ledger, always (WAL-1): never a stored figure."""
    return wallet.entries.aggregate(total=Sum("amount_cents"))["total"] or 0


def balances(client_ids=None) -> dict[int, int]:
    """Balances by client in one query (the night's plans and chunks). For given clients, each
    wallet's sum read through its own index (`ledger_wallet_time`), so that a chunk costs what its
    wallets hold, not what the whole ledger does; for all of them, one aggregate."""
    if client_ids is None:
        rows = LedgerEntry.objects.values("wallet__client_id").annotate(total=Sum("amount_cents")).values_list("wallet__client_id", "total")
        return dict(rows.order_by())
    total = LedgerEntry.objects.filter(wallet=OuterRef("pk")).order_by().values("wallet").annotate(total=Sum("amount_cents")).values("total")
    return dict(Wallet.objects.filter(client_id__any_of=client_ids).annotate(total=Coalesce(Subquery(total), 0)).values_list("client_id", "total"))


def debt_cents(wallet: Wallet) -> int:
    """What is owed: a negative balance (DUN-1)."""
    return max(0, -balance_cents(wallet))


def post(
    wallet: Wallet, *, amount: int, kind: str, description: str, reference: str, key: str,
    invoice: Invoice | None = None, payment: PaymentAttempt | None = None, actor: Client | None = None, at: datetime.datetime | None = None,
) -> LedgerEntry:
    """Add one ledger entry under the wallet's lock, dated `at` (the night's instant) or now; a key
    already used returns its entry."""
    if existing := LedgerEntry.objects.filter(idempotency_key=key).first():
        return existing
    return LedgerEntry.objects.create(
        wallet=wallet, amount_cents=amount, kind=kind, description=description[:300], reference=reference[:120],
        idempotency_key=key, invoice=invoice, payment=payment, actor=actor if getattr(actor, "is_authenticated", False) else None,
        created_at=at or timezone.now(),
    )
