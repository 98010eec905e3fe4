"""Issue 11's property (hypothesis): any interleaving of top-ups (with a key, without, the same key
again), card saves, activations, night collections, reconciliations, answers lost on the way,
gateways out of reach and crashes between two steps — and then one reconciliation once the
gateway is back: for every client the money the gateway took is the money booked to its wallet,
no key was charged twice, and nothing was taken that no attempt knows (PER-7, WAL-1, WAL-2)."""

import datetime
import itertools

import pytest
import time_machine
from django.core.exceptions import ValidationError
from django.db.models import Count
from django.test import override_settings
from django.utils import timezone
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from billing import dunning, invoicing, ledger, payments, services
from billing.models import LedgerEntry, PaymentAttempt, SandboxCharge
from core.clock import billing_date
from core.exceptions import RuleRefused
from tests.billing.conftest import verified
from tests.billing.gateways import LostAnswerGateway, UnreachableGateway, booked_from_cards, card_paid, path

pytestmark = pytest.mark.django_db
_people = itertools.count()


class Crash(BaseException):
    """The process dies here: nothing after this step runs (each step before it is committed)."""


MODES = st.sampled_from(["ok", "ok", "lost", "unreachable", "crash_before_call", "crash_before_booking"])
WHO = st.integers(0, 1)
STEPS = st.lists(
    st.one_of(
        st.tuples(st.just("topup"), WHO, st.sampled_from([500, 1500]), st.sampled_from([None, "a", "b"]), MODES),
        st.tuples(st.just("card"), WHO, st.sampled_from(["main", "backup"]), st.sampled_from(["tok_visa", "tok_mastercard", "tok_chargeCustomerFail"]), MODES),
        st.tuples(st.just("activate"), WHO, st.sampled_from(["monthly", "yearly"]), st.none(), MODES),
        st.tuples(st.just("fee"), WHO, st.sampled_from([700, 2500]), st.none(), st.just("ok")),
        st.tuples(st.just("night"), st.none(), st.none(), st.none(), MODES),
        st.tuples(st.just("reconcile"), st.none(), st.none(), st.none(), MODES),
        st.tuples(st.just("wait"), st.none(), st.sampled_from([1, 6, 20, 60 * 24]), st.none(), st.just("ok")),
    ),
    max_size=12,
)


def gateway_for(mode: str) -> str:
    return {"lost": path(LostAnswerGateway), "unreachable": path(UnreachableGateway)}.get(mode, "sandbox")


def crashing(mode: str, monkeypatch) -> None:
    """A crash after the attempt was claimed and before the call, or after the answer and before
    the booking: the exception stops everything after, as SIGKILL would."""
    def crash(*args, **kwargs):
        raise Crash

    if mode == "crash_before_call":
        monkeypatch.setattr(payments, "_call", crash)
    elif mode == "crash_before_booking":
        monkeypatch.setattr(payments, "book", crash)
        monkeypatch.setattr(payments, "book_many", crash)


def step(action, who, a, b, clients, now):
    client = clients[who] if who is not None else None
    if action == "topup":
        services.top_up(client=client, amount_cents=a, idempotency_key=f"{client.pk}-{b}" if b else None)
    elif action == "card":
        services.attach_card(client=client, token=b, role=a)
    elif action == "activate":
        services.activate_pro(client=client, period=a)
    elif action == "fee":  # what the night's renewal does: a fee debited, its invoice open until paid
        wallet = ledger.wallet_of(client)
        from django.db import transaction

        with transaction.atomic():
            invoicing.charge_fees(ledger.locked_wallet(client), client=client, lines=[("A fee", a, LedgerEntry.Kind.FEE)],
                                  reference="property", key=f"property-fee:{wallet.pk}:{LedgerEntry.objects.filter(wallet=wallet).count()}")
    elif action == "night":
        dunning.collect_chunk([c.pk for c in clients], day=billing_date(now), at=now)
    elif action == "reconcile":
        dunning.reconcile_payments()


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(steps=STEPS)
def test_per7_whatever_happens_the_gateway_took_what_the_wallets_booked(db, steps):
    clients = [verified(f"interleave{next(_people)}@example.com") for _ in range(2)]
    moment = datetime.datetime(2027, 3, 1, 9, tzinfo=datetime.UTC)
    with time_machine.travel(moment, tick=False) as clock:
        for client in clients:
            services.attach_card(client=client, token="tok_visa")
        for action, who, a, b, mode in steps:
            if action == "wait":
                clock.shift(datetime.timedelta(minutes=a))
                continue
            # (override_settings, not the settings fixture: its overrides would pile up over the examples)
            with override_settings(PAYMENT_GATEWAY=gateway_for(mode)), pytest.MonkeyPatch.context() as monkeypatch:
                crashing(mode, monkeypatch)
                try:
                    step(action, who, a, b, clients, timezone.now())
                except (RuleRefused, ValidationError, Crash):
                    pass  # a refusal changes nothing; after a crash the next steps are another process
        # The gateway is back and every lease has lapsed: one reconciliation settles everything.
        clock.shift(payments.LEASE + datetime.timedelta(minutes=1))
        payments.reconcile(older_than=datetime.timedelta(0))
    for client in clients:
        assert card_paid(client) == booked_from_cards(client), steps
        assert not PaymentAttempt.objects.filter(client=client, status__in=["created", "sent", "unknown", "succeeded"]).exists()
        # Every cent the gateway took belongs to an attempt; no key was charged twice.
        keys = set(PaymentAttempt.objects.filter(client=client).values_list("idempotency_key", flat=True))
        charges = SandboxCharge.objects.filter(customer_ref=f"client-{client.pk}", kind="charge")
        assert set(charges.values_list("idempotency_key", flat=True)) <= keys
        assert not charges.values("idempotency_key").annotate(n=Count("id")).filter(n__gt=1).exists()
        assert ledger.balance_cents(ledger.wallet_of(client)) == sum(LedgerEntry.objects.filter(wallet__client=client).values_list("amount_cents", flat=True))
