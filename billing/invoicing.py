"""Invoices and credit notes (WAL-6): numbering, issuing, and what each invoice's status says.

An invoice is `open` from the moment it is issued until the wallet covers it, due `grace_days`
after its issue; it is `paid` (with the moment) once the wallet covers it, the oldest first; it
is `uncollectible` when DUN-5 ends PRO with it unpaid. A credit note names the invoice it
corrects and is applied to the wallet at once. Late fees are invoices of their own, one per
overdue invoice. Everything here runs inside the caller's transaction, under the wallet's lock."""

import datetime
from typing import NamedTuple

from django.db import IntegrityError, transaction
from django.utils import timezone

from accounts.models import Client
from billing.ledger import balances, locked_wallet, post
from billing.models import Invoice, InvoiceLine, InvoiceSequence, LedgerEntry, Wallet
from billing.policy import current_policy
from core.bulk import insert_rows, reserve_ids
from core.clock import billing_date
from core.money import dollars

UNPAID = (Invoice.Status.OPEN, Invoice.Status.UNCOLLECTIBLE)


def _sequence_row(series: str, year: int) -> InvoiceSequence:
    """The sequence row of a series and year, locked until the transaction ends: so a rolled-back
    invoice gives its number back and two at once never share one."""
    try:
        with transaction.atomic():
            InvoiceSequence.objects.get_or_create(series=series, year=year)
    except IntegrityError:  # made at this moment by another transaction: it exists now
        pass
    return InvoiceSequence.objects.select_for_update().get(series=series, year=year)


def _take_numbers(series_years: list[tuple[str, int]]) -> list[tuple[int, str]]:
    """The next numbers, in the order asked, of each series and year: one lock of each sequence
    row for the whole batch, held until the caller's transaction ends; gapless (WAL-6)."""
    wanted: dict[tuple[str, int], int] = {}
    for key in series_years:
        wanted[key] = wanted.get(key, 0) + 1
    first = {}
    for (series, year), count in sorted(wanted.items()):
        row = _sequence_row(series, year)
        first[(series, year)] = row.last + 1
        row.last += count
        row.save(update_fields=["last"])
    numbers = []
    for series, year in series_years:
        sequence = first[(series, year)]
        first[(series, year)] += 1
        numbers.append((sequence, f"{series}-{year}-{sequence:06d}"))
    return numbers


def number_invoices(invoices: list[Invoice]) -> None:
    """Number unsaved invoices (`issue`'s one) in one pass, in the order given, inside the
    caller's transaction. Take the numbers last, just before saving, so that the sequence rows stay
    locked only until the commit; a rollback gives them back."""
    for invoice, (sequence, number) in zip(invoices, _take_numbers([(i.series, i.year) for i in invoices]), strict=True):
        invoice.sequence, invoice.number = sequence, number


class Party(NamedTuple):
    """Whom an invoice is made out to, as copied onto it: what a chunk reads of its clients, with
    their subscriptions."""

    pk: int
    name: str
    email: str


def invoice_row(*, client: Client | Party, kind: str, total: int, reference: str, now: datetime.datetime, grace_days: int,
                status: str | None = None, corrects_id: int | None = None, late_fee_for_id: int | None = None) -> dict:
    """An invoice or credit note as a row, not numbered yet: open until settled (or `status`); a
    credit note is applied to the wallet at once, so paid. The party is copied in."""
    credit_note = kind == Invoice.Kind.CREDIT_NOTE
    status = Invoice.Status.PAID if credit_note else status or Invoice.Status.OPEN
    return {
        "kind": kind, "series": "CN" if credit_note else "INV", "year": billing_date(now).year, "client_id": client.pk, "client_name": client.name,
        "client_email": client.email, "issued_at": now, "due_at": now if credit_note else due_at(now, grace_days), "total_cents": total,
        "status": status, "paid_at": now if status == Invoice.Status.PAID else None, "corrects_id": corrects_id, "late_fee_for_id": late_fee_for_id,
        "reference": reference[:120],
    }


def reserve_invoice_ids(rows: list[dict]) -> None:
    """Ids for invoice rows about to be inserted, so that their lines and entries can name them."""
    for row, pk in zip(rows, reserve_ids(Invoice, len(rows)), strict=True):
        row["id"] = pk


def insert_invoices(rows: list[dict]) -> None:
    """Number a batch of invoice rows in one pass and insert them (a night chunk's): the last
    write of its transaction, so that the sequence rows stay locked only until the commit."""
    for row, (sequence, number) in zip(rows, _take_numbers([(r["series"], r["year"]) for r in rows]), strict=True):
        row["sequence"], row["number"] = sequence, number
    insert_rows(Invoice, rows)


def period_fee_line(period: str, packages: int, package_cents: int, start: datetime.date, end: datetime.date) -> str:
    """An invoice line for a PRO period, in the client's words (WAL-1)."""
    noun = "package" if packages == 1 else "packages"
    # (the dates by hand: strftime costs more than the rest of a renewal's line)
    return f"PRO {period} {start.day:02}.{start.month:02}.{start.year}–{end.day:02}.{end.month:02}.{end.year}: {packages} {noun} × {dollars(package_cents)}"


def due_at(issued_at: datetime.datetime, grace_days: int | None = None) -> datetime.datetime:
    """WAL-6: the issue date plus the policy's grace days."""
    days = current_policy().grace_days if grace_days is None else grace_days
    return issued_at + datetime.timedelta(days=days)


def issue(*, client: Client, kind: str, lines: list[tuple[str, int]], reference: str, corrects: Invoice | None = None,
          late_fee_for: Invoice | None = None, now: datetime.datetime | None = None) -> Invoice:
    """Issue one invoice or credit note with its lines, numbered at once (a batch of one)."""
    now = now or timezone.now()
    invoice = Invoice(**invoice_row(client=client, kind=kind, total=sum(a for _, a in lines), reference=reference, now=now,
                                    grace_days=current_policy().grace_days, corrects_id=corrects.pk if corrects else None,
                                    late_fee_for_id=late_fee_for.pk if late_fee_for else None))
    number_invoices([invoice])
    invoice.save()
    InvoiceLine.objects.bulk_create([InvoiceLine(invoice=invoice, description=d[:300], amount_cents=a) for d, a in lines])
    return invoice


def charge_fees(wallet: Wallet, *, client: Client, lines: list[tuple[str, int, str]], reference: str, key: str,
                now: datetime.datetime | None = None) -> Invoice:
    """Debit fees from the wallet (WAL-2: the wallet pays first) on one invoice, paid at once when
    the wallet covers it, open (and debt) otherwise. `lines` are (description, cents, ledger kind)."""
    now = now or timezone.now()
    invoice = issue(client=client, kind=Invoice.Kind.INVOICE, lines=[(d, a) for d, a, _ in lines], reference=reference, now=now)
    for n, (description, amount, kind) in enumerate(lines):
        post(wallet, amount=-amount, kind=kind, description=description, reference=reference, key=f"{key}:fee:{n}", invoice=invoice, at=now)
    settle(wallet, now=now)
    return invoice


def credit(wallet: Wallet, *, client: Client, amount: int, kind: str, description: str, reference: str, key: str,
           corrects: Invoice | None, actor: Client | None = None, now: datetime.datetime | None = None) -> LedgerEntry | None:
    """A credit to the wallet with its credit note, which names the invoice it corrects (WAL-3,
    WAL-6). Nothing for nothing; a key used before credits nothing again."""
    if amount <= 0 or LedgerEntry.objects.filter(idempotency_key=key).exists():
        return None
    now = now or timezone.now()
    note = issue(client=client, kind=Invoice.Kind.CREDIT_NOTE, lines=[(description, -amount)], reference=reference, corrects=corrects, now=now)
    entry = post(wallet, amount=amount, kind=kind, description=description, reference=reference, key=key, invoice=note, actor=actor, at=now)
    settle(wallet, now=now)
    return entry


def _covered(open_invoices: list[tuple[int, int]], balance: int) -> list[int]:
    """The unpaid invoices (id, total), oldest first, that the wallet now covers: all but the
    newest ones whose sum the debt still is."""
    to_cover = sum(total for _, total in open_invoices) - max(0, -balance)
    paid, running = [], 0
    for pk, total in open_invoices:
        if running + total > to_cover:
            break
        running += total
        paid.append(pk)
    return paid


def settle_many(client_ids: list[int], *, now: datetime.datetime | None = None) -> int:
    """Mark paid the unpaid invoices the wallets of these clients now cover, oldest first (WAL-6).
    A few statements for any number of clients. Returns how many were paid."""
    if not client_ids:
        return 0
    now = now or timezone.now()
    unpaid: dict[int, list[tuple[int, int]]] = {}
    for pk, client_id, total in Invoice.objects.filter(client_id__any_of=client_ids, kind=Invoice.Kind.INVOICE, status__in=UNPAID).order_by(
        "issued_at", "id"
    ).values_list("id", "client_id", "total_cents"):
        unpaid.setdefault(client_id, []).append((pk, total))
    if not unpaid:
        return 0
    totals = balances(list(unpaid))
    paid = [pk for client_id, invoices in unpaid.items() for pk in _covered(invoices, totals.get(client_id, 0))]
    Invoice.objects.filter(pk__any_of=paid).update(status=Invoice.Status.PAID, paid_at=now)
    return len(paid)


def settle(wallet: Wallet, *, now: datetime.datetime | None = None) -> int:
    """`settle_many` for one wallet, after money reached it or a fee left it."""
    return settle_many([wallet.client_id], now=now)


def mark_uncollectible(*, client: Client) -> int:
    """DUN-5 ended PRO: what is still open is uncollectible (still owed: the debt stays a hold)."""
    return Invoice.objects.filter(client=client, kind=Invoice.Kind.INVOICE, status=Invoice.Status.OPEN).update(
        status=Invoice.Status.UNCOLLECTIBLE
    )


def overdue_invoices(client_ids: list[int], *, now: datetime.datetime):
    """Open invoices past their due date that carry no late fee yet (late fees carry none)."""
    return Invoice.objects.filter(
        client_id__any_of=client_ids, kind=Invoice.Kind.INVOICE, status=Invoice.Status.OPEN, due_at__lt=now,
        late_fee_for__isnull=True, late_fee_invoice__isnull=True,
    ).select_related("client").order_by("client_id", "issued_at", "id")


def charge_late_fees(client_ids: list[int], *, now: datetime.datetime) -> int:
    """WAL-6: the operator's late fee (none by default), once per overdue invoice, as an invoice
    line of its own that names the invoice. Returns the cents charged."""
    fee = current_policy().late_fee_cents
    if not fee or not client_ids:
        return 0
    charged = 0
    for overdue in overdue_invoices(client_ids, now=now):
        with transaction.atomic():
            wallet = locked_wallet(overdue.client)
            if Invoice.objects.filter(late_fee_for=overdue).exists():
                continue
            description = f"Late fee on {overdue.number}, due {billing_date(overdue.due_at):%d.%m.%Y} (WAL-6): {dollars(fee)}"
            invoice = issue(client=overdue.client, kind=Invoice.Kind.INVOICE, lines=[(description, fee)], reference=f"late_fee:{overdue.pk}",
                            late_fee_for=overdue, now=now)
            post(wallet, amount=-fee, kind=LedgerEntry.Kind.LATE_FEE, description=description, reference=f"late_fee:{overdue.pk}",
                 key=f"late_fee:{overdue.pk}", invoice=invoice, at=now)
            charged += fee
    return charged


def period_invoice_of(client: Client) -> Invoice | None:
    """The newest invoice of the client: what a credit that corrects "the current fees" names."""
    return Invoice.objects.filter(client=client, kind=Invoice.Kind.INVOICE).order_by("-issued_at", "-id").first()
