"""PER-3 renewals for any number of clients at once: the night's chunk, or a list of one."""

import datetime
from dataclasses import dataclass

from billing import emails
from billing.audit_actions import Audit
from billing.invoicing import Party, insert_invoices, invoice_row, period_fee_line, reserve_invoice_ids
from billing.ledger import balances, locked_wallet_ids
from billing.models import Invoice, InvoiceLine, LedgerEntry, Subscription, period_bounds
from billing.policy import current_policy, packages_needed
from billing.tariffs import end_pro
from compliance.audit import audit_row, record_rows
from core.bulk import insert_rows
from core.sql import update_rows

RENEWED_FIELDS = ["period_index", "period_start", "period_end", "package_price_cents", "packages", "period_invoice"]


@dataclass(slots=True)
class DuePeriod:
    """What a renewal reads and writes of a subscription whose period ended: a chunk reads
    thousands, as values rather than model objects."""

    pk: int
    client_id: int
    period: str
    packages: int
    anchor_date: datetime.date
    period_index: int
    period_start: datetime.date
    period_end: datetime.date
    package_price_cents: int
    activations: int
    ends_after: datetime.date | None
    period_invoice_id: int | None
    client__name: str  # whom its invoice is made out to (read with it)
    client__email: str
    client__language: str  # the language its notice is written in (NTF-1)


@dataclass
class Written:
    """What a batch wrote, for the night's record."""

    charged_cents: int = 0
    credited_cents: int = 0


def renewal_key(subscription: Subscription | DuePeriod, index: int) -> str:
    return f"renewal:{subscription.client_id}:{subscription.activations}:{subscription.anchor_date}:{index}"


def renew(client_ids: list[int], *, day: datetime.date, at: datetime.datetime, counts: dict[int, int]) -> Written:
    """PER-3, in the caller's transaction: every active period of these clients that ended before
    `day` is renewed, each missed one once, on its own anniversary, at the price in force now
    (TAR-4) for the packages `counts` asks for (PER-6); the fee is debited from the wallet (WAL-2:
    the cards pay a debt later, DUN-1) on an invoice that is paid when the wallet covers it and
    open otherwise (WAL-6). A period after which a deactivation takes effect ends PRO instead
    (DEA-3). Each renewal is told to its client with its invoice (NTF-1). Everything is dated `at`. A few statements whatever the number of clients: wallets
    and subscriptions locked together, the rows inserted in bulk, the invoices numbered last."""
    written = Written()
    wallets = locked_wallet_ids(client_ids)
    subscriptions = [DuePeriod(*row) for row in Subscription.objects.select_for_update(of=("self",))
                     .filter(client_id__any_of=list(wallets), status=Subscription.Status.ACTIVE, period_end__lt=day).order_by("pk")
                     .values_list(*DuePeriod.__slots__)]
    party = {s.client_id: Party(s.client_id, s.client__name, s.client__email) for s in subscriptions}
    policy = current_policy()
    # WAL-6 without reading the invoices: a client's older invoices are settled already (every
    # credit settles them), so tonight's are paid exactly while the wallet still covers them.
    available = balances([s.client_id for s in subscriptions])
    invoices, lines, entries, audit, renewed, current, told = [], [], [], [], [], {}, []
    grace_days, open_, paid_, fee_kind, target_type = policy.grace_days, Invoice.Status.OPEN, Invoice.Status.PAID, LedgerEntry.Kind.FEE, Subscription._meta.label_lower
    for subscription in subscriptions:
        packages = packages_needed(counts.get(subscription.client_id, 0))
        price = policy.package_cents(subscription.period)
        while subscription.period_end < day:
            if subscription.ends_after is not None and subscription.ends_after <= subscription.period_end:
                end_pro(subscription=Subscription.objects.get(pk=subscription.pk), now=at)  # DEA-3: rare, one by one
                break
            index = subscription.period_index + 1
            start, end = period_bounds(anchor=subscription.anchor_date, period=subscription.period, index=index)
            key, fee = renewal_key(subscription, index), packages * price
            available[subscription.client_id] = available.get(subscription.client_id, 0) - fee
            paid = available[subscription.client_id] >= 0
            invoice = invoice_row(client=party[subscription.client_id], kind=Invoice.Kind.INVOICE, total=fee, reference=key, now=at, grace_days=grace_days,
                                  status=paid_ if paid else open_)
            line = f"{period_fee_line(subscription.period, packages, price, start, end)} (renewal, PER-3)"[:300]
            invoices.append(invoice)
            lines.append((invoice, {"description": line, "amount_cents": fee}))
            entries.append((invoice, {"wallet_id": wallets[subscription.client_id], "amount_cents": -fee, "kind": fee_kind,
                                      "description": line, "reference": key, "idempotency_key": f"{key}:fee:0", "created_at": at}))
            subscription.period_index, subscription.period_start, subscription.period_end = index, start, end
            subscription.package_price_cents, subscription.packages = price, packages
            current[subscription.pk] = invoice  # the last one renewed is the current period's
            label = Subscription.label(party[subscription.client_id].email, packages, subscription.period, end)  # str(): without reading the client
            audit.append(audit_row(action=Audit.RENEWED, client_id=subscription.client_id, target_type=target_type,
                                   target_id=subscription.pk, target_label=label,
                                   details={"period": subscription.period, "start": str(start), "packages": packages}))
            told.append(emails.Renewal(client_id=subscription.client_id, language=subscription.client__language, invoice=invoice,
                                       period=subscription.period, packages=packages, start=start, end=end))
            written.charged_cents += fee
            if not renewed or renewed[-1] is not subscription:
                renewed.append(subscription)
    reserve_invoice_ids(invoices)  # the lines and entries name them; they are inserted last, numbered
    insert_rows(InvoiceLine, [row | {"invoice_id": invoice["id"]} for invoice, row in lines])
    insert_rows(LedgerEntry, [row | {"invoice_id": invoice["id"]} for invoice, row in entries])
    for subscription in renewed:
        subscription.period_invoice_id = current[subscription.pk]["id"]
    update_rows(Subscription, renewed, RENEWED_FIELDS)
    record_rows(audit)
    insert_invoices(invoices)  # numbered, the sequence rows locked only until the commit
    emails.tell_renewals(told)  # each renewal's notice, mailed after the commit (NTF-1)
    return written
