"""PER-6 package changes and TAR-5's Free limit for any number of clients at once: the night's
chunk, or a list of one."""

import datetime

from accounts import services as accounts
from accounts.models import Client
from accounts.selectors import blocked_for
from billing import emails, selectors
from billing.audit_actions import Audit
from billing.invoicing import insert_invoices, invoice_row, reserve_invoice_ids, settle_many
from billing.ledger import locked_wallet, locked_wallets
from billing.models import Invoice, InvoiceLine, LedgerEntry, Subscription
from billing.policy import FREE_LIMIT, current_policy
from billing.subscriptions.renewals import Written
from compliance.audit import audit_row, record_rows, target_of
from core.bulk import insert_rows
from core.sql import update_rows


def package_key(client_id: int, day: datetime.date) -> str:
    return f"packages:{client_id}:{day}"


def over_free_limit(counts: dict[int, int], client_ids: list[int] | None = None):
    """TAR-5: the Free clients (of `client_ids`, or all) whose projects hold more than 500 active
    subscribers and who are not blocked for it yet. What the dry run plans and the night blocks."""
    over = [c for c, n in counts.items() if n > FREE_LIMIT] if client_ids is None else [c for c in client_ids if counts.get(c, 0) > FREE_LIMIT]
    return (Client.objects.filter(pk__in=over, tariff=Client.Tariff.FREE).exclude(status=Client.Status.DELETED)
            .exclude(pk__in=blocked_for(Client.BlockReason.FREE_LIMIT, over).values("pk")))


def back_under_free_limit(counts: dict[int, int], client_ids: list[int] | None = None):
    """TAR-5: the clients (of `client_ids`, or all) blocked for `free_limit` whose projects hold
    500 active subscribers or fewer again (retention, unsubscribes, deletions). What the dry run
    plans and the night lifts."""
    blocked = blocked_for(Client.BlockReason.FREE_LIMIT, client_ids)
    return [client for client in blocked if counts.get(client.pk, 0) <= FREE_LIMIT]


def block_over_free_limit(client_ids: list[int], *, counts: dict[int, int], at: datetime.datetime) -> None:
    """TAR-5: a Free client over the limit is blocked (`free_limit`) and told; activating PRO
    lifts it, and so does the next night once it is back under the limit."""
    over = list(over_free_limit(counts, client_ids).values_list("pk", flat=True))
    by_count: dict[int, list[int]] = {}  # the note names each one's count: one batch per count
    for client_id in over:
        by_count.setdefault(counts[client_id], []).append(client_id)
    for count, blocked in sorted(by_count.items()):
        accounts.block_many(blocked, reason=Client.BlockReason.FREE_LIMIT, note=f"{count} active subscribers on Free (TAR-5).", now=at)
    emails.enqueue_emails(over, emails.FREE_LIMIT)
    for client in back_under_free_limit(counts, client_ids):
        accounts.unblock(client=client, reason=Client.BlockReason.FREE_LIMIT,
                         note=f"{counts.get(client.pk, 0)} active subscribers: under the Free limit again (TAR-5).", now=at)


def change_packages(client_ids: list[int], *, day: datetime.date, at: datetime.datetime, counts: dict[int, int]) -> Written:
    """PER-6 and TAR-5, in the caller's transaction, for these clients' counts of active
    subscribers: a PRO client whose count needs more packages is charged the added ones pro rata
    for the rest of its period (an invoice, paid from the wallet when it covers it, WAL-2, WAL-6);
    one that needs fewer is credited the removed ones (a credit note that corrects the period's
    invoice, which may settle older invoices); a Free client over the limit is blocked. Each change
    is told to its client with its invoice (NTF-1). Dated
    `at`; a few statements whatever the number of clients."""
    written = Written()
    block_over_free_limit(client_ids, counts=counts, at=at)
    wallets = locked_wallets(client_ids)
    subscriptions = list(
        Subscription.objects.select_for_update(of=("self",)).select_related("client")
        .filter(client_id__any_of=client_ids, client__tariff=Client.Tariff.PRO, status=Subscription.Status.ACTIVE, period_end__gte=day).order_by("pk")
    )
    for subscription in subscriptions:
        if subscription.client_id not in wallets:  # (a wallet is made with the client's first entry)
            wallets[subscription.client_id] = locked_wallet(subscription.client)
    grace_days = current_policy().grace_days
    invoices, lines, entries, audit, changed, told = [], [], [], [], [], []
    for subscription in subscriptions:
        change = selectors.package_change(subscription=subscription, active_subscribers=counts.get(subscription.client_id, 0), night=day)
        if change is None:
            continue
        key = package_key(subscription.client_id, day)
        noun = "added" if change.change > 0 else "removed"
        description = f"{abs(change.change)} package(s) {noun} for the rest of the period (PER-6): {change.formula}"[:300]
        charge = change.amount_cents > 0
        if change.amount_cents:
            invoice = invoice_row(
                client=subscription.client, kind=Invoice.Kind.INVOICE if charge else Invoice.Kind.CREDIT_NOTE, total=change.amount_cents,
                reference=key, now=at, grace_days=grace_days, corrects_id=None if charge else subscription.period_invoice_id,
            )
            invoices.append(invoice)
            told.append(emails.PackageChange(client_id=subscription.client_id, language=subscription.client.language, invoice=invoice,
                                             before=change.packages_before, after=change.packages_after))
            lines.append((invoice, {"description": description, "amount_cents": change.amount_cents}))
            entries.append((invoice, {
                "wallet_id": wallets[subscription.client_id].pk, "amount_cents": -change.amount_cents, "description": description, "reference": key,
                "idempotency_key": f"{key}:fee:0" if charge else f"{key}:credit", "created_at": at,
                "kind": LedgerEntry.Kind.PACKAGE_CHANGE if charge else LedgerEntry.Kind.UNUSED_CREDIT,
            }))
            if charge:
                written.charged_cents += change.amount_cents
            else:
                written.credited_cents -= change.amount_cents
        audit.append(audit_row(action=Audit.PACKAGES_CHANGED, client_id=subscription.client_id, **target_of(subscription),
                               details={"from": change.packages_before, "to": change.packages_after, "amount_cents": change.amount_cents}))
        subscription.packages = change.packages_after
        changed.append(subscription)
    reserve_invoice_ids(invoices)  # the lines and entries name them; they are inserted last, numbered
    insert_rows(InvoiceLine, [row | {"invoice_id": invoice["id"]} for invoice, row in lines])
    insert_rows(LedgerEntry, [row | {"invoice_id": invoice["id"]} for invoice, row in entries])
    update_rows(Subscription, changed, ["packages"])
    record_rows(audit)
    insert_invoices(invoices)  # numbered, the sequence rows locked only until the commit
    settle_many([s.client_id for s in changed], now=at)  # a charge the wallet covers, or a credit that covers older fees
    settled = dict(Invoice.objects.filter(pk__in=[i["id"] for i in invoices]).values_list("pk", "status"))
    for invoice in invoices:
        invoice["status"] = settled[invoice["id"]]
    emails.tell_package_changes(told)  # each change's notice, with its invoice, after the commit (NTF-1)
    return written
