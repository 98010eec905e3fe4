"""The PDF of an invoice or credit note, with fpdf2 (pure Python: nothing needed from the system)."""

from fpdf import FPDF

from billing.models import Invoice
from core.money import dollars


def _text(value: str) -> str:
    # The core fonts are Latin-1; the few other characters in our descriptions read well as these.
    return value.replace("×", "x").replace("–", "-").replace("…", "...").encode("latin-1", "replace").decode("latin-1")


def invoice_pdf(invoice: Invoice, *, operator: str) -> bytes:
    pdf = FPDF(format="A4")
    pdf.set_title(invoice.number)
    pdf.add_page()
    pdf.set_font("Helvetica", "B", 18)
    title = "Invoice" if invoice.kind == Invoice.Kind.INVOICE else "Credit note"
    pdf.cell(0, 10, _text(f"{title} {invoice.number}"), new_x="LMARGIN", new_y="NEXT")
    pdf.set_font("Helvetica", "", 11)
    rows = [
        ("From", operator),
        ("To", f"{invoice.client_name} <{invoice.client_email}>"),
        ("Issued", f"{invoice.issued_at:%Y-%m-%d}"),
        ("Due", f"{invoice.due_at:%Y-%m-%d}"),
        ("Status", invoice.get_status_display()),
    ]
    if invoice.corrects_id:
        rows.append(("Corrects", invoice.corrects.number))
    for label, value in rows:
        pdf.cell(30, 7, _text(label))
        pdf.cell(0, 7, _text(value), new_x="LMARGIN", new_y="NEXT")
    pdf.ln(6)
    pdf.set_font("Helvetica", "B", 11)
    pdf.cell(150, 8, "Description", border="B")
    pdf.cell(0, 8, "Amount (USD)", border="B", align="R", new_x="LMARGIN", new_y="NEXT")
    pdf.set_font("Helvetica", "", 10)
    for line in invoice.lines.all():
        pdf.cell(150, 7, _text(line.description[:95]))
        pdf.cell(0, 7, dollars(line.amount_cents), align="R", new_x="LMARGIN", new_y="NEXT")
    pdf.set_font("Helvetica", "B", 11)
    pdf.cell(150, 9, "Total", border="T")
    pdf.cell(0, 9, dollars(invoice.total_cents), border="T", align="R", new_x="LMARGIN", new_y="NEXT")
    return bytes(pdf.output())
