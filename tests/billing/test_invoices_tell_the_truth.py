"""Invoices tell the truth (WAL-6, DUN-5, DEA-1, PER-4, PER-6): what a client reads on its invoices
(the API list, the PDF) says what happened — open with its due date, paid with the moment it was
collected, uncollectible once DUN-5 ended PRO, one late fee per overdue invoice when the operator
sets one, and every credit note naming the invoice it corrects. Times are pinned (time-machine)."""

import datetime
import re
import zlib

import pytest
import time_machine
from django.core.exceptions import ValidationError
from django.utils import timezone
from rest_framework.test import APIClient

from billing import services
from billing.gateways import sandbox
from billing.models import Invoice, LedgerEntry, Subscription
from core.clock import night_of
from projects.models import Subscriber
from tests.billing.conftest import balance, verified
from tests.billing.nights import D, run_night, subscribers
from tests.factories import api_as, make_project

pytestmark = pytest.mark.django_db
UTC = datetime.UTC
GRACE = datetime.timedelta(days=7)  # PolicySettings.grace_days by default


def at(day: D, hour: int = 9, minute: int = 0) -> datetime.datetime:
    return datetime.datetime(day.year, day.month, day.day, hour, minute, tzinfo=UTC)


def pinned(moment: datetime.datetime):
    return time_machine.travel(moment, tick=False)


def run_nights(first: D, last: D) -> None:
    day = first
    while day <= last:
        run_night(day)
        day += datetime.timedelta(days=1)


def listed(api, when: datetime.datetime) -> dict[str, dict]:
    """The client's invoices as the API lists them at `when`, by number. (Requests go forward in
    time: a key's rate limit, ACC-5, remembers the last one.)"""
    with pinned(when):
        response = api.get("/api/v1/billing/invoices/", {"page_size": 200})
    assert response.status_code == 200, response.content
    return {invoice["number"]: invoice for invoice in response.json()["results"]}


def instant(value: str) -> datetime.datetime:
    return datetime.datetime.fromisoformat(value.replace("Z", "+00:00"))


# --- reading a PDF's text ---------------------------------------------------------------------------------
# fpdf2 compresses its content streams (FlateDecode) and the PDF module leaves it so (small files
# for clients); these tests inflate the streams with zlib and read the strings the page shows.

_STREAM = re.compile(rb"stream\r?\n(.*?)endstream", re.S)
_SHOWN = re.compile(rb"\(((?:\\.|[^\\)])*)\)\s*Tj", re.S)
_ESCAPES = {b"n": b"\n", b"r": b"\r", b"t": b"\t", b"b": b"\b", b"f": b"\f", b"(": b"(", b")": b")", b"\\": b"\\"}


def _unescape(literal: bytes) -> bytes:
    def one(match: re.Match) -> bytes:
        body = match.group(1)
        if body[:1].isdigit():
            return bytes([int(body, 8) & 0xFF])
        return _ESCAPES.get(body, body)

    return re.sub(rb"\\([0-7]{1,3}|.)", one, literal, flags=re.S)


def pdf_text(content: bytes) -> str:
    """Every string the PDF's pages show, in order, whitespace collapsed (a wrapped line reads as
    one sentence again)."""
    assert content.startswith(b"%PDF")
    shown = []
    for raw in _STREAM.findall(content):
        try:
            data = zlib.decompressobj().decompress(raw)
        except zlib.error:
            continue
        shown += [_unescape(m.group(1)).decode("latin-1") for m in _SHOWN.finditer(data)]
    return " ".join(" ".join(shown).split())


def printed(text: str) -> str:
    """A description as the core PDF fonts print it (Latin-1: the en dash as a hyphen)."""
    return " ".join(text.replace("–", "-").split())


def pdf_of(api, number: str, when: datetime.datetime) -> str:
    """The text of the invoice's PDF as the client downloads it at `when`."""
    with pinned(when):
        response = api.get(f"/api/v1/billing/invoices/{number}/pdf/")
    assert response.status_code == 200 and response["Content-Type"] == "application/pdf"
    return pdf_text(response.content)


# --- the cast -----------------------------------------------------------------------------------------------


def failing_client(staff, email: str = "late@example.com"):
    """PRO monthly since 01.06.2027 (01.06–01.07, renewed the night of 02.07), the activation paid
    from the wallet ($1 verification + $9 from staff); its card verifies, then every charge fails.
    Returns the client and its API (made now: a blocked client may not make keys, ACC-3)."""
    with pinned(at(D(2027, 5, 31))):
        client = verified(email)
        services.attach_card(client=client, token="tok_chargeCustomerFail", actor=client)
        services.staff_credit(client=client, amount_cents=900, reason="first month", actor=staff)
    with pinned(at(D(2027, 6, 1))):
        services.activate_pro(client=client, period="monthly")
        make_project(owner=client)
        api = api_as(client)
    return client, api


def the_card_works_again(monkeypatch) -> None:
    """The bank accepts the failing card from now on (funds arrived): the sandbox's only card
    that verifies and then fails cannot be made to pay otherwise."""
    monkeypatch.setitem(sandbox.CARDS, "tok_chargeCustomerFail", ("visa", "0341", "ok"))


def renewal_of(client, night: D) -> Invoice:
    return Invoice.objects.get(client=client, reference__startswith="renewal:", issued_at=night_of(night))


def activation_of(client) -> Invoice:
    return Invoice.objects.get(client=client, reference__startswith="activation:")


# --- a. open until the wallet covers it, then paid at that moment ---------------------------------------------


def test_wal6_an_unpaid_renewal_reads_open_with_its_due_date_and_paid_once_topped_up(staff, monkeypatch):
    client, api = failing_client(staff)
    run_night(D(2027, 7, 2))  # the renewal: $10 from an empty wallet, the card fails
    renewal = renewal_of(client, D(2027, 7, 2))
    shown = listed(api, at(D(2027, 7, 2), 12))[renewal.number]
    assert (shown["kind"], shown["status"], shown["total_cents"]) == ("invoice", "open", 1000)
    assert instant(shown["issued_at"]) == night_of(D(2027, 7, 2))
    assert instant(shown["due_at"]) - instant(shown["issued_at"]) == GRACE
    assert [line["amount_cents"] for line in shown["lines"]] == [1000] and "(renewal, PER-3)" in shown["lines"][0]["description"]
    assert renewal.paid_at is None and balance(client) == -1000

    the_card_works_again(monkeypatch)
    with pinned(at(D(2027, 7, 3), 10)):
        assert api.post("/api/v1/billing/topup/", {"amount_cents": 500}).status_code == 200
    renewal.refresh_from_db()
    assert listed(api, at(D(2027, 7, 3), 10, 5))[renewal.number]["status"] == "open" and renewal.paid_at is None  # $5 of $10: still owed

    with pinned(at(D(2027, 7, 3), 11, 30)):
        assert api.post("/api/v1/billing/topup/", {"amount_cents": 500}).status_code == 200
    renewal.refresh_from_db()
    shown = listed(api, at(D(2027, 7, 3), 11, 35))[renewal.number]
    assert shown["status"] == "paid" and renewal.paid_at == at(D(2027, 7, 3), 11, 30)
    assert instant(shown["due_at"]) == renewal.issued_at + GRACE  # the due date stays what it was
    assert listed(api, at(D(2027, 7, 3), 11, 40))[activation_of(client).number]["status"] == "paid"  # paid at activation, untouched


# --- b. paid by card at activation --------------------------------------------------------------------------


def test_wal6_an_activation_paid_by_card_reads_paid_at_once(payer):
    with pinned(at(D(2027, 3, 1), 9, 15)):
        services.activate_pro(client=payer, period="monthly")  # $1 from the wallet, $9 from the card
    invoice = activation_of(payer)
    shown = listed(api_as(payer), at(D(2027, 3, 1), 10))[invoice.number]
    assert (shown["kind"], shown["status"], shown["total_cents"]) == ("invoice", "paid", 1000)
    assert invoice.paid_at == instant(shown["issued_at"]) == at(D(2027, 3, 1), 9, 15)
    assert instant(shown["due_at"]) == invoice.issued_at + GRACE
    assert shown["lines"] == [{"description": invoice.lines.get().description, "amount_cents": 1000}]
    assert "(activation, PER-2)" in shown["lines"][0]["description"]


# --- c. DUN-5 -------------------------------------------------------------------------------------------------


def test_dun5_after_30_days_unpaid_the_open_invoices_read_uncollectible(staff):
    with pinned(at(D(2027, 5, 30))):
        services.change_policy(actor=staff, late_fee_cents=500)  # two open invoices: the renewal and its late fee
    client, api = failing_client(staff)
    run_nights(D(2027, 7, 2), D(2027, 7, 31))
    renewal = renewal_of(client, D(2027, 7, 2))
    fee = Invoice.objects.get(late_fee_for=renewal)
    shown = listed(api, at(D(2027, 7, 31), 12))
    assert shown[renewal.number]["status"] == shown[fee.number]["status"] == "open"  # 29 days: still open
    run_night(D(2027, 8, 1))  # 30 days since the debt began: PRO ends (DUN-5)
    assert not Subscription.objects.get(client=client).is_active
    shown = listed(api, at(D(2027, 8, 1), 12))
    assert shown[renewal.number]["status"] == shown[fee.number]["status"] == "uncollectible"
    assert Invoice.objects.filter(pk__in=[renewal.pk, fee.pk], paid_at__isnull=True).count() == 2
    assert shown[activation_of(client).number]["status"] == "paid"  # what was paid stays paid
    assert {i["status"] for i in shown.values() if i["kind"] == "credit_note"} == {"paid"}
    assert not Invoice.objects.filter(client=client, kind="invoice", status="open").exists()
    assert "Uncollectible" in pdf_of(api, renewal.number, at(D(2027, 8, 1), 12, 5))


def test_dun5_an_uncollectible_invoice_reads_paid_once_the_debt_is_paid(staff):
    client, api = failing_client(staff)
    run_nights(D(2027, 7, 2), D(2027, 8, 1))
    renewal = renewal_of(client, D(2027, 7, 2))
    assert Invoice.objects.get(pk=renewal.pk).status == "uncollectible"
    with pinned(at(D(2027, 8, 5), 12)):  # a new card before the deletion: the debt is collected at once
        assert api.put("/api/v1/billing/card/", {"token": "tok_visa"}).status_code == 200
    renewal.refresh_from_db()
    assert listed(api, at(D(2027, 8, 5), 12, 5))[renewal.number]["status"] == "paid" and renewal.paid_at == at(D(2027, 8, 5), 12)
    assert balance(client) >= 0


# --- d. late fees ------------------------------------------------------------------------------------------------


def test_wal6_an_overdue_invoice_gets_exactly_one_late_fee_on_its_own_invoice(staff):
    with pinned(at(D(2027, 5, 30))):
        services.change_policy(actor=staff, late_fee_cents=500)
    client, api = failing_client(staff)
    run_nights(D(2027, 7, 2), D(2027, 7, 9))  # due 09.07 at 01:00 (UTC+2): not overdue yet that night
    renewal = renewal_of(client, D(2027, 7, 2))
    assert not Invoice.objects.filter(late_fee_for__isnull=False).exists()
    run_nights(D(2027, 7, 10), D(2027, 7, 18))  # nine nights overdue; by the 18th the late fee is overdue too

    fee = Invoice.objects.get(client=client, late_fee_for__isnull=False)
    assert fee.late_fee_for == renewal and fee.kind == "invoice"
    assert fee.issued_at == night_of(D(2027, 7, 10))  # the first night past the due date
    assert not Invoice.objects.filter(late_fee_for=fee).exists()  # a late fee carries none
    [line] = fee.lines.all()
    assert line.amount_cents == 500
    assert line.description.startswith(f"Late fee on {renewal.number}, due ") and line.description.endswith("(WAL-6): $5.00")
    [entry] = LedgerEntry.objects.filter(wallet__client=client, kind="late_fee")
    assert (entry.amount_cents, entry.invoice) == (-500, fee)

    shown = listed(api, at(D(2027, 7, 18), 12))
    assert shown[fee.number]["kind"] == "invoice" and shown[fee.number]["total_cents"] == 500
    assert shown[fee.number]["lines"] == [{"description": line.description, "amount_cents": 500}]
    assert shown[fee.number]["status"] == "open" and shown[renewal.number]["status"] == "open"
    assert balance(client) == -1500


def test_wal6_the_late_fee_line_names_the_due_date_as_the_billing_day(staff):
    with pinned(at(D(2027, 5, 30))):
        services.change_policy(actor=staff, late_fee_cents=500)
    client, api = failing_client(staff)
    run_nights(D(2027, 7, 2), D(2027, 7, 10))
    renewal = renewal_of(client, D(2027, 7, 2))
    fee = Invoice.objects.get(late_fee_for=renewal)
    assert "Due 09.07.2027" in pdf_of(api, renewal.number, at(D(2027, 7, 10), 12))  # what the overdue invoice itself says
    assert fee.lines.get().description == f"Late fee on {renewal.number}, due 09.07.2027 (WAL-6): $5.00"


def test_wal6_no_late_fee_under_the_default_policy(staff):
    client, api = failing_client(staff)
    run_nights(D(2027, 7, 2), D(2027, 7, 18))
    assert not Invoice.objects.filter(late_fee_for__isnull=False).exists()
    assert not LedgerEntry.objects.filter(kind="late_fee").exists()
    assert all("Late fee" not in line["description"] for invoice in listed(api, at(D(2027, 7, 18), 12)).values() for line in invoice["lines"])
    assert balance(client) == -1000


# --- e. every credit note names the invoice it corrects --------------------------------------------------------


def credit_notes(client) -> list[Invoice]:
    return list(Invoice.objects.filter(client=client, kind="credit_note").order_by("issued_at", "id"))


def test_dea1_the_deactivation_credit_note_corrects_the_activation_invoice(payer):
    with pinned(at(D(2027, 3, 1))):
        services.activate_pro(client=payer, period="monthly")  # 01.03–01.04: 32 days
    with pinned(at(D(2027, 3, 10))):
        services.deactivate_pro(client=payer, confirm=True, actor=payer)
    [note] = credit_notes(payer)
    assert note.corrects == activation_of(payer)
    assert (note.total_cents, note.status, note.paid_at) == (-688, "paid", at(D(2027, 3, 10)))  # 1 × $10.00 × 22/32
    shown = listed(api_as(payer), at(D(2027, 3, 10), 12))[note.number]
    assert note.number.startswith("CN-2027-") and shown["kind"] == "credit_note" and shown["status"] == "paid"
    assert shown["lines"] == [{"description": note.lines.get().description, "amount_cents": -688}]
    assert "(DEA-1)" in shown["lines"][0]["description"]


def test_per6_a_package_removed_at_night_is_credited_against_the_periods_invoice(payer):
    project = make_project(owner=payer)
    subscribers(project, 1100)  # two packages
    with pinned(at(D(2027, 3, 1))):
        services.top_up(client=payer, amount_cents=5000)
        services.activate_pro(client=payer, period="monthly")  # 01.03–01.04, 2 packages
    run_night(D(2027, 4, 2))  # renewed for 02.04–01.05: the period's invoice is now the renewal's
    subscription = Subscription.objects.get(client=payer)
    renewal = renewal_of(payer, D(2027, 4, 2))
    assert subscription.period_invoice == renewal and subscription.packages == 2
    keep = Subscriber.objects.filter(project=project).order_by("pk")[:900]
    Subscriber.objects.filter(project=project).exclude(pk__in=keep).update(status="unsubscribed", unsubscribed_at=timezone.now())
    run_night(D(2027, 4, 10))  # 900 subscribers: one package is removed, its unused part credited
    [note] = credit_notes(payer)
    assert note.corrects == renewal != activation_of(payer)
    assert note.total_cents < 0 and note.status == "paid" and note.paid_at == note.issued_at == night_of(D(2027, 4, 10))
    assert "(PER-6)" in note.lines.get().description
    assert listed(api_as(payer), at(D(2027, 4, 10), 12))[note.number]["total_cents"] == note.total_cents
    assert Subscription.objects.get(client=payer).packages == 1


def test_per4_a_longer_period_credits_the_old_periods_invoice(payer):
    with pinned(at(D(2027, 3, 1))):
        services.top_up(client=payer, amount_cents=5000)
        services.activate_pro(client=payer, period="monthly")
    monthly = activation_of(payer)
    with pinned(at(D(2027, 3, 10))):
        services.change_period(client=payer, period="quarterly", actor=payer)
    [note] = credit_notes(payer)
    assert note.corrects == monthly
    assert "(PER-4)" in note.lines.get().description and note.status == "paid"
    subscription = Subscription.objects.get(client=payer)
    quarterly = subscription.period_invoice
    assert quarterly != monthly and quarterly.total_cents == 2700 and quarterly.status == "paid"  # $30 less 10%
    assert "(period changed, PER-4)" in quarterly.lines.get().description


def test_wal6_a_staff_credit_corrects_the_newest_invoice_or_the_one_named(payer, staff, other_account):
    with pinned(at(D(2027, 3, 1))):
        services.top_up(client=payer, amount_cents=5000)
        services.activate_pro(client=payer, period="monthly")
    run_night(D(2027, 4, 2))
    activation, renewal = activation_of(payer), renewal_of(payer, D(2027, 4, 2))
    with pinned(at(D(2027, 4, 5))):
        newest = services.staff_credit(client=payer, amount_cents=300, reason="Outage", actor=staff).invoice
        named = services.staff_credit(client=payer, amount_cents=200, reason="Old fee", actor=staff, corrects=activation).invoice
    assert newest.corrects == renewal and named.corrects == activation
    assert (newest.total_cents, named.total_cents) == (-300, -200)
    # Only one of this client's invoices can be corrected: not a credit note, not another client's.
    with pinned(at(D(2027, 3, 1))):
        other = verified("other-payer@example.com")
        services.attach_card(client=other, token="tok_visa", actor=other)
        services.activate_pro(client=other, period="monthly")
    for wrong in (newest, activation_of(other)):
        with pytest.raises(ValidationError):
            services.staff_credit(client=payer, amount_cents=100, reason="Wrong", actor=staff, corrects=wrong)
    assert len(credit_notes(payer)) == 2


# --- f. the PDF ---------------------------------------------------------------------------------------------------


def test_wal6_the_pdf_shows_number_dates_status_lines_and_total(staff, monkeypatch):
    client, api = failing_client(staff)
    run_night(D(2027, 7, 2))
    renewal = renewal_of(client, D(2027, 7, 2))
    text = pdf_of(api, renewal.number, at(D(2027, 7, 2), 12))
    assert f"Invoice {renewal.number}" in text
    assert "Issued 02.07.2027" in text and "Due 09.07.2027" in text  # billing days (UTC+2)
    assert "Status Open" in text and "Paid on" not in text
    assert printed(renewal.lines.get().description) in text and "$10.00" in text
    assert "Total $10.00" in text

    the_card_works_again(monkeypatch)
    with pinned(at(D(2027, 7, 3), 10)):
        services.top_up(client=client, amount_cents=1000)
    text = pdf_of(api, renewal.number, at(D(2027, 7, 3), 10, 5))
    assert "Status Paid" in text and "Paid on 03.07.2027" in text and "Due 09.07.2027" in text


def test_dea1_a_credit_notes_pdf_names_the_invoice_it_corrects(payer):
    with pinned(at(D(2027, 3, 1))):
        services.activate_pro(client=payer, period="monthly")
    with pinned(at(D(2027, 3, 10))):
        services.deactivate_pro(client=payer, confirm=True, actor=payer)
    [note] = credit_notes(payer)
    activation = activation_of(payer)
    api = api_as(payer)
    text = pdf_of(api, note.number, at(D(2027, 3, 10), 12))
    assert f"Credit note {note.number}" in text and f"Corrects {activation.number}" in text
    assert "Issued 10.03.2027" in text and "Credited on 10.03.2027" in text
    assert printed(note.lines.get().description) in text  # the whole line, wrapped, never cut
    assert "Total -$6.88" in text
    # The invoice it corrects, for its part, shows itself paid with its line and total.
    text = pdf_of(api, activation.number, at(D(2027, 3, 10), 12, 5))
    assert "Status Paid" in text and "Paid on 01.03.2027" in text and "Due 08.03.2027" in text
    assert printed(activation.lines.get().description) in text and "Total $10.00" in text


def test_wal6_a_late_fees_pdf_names_the_overdue_invoice(staff):
    with pinned(at(D(2027, 5, 30))):
        services.change_policy(actor=staff, late_fee_cents=500)
    client, api = failing_client(staff)
    run_nights(D(2027, 7, 2), D(2027, 7, 10))
    renewal = renewal_of(client, D(2027, 7, 2))
    fee = Invoice.objects.get(late_fee_for=renewal)
    text = pdf_of(api, fee.number, at(D(2027, 7, 10), 12))
    assert f"Invoice {fee.number}" in text and f"Late fee for {renewal.number}" in text
    assert "Issued 10.07.2027" in text and "Due 17.07.2027" in text and "Status Open" in text
    assert printed(fee.lines.get().description) in text and "Total $5.00" in text


# --- g. bad input ---------------------------------------------------------------------------------------------------


def test_wal6_another_clients_invoice_pdf_is_404_and_leaks_nothing(payer, other_account):
    with pinned(at(D(2027, 3, 1))):
        services.activate_pro(client=payer, period="monthly")
    invoice = activation_of(payer)
    stranger = api_as(other_account)
    for number in (invoice.number, "INV-2027-999999", "../../etc/passwd"):
        with pinned(at(D(2027, 3, 1), 12)):
            response = stranger.get(f"/api/v1/billing/invoices/{number}/pdf/")
        assert response.status_code == 404
        assert not response.content.startswith(b"%PDF") and "attachment" not in response.get("Content-Disposition", "")
        body = response.content.decode()
        assert invoice.number not in body and payer.email not in body and payer.name not in body
    assert listed(stranger, at(D(2027, 3, 1), 12, 5)) == {}
    anonymous = APIClient().get(f"/api/v1/billing/invoices/{invoice.number}/pdf/")
    assert anonymous.status_code in (401, 403) and not anonymous.content.startswith(b"%PDF")
    assert pdf_of(api_as(payer), invoice.number, at(D(2027, 3, 1), 12, 10))  # the owner still gets it
