"""Property tests (hypothesis): any sequence of activations, period changes, top-ups, credits and
deactivations, days apart, keeps every cent accounted for (WAL-1, WAL-3, WAL-6, PER-4, DEA-1)."""

import datetime
import itertools

import pytest
import time_machine
from django.core.exceptions import ValidationError
from django.db.models import Sum
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from billing import services
from billing.models import Invoice, LedgerEntry, PaymentAttempt, PeriodChangeRequest
from core.exceptions import RuleRefused
from tests.billing.conftest import charged, verified
from tests.factories import api_as, make_client

pytestmark = pytest.mark.django_db
_people = itertools.count()

PERIODS = st.sampled_from(["monthly", "quarterly", "yearly"])
STEPS = st.lists(
    st.one_of(
        st.tuples(st.just("activate"), PERIODS),
        st.tuples(st.just("period"), PERIODS),
        st.tuples(st.just("approve"), st.none()),
        st.tuples(st.just("topup"), st.integers(100, 20_000)),
        st.tuples(st.just("credit"), st.integers(1, 5_000)),
        st.tuples(st.just("deactivate"), st.none()),
        st.tuples(st.just("wait"), st.integers(0, 120)),
    ),
    max_size=10,
)


def total(queryset) -> int:
    return queryset.aggregate(t=Sum("amount_cents"))["t"] or 0


def check_books(client) -> None:
    entries = LedgerEntry.objects.filter(wallet__client=client)
    shown = api_as(client).get("/api/v1/billing/").json()["balance_cents"]
    assert shown == total(entries) == services.balance_cents(services.wallet_of(client))
    # Every cent taken from a card is in the ledger once, and nothing else came from a card.
    card_money = total(entries.filter(kind__in=["card_payment", "top_up", "verification"]))
    assert card_money == charged(client)
    assert not PaymentAttempt.objects.filter(client=client, status="succeeded").exclude(kind="refund").exists()
    # Fees are on invoices, credits on credit notes, to the cent.
    fees = -total(entries.filter(kind__in=["fee", "setup_fee", "package_change"]))
    assert fees == (Invoice.objects.filter(client=client, kind="invoice").aggregate(t=Sum("total_cents"))["t"] or 0)
    credits = total(entries.filter(kind__in=["unused_credit", "staff_credit"]))
    notes = Invoice.objects.filter(client=client, kind="credit_note").aggregate(t=Sum("total_cents"))["t"] or 0
    assert credits == -notes
    # Unused time credited never exceeds what was paid for time.
    assert 0 <= total(entries.filter(kind="unused_credit")) <= fees


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(steps=STEPS, start=st.dates(datetime.date(2026, 1, 1), datetime.date(2030, 12, 31)))
def test_wal1_any_sequence_keeps_every_cent_accounted_for(db, steps, start):
    client = verified(f"prop{next(_people)}@example.com")
    staff = make_client(email=f"staff-prop{next(_people)}@example.com")
    moment = datetime.datetime.combine(start, datetime.time(9), tzinfo=datetime.UTC)
    with time_machine.travel(moment, tick=False) as clock:
        services.attach_card(client=client, token="tok_visa")
        for action, value in steps:
            try:
                if action == "activate":
                    services.activate_pro(client=client, period=value)
                elif action == "period":
                    services.change_period(client=client, period=value)
                elif action == "approve":
                    request = PeriodChangeRequest.objects.filter(client=client, status="pending").first()
                    if request:
                        services.approve_period_change(request=request, actor=staff)
                elif action == "topup":
                    services.top_up(client=client, amount_cents=value)
                elif action == "credit":
                    services.staff_credit(client=client, amount_cents=value, reason="property", actor=staff)
                elif action == "deactivate":
                    services.deactivate_pro(client=client, confirm=True)
                elif action == "wait":
                    clock.shift(datetime.timedelta(days=value))
            except (RuleRefused, ValidationError):
                pass  # a refusal changes nothing; the books must still hold
            check_books(client)
