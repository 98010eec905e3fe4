"""The PDF of an invoice or credit note, with fpdf2 (pure Python: nothing needed from the system).

It says what the API says (WAL-6): number, kind, issue date, due date (invoices), status in words,
the date it was paid, the invoice a credit note corrects or a late fee is for, every line in full
and the total, all money in dollars. Dates are billing days (UTC+2, RULES.md), as in the lines.

The content streams stay compressed (fpdf2's default, FlateDecode): the PDFs clients download
stay small, and a test reads the text by inflating the streams with zlib, which is all that
compression is, rather than the code producing a different file under test than in production."""

import datetime

from fpdf import FPDF

from billing.models import Invoice
from core.clock import billing_zone
from core.money import dollars

# The core fonts are Latin-1; the few other characters in our descriptions read well as these.
_PLAIN = {"–": "-", "—": "-", "…": "...", "‘": "'", "’": "'", "“": '"', "”": '"', "\u00a0": " "}


def printable(value: str) -> str:
    """`value` as the PDF prints it with a core font (× and other Latin-1 characters stay)."""
    for character, plain in _PLAIN.items():
        value = value.replace(character, plain)
    return value.encode("latin-1", "replace").decode("latin-1")


def billing_day(at: datetime.datetime) -> str:
    """An instant as the billing day it falls on, `dd.mm.yyyy`."""
    return f"{at.astimezone(billing_zone()):%d.%m.%Y}"


STATUS_WORDS = {
    Invoice.Status.OPEN: "Open: not paid yet",
    Invoice.Status.PAID: "Paid",
    Invoice.Status.UNCOLLECTIBLE: "Uncollectible: not paid, PRO ended (DUN-5)",
}
CREDIT_NOTE_STATUS = "Credited to the wallet"


def status_words(invoice: Invoice) -> str:
    if invoice.kind == Invoice.Kind.CREDIT_NOTE and invoice.status == Invoice.Status.PAID:
        return CREDIT_NOTE_STATUS
    return STATUS_WORDS.get(invoice.status, invoice.get_status_display())


def header_rows(invoice: Invoice, *, operator: str) -> list[tuple[str, str]]:
    """The labelled facts above the lines, in order."""
    credit_note = invoice.kind == Invoice.Kind.CREDIT_NOTE
    rows = [
        ("From", operator),
        ("To", f"{invoice.client_name} <{invoice.client_email}>"),
        ("Number", invoice.number or "(being numbered)"),
        ("Issued", billing_day(invoice.issued_at)),
    ]
    if not credit_note:
        rows.append(("Due", billing_day(invoice.due_at)))
    rows.append(("Status", status_words(invoice)))
    if invoice.paid_at is not None:
        rows.append(("Credited on" if credit_note else "Paid on", billing_day(invoice.paid_at)))
    if invoice.corrects_id:
        rows.append(("Corrects", invoice.corrects.number or "(being numbered)"))
    late_fee_for = invoice.late_fee_for
    if late_fee_for is not None:
        rows.append(("Late fee for", f"{late_fee_for.number}, due {billing_day(late_fee_for.due_at)}"))
    return rows


def invoice_pdf(invoice: Invoice, *, operator: str) -> bytes:
    title = "Credit note" if invoice.kind == Invoice.Kind.CREDIT_NOTE else "Invoice"
    pdf = FPDF(format="A4")
    pdf.set_title(printable(f"{title} {invoice.number or ''}".strip()))
    pdf.set_auto_page_break(auto=True, margin=15)
    pdf.add_page()
    pdf.set_font("Helvetica", "B", 18)
    pdf.cell(0, 10, printable(f"{title} {invoice.number or ''}".strip()), new_x="LMARGIN", new_y="NEXT")
    pdf.set_font("Helvetica", "", 11)
    for label, value in header_rows(invoice, operator=operator):
        pdf.cell(32, 7, printable(label))
        pdf.multi_cell(0, 7, printable(value), align="L", new_x="LMARGIN", new_y="NEXT")
    pdf.ln(6)
    amount_width = 35
    description_width = pdf.epw - amount_width
    pdf.set_font("Helvetica", "B", 11)
    pdf.cell(description_width, 8, "Description", border="B")
    pdf.cell(amount_width, 8, "Amount (USD)", border="B", align="R", new_x="LMARGIN", new_y="NEXT")
    pdf.set_font("Helvetica", "", 10)
    for line in invoice.lines.all():
        # The whole description, wrapped (never cut: it is the line's explanation, WAL-1); the
        # amount beside its first row.
        text = printable(line.description)
        rows = pdf.multi_cell(description_width, 6, text, align="L", dry_run=True, output="LINES")
        if pdf.will_page_break(6 * len(rows)):
            pdf.add_page()
        top = pdf.get_y()
        pdf.multi_cell(description_width, 6, text, align="L", new_x="LMARGIN", new_y="NEXT")
        bottom = pdf.get_y()
        pdf.set_xy(pdf.l_margin + description_width, top)
        pdf.cell(amount_width, 6, dollars(line.amount_cents), align="R")
        pdf.set_xy(pdf.l_margin, bottom)
    pdf.set_font("Helvetica", "B", 11)
    pdf.cell(description_width, 9, "Total", border="T")
    pdf.cell(amount_width, 9, dollars(invoice.total_cents), border="T", align="R", new_x="LMARGIN", new_y="NEXT")
    return bytes(pdf.output())
