"""Issue 11, in one process: retries with keys and without, lost answers, declined cards, a debit
landing mid-activation, an erasure refused after its payment (PER-7, WAL-2, WAL-5, CARD-4). Every
test counts what the gateway really took (`card_paid`) against what the wallet booked."""

import datetime

import pytest
import time_machine
from django.utils import timezone

from billing import dunning, ledger, payments, services
from billing.models import IdempotencyRecord, LedgerEntry, PaymentAttempt, SandboxCharge, Subscription
from billing.subscriptions import lifecycle
from compliance.models import AuditLog, PrivacyRequest
from core.exceptions import RuleRefused
from tests.billing.conftest import balance
from tests.billing.gateways import LostAnswerGateway, SlowGateway, UnreachableGateway, booked_from_cards, card_paid, path
from tests.billing.nights import failing_pro
from tests.factories import PASSWORD, api_as

pytestmark = pytest.mark.django_db
TOPUP, ACTIVATE = "/api/v1/billing/topup/", "/api/v1/billing/activate/"


@pytest.fixture
def gateway(settings):
    def use(cls):
        settings.PAYMENT_GATEWAY = path(cls) if cls is not None else "sandbox"

    return use


def books_balance(client) -> None:
    """What the gateway took is what the wallet booked, and every attempt that took is booked."""
    assert card_paid(client) == booked_from_cards(client)
    assert not PaymentAttempt.objects.filter(client=client, status="succeeded").exists()


# --- 4. an Idempotency-Key is bound to its parameters ---------------------------------------------------


def test_wal5_the_same_key_with_another_amount_is_refused_before_any_charge(payer):
    api = api_as(payer)
    first = api.post(TOPUP, {"amount_cents": 1500}, HTTP_IDEMPOTENCY_KEY="order-7")
    assert first.status_code == 200 and first["Idempotency-Key"] == "order-7"
    other = api.post(TOPUP, {"amount_cents": 2000}, HTTP_IDEMPOTENCY_KEY="order-7")
    assert other.status_code == 409 and other.json()["code"] == "idempotency_key_reused"
    replay = api.post(TOPUP, {"amount_cents": 1500}, HTTP_IDEMPOTENCY_KEY="order-7")
    assert replay.status_code == 200 and replay.json()["balance_cents"] == 1600
    assert card_paid(payer) == 100 + 1500 and balance(payer) == 1600
    assert SandboxCharge.objects.filter(amount_cents=2000).count() == 0
    books_balance(payer)


def test_per7_a_key_whose_answer_was_lost_retried_with_another_amount_charges_nothing_more(payer, gateway):
    gateway(LostAnswerGateway)
    lost = api_as(payer).post(TOPUP, {"amount_cents": 1500}, HTTP_IDEMPOTENCY_KEY="k-1")
    assert lost.status_code == 503 and lost.json()["code"] == "payment_pending" and lost["Idempotency-Key"] == "k-1"
    gateway(None)
    other = api_as(payer).post(TOPUP, {"amount_cents": 2000}, HTTP_IDEMPOTENCY_KEY="k-1")
    assert other.status_code == 409 and other.json()["code"] == "idempotency_key_reused"
    assert card_paid(payer) == 100 + 1500 and balance(payer) == 100  # taken, not yet known to us
    with time_machine.travel(timezone.now() + datetime.timedelta(minutes=6)):
        services.reconcile_unknown_attempts()
    assert balance(payer) == 1600
    books_balance(payer)


def test_per7_an_activation_retried_after_a_top_up_books_every_cent_the_cards_paid(payer, gateway):
    gateway(LostAnswerGateway)
    assert api_as(payer).post(ACTIVATE, {"period": "monthly"}).status_code == 503  # $9.00 taken, answer lost
    gateway(None)
    assert api_as(payer).post(TOPUP, {"amount_cents": 500}).status_code == 200
    assert api_as(payer).post(ACTIVATE, {"period": "monthly"}).status_code == 200
    assert Subscription.objects.get(client=payer).is_active
    # $1 verification + $9 activation + $5 top-up taken; the month ($10) paid; $5 left.
    assert card_paid(payer) == 100 + 900 + 500 and balance(payer) == 500
    books_balance(payer)


def test_wal5_keys_are_kept_whole_up_to_255_characters(payer):
    api = api_as(payer)
    long_a, long_b = "k" * 200 + "a", "k" * 200 + "b"  # the same first 200 characters
    assert api.post(TOPUP, {"amount_cents": 1000}, HTTP_IDEMPOTENCY_KEY=long_a).status_code == 200
    assert api.post(TOPUP, {"amount_cents": 1000}, HTTP_IDEMPOTENCY_KEY=long_b).status_code == 200
    assert balance(payer) == 100 + 2000 and card_paid(payer) == 2100
    assert set(IdempotencyRecord.objects.values_list("key", flat=True)) == {long_a, long_b}


@pytest.mark.parametrize("key", ["k" * 256, "bad\x01key", "\ud800"])
def test_wal5_a_key_too_long_or_not_printable_is_refused_and_nothing_is_charged(payer, key):
    response = api_as(payer).post(TOPUP, {"amount_cents": 1000}, HTTP_IDEMPOTENCY_KEY=key)
    assert response.status_code == 400 and "Idempotency-Key" in response.content.decode()
    assert card_paid(payer) == 100 and balance(payer) == 100
    assert not IdempotencyRecord.objects.exists() and not PaymentAttempt.objects.filter(kind="charge").exists()


def test_wal5_a_key_is_the_clients_own_another_client_may_use_the_same(payer):
    from tests.billing.conftest import verified

    other = verified("other-payer@example.com")
    services.attach_card(client=other, token="tok_mastercard")
    assert api_as(payer).post(TOPUP, {"amount_cents": 1000}, HTTP_IDEMPOTENCY_KEY="shared").status_code == 200
    assert api_as(other).post(TOPUP, {"amount_cents": 2000}, HTTP_IDEMPOTENCY_KEY="shared").status_code == 200
    assert balance(payer) == 1100 and balance(other) == 2100


# --- 5. a definitive failure does not block for ever ------------------------------------------------------


def test_per2_a_declined_activation_can_be_paid_by_a_new_card(payer):
    services.attach_card(client=payer, token="tok_chargeCustomerFail")  # verifies, then declines every charge
    declined = api_as(payer).post(ACTIVATE, {"period": "monthly"})
    assert declined.status_code == 409 and declined.json()["code"] == "payment_failed"
    assert api_as(payer).post(ACTIVATE, {"period": "monthly"}).json()["code"] == "payment_failed"  # the same card again
    assert api_as(payer).put("/api/v1/billing/card/", {"token": "tok_visa"}).status_code == 200
    assert api_as(payer).post(ACTIVATE, {"period": "monthly"}).status_code == 200
    tries = list(PaymentAttempt.objects.filter(purpose_key=f"activation:{payer.pk}:1").order_by("try_number").values_list("try_number", "status"))
    assert tries == [(1, "failed"), (2, "failed"), (3, "booked")]
    assert len({a.idempotency_key for a in PaymentAttempt.objects.filter(purpose_key=f"activation:{payer.pk}:1")}) == 3
    books_balance(payer)


def test_per7_an_unanswered_activation_retried_with_a_new_card_asks_before_it_charges(payer, gateway):
    gateway(UnreachableGateway)
    assert api_as(payer).post(ACTIVATE, {"period": "monthly"}).status_code == 503  # never reached the gateway
    gateway(None)
    services.attach_card(client=payer, token="tok_mastercard")
    assert api_as(payer).post(ACTIVATE, {"period": "monthly"}).status_code == 200
    first = PaymentAttempt.objects.get(purpose_key=f"activation:{payer.pk}:1", try_number=1)
    assert first.status == "failed" and first.failure_code == "not_received"
    assert card_paid(payer) == 100 + 100 + 800 and balance(payer) == 0  # two verifications paid most of it
    books_balance(payer)


# --- 6. a keyless retry of a lost top-up ----------------------------------------------------------------


def test_per7_a_keyless_top_up_retried_after_a_lost_answer_is_charged_once(payer, gateway):
    gateway(LostAnswerGateway)
    lost = api_as(payer).post(TOPUP, {"amount_cents": 1500})
    assert lost.status_code == 503 and lost["Idempotency-Key"].startswith("srv_")
    assert "same Idempotency-Key" in lost.json()["detail"] and lost["Retry-After"] == "30"
    gateway(None)
    retried = api_as(payer).post(TOPUP, {"amount_cents": 1500})  # as the 503 says: try again
    assert retried.status_code == 200 and retried["Idempotency-Key"] == lost["Idempotency-Key"]
    assert card_paid(payer) == 100 + 1500 and balance(payer) == 1600
    again = api_as(payer).post(TOPUP, {"amount_cents": 1500})  # answered before: a new top-up
    assert again.status_code == 200 and again["Idempotency-Key"] != lost["Idempotency-Key"]
    assert card_paid(payer) == 100 + 3000 and balance(payer) == 3100
    books_balance(payer)


def test_wal5_a_declined_top_up_is_answered_the_same_to_its_key(payer):
    services.attach_card(client=payer, token="tok_chargeCustomerFail")
    first = api_as(payer).post(TOPUP, {"amount_cents": 1500}, HTTP_IDEMPOTENCY_KEY="d-1")
    assert first.status_code == 409 and first.json()["code"] == "payment_failed"
    services.attach_card(client=payer, token="tok_visa")
    assert api_as(payer).post(TOPUP, {"amount_cents": 1500}, HTTP_IDEMPOTENCY_KEY="d-1").json()["code"] == "payment_failed"
    assert api_as(payer).post(TOPUP, {"amount_cents": 1500}, HTTP_IDEMPOTENCY_KEY="d-2").status_code == 200  # a new key pays
    books_balance(payer)


# --- 7. the action that asked for the money cannot roll its payment back ---------------------------------


def test_per7_a_debit_landing_between_the_charge_and_the_activation_is_paid_too(payer, monkeypatch):
    original, landed = payments.book, []

    def book_then_a_fee_lands(attempt, **kwargs):
        entry = original(attempt, **kwargs)
        if not landed and attempt.kind == "charge":  # as the night's debit would, at this moment
            landed.append(ledger.post(ledger.wallet_of(payer), amount=-500, kind="fee", description="A fee", reference="t", key="landed"))
        return entry

    monkeypatch.setattr(payments, "book", book_then_a_fee_lands)
    services.activate_pro(client=payer, period="monthly")
    assert Subscription.objects.get(client=payer).is_active and balance(payer) == 0
    assert card_paid(payer) == 100 + 900 + 500
    books_balance(payer)


def test_per7_an_activation_refused_after_its_payment_leaves_the_money_in_the_wallet(payer, monkeypatch):
    def refuse(**kwargs):
        raise RuleRefused("already_active", "PRO is active already.")

    monkeypatch.setattr(lifecycle, "_activate", refuse)
    with pytest.raises(RuleRefused):
        services.activate_pro(client=payer, period="monthly")
    assert balance(payer) == 1000 and card_paid(payer) == 1000  # WAL-3: it stays in the wallet
    books_balance(payer)


def test_dea5_an_erasure_refused_after_the_card_paid_keeps_the_payment(payer, staff, monkeypatch):
    from compliance import erasure
    from compliance.services import decide_privacy_request, receive_privacy_request

    ledger.post(ledger.wallet_of(payer), amount=-1600, kind="fee", description="Unpaid fee", reference="t", key="debt-erasure")
    request = receive_privacy_request(client=payer, kind="erasure")
    monkeypatch.setattr(erasure, "verify_audit_log", lambda: ["2027-01-01 changed"])  # refuses after the debt is paid
    with pytest.raises(RuleRefused) as refused:
        decide_privacy_request(request=request, fulfilled=True, note="", actor=staff)
    assert refused.value.code == "audit_log_tampered"
    assert PrivacyRequest.objects.get(pk=request.pk).status == "open"
    assert balance(payer) == 0 and card_paid(payer) == 100 + 1500
    assert PaymentAttempt.objects.get(purpose_key__startswith=f"debt:{payer.pk}:").status == "booked"
    books_balance(payer)


def test_dea5_deleting_an_account_with_a_debt_charges_it_outside_any_transaction(payer):
    ledger.post(ledger.wallet_of(payer), amount=-600, kind="fee", description="Unpaid fee", reference="t", key="debt-delete")
    assert api_as(payer).delete("/api/v1/me/", {"password": PASSWORD}, format="json").status_code == 204
    assert card_paid(payer) == 100 + 500 and balance(payer) == 0
    books_balance(payer)


def test_card3_the_gateway_is_never_called_inside_an_open_transaction(payer):
    from django.db import transaction

    with pytest.raises(payments.GatewayCalledInTransaction), transaction.atomic():
        services.top_up(client=payer, amount_cents=1000)
    assert card_paid(payer) == 100 and not PaymentAttempt.objects.filter(kind="charge").exists()


# --- reconciliation and leases ------------------------------------------------------------------------------


def test_per7_reconciliation_never_decides_an_attempt_someone_holds(payer):
    card = payments.live_card(payer)
    attempt = payments.open_attempt(client=payer, card=card, amount=700, purpose="held", key="held-1")
    PaymentAttempt.objects.filter(pk=attempt.pk).update(status="sent", lease_owner="night", leased_until=timezone.now() + payments.LEASE)
    with time_machine.travel(timezone.now() + datetime.timedelta(minutes=6)):
        assert payments.reconcile() == []
        assert PaymentAttempt.objects.get(pk=attempt.pk).status == "sent"  # the night still calls the gateway
    with time_machine.travel(timezone.now() + payments.LEASE + datetime.timedelta(minutes=1)):
        payments.reconcile()
    assert PaymentAttempt.objects.get(pk=attempt.pk).status == "failed" and balance(payer) == 100  # the gateway never got it


def test_per7_a_success_that_arrives_after_a_not_received_still_reaches_the_wallet(payer):
    card = payments.live_card(payer)
    attempt = payments.open_attempt(client=payer, card=card, amount=700, purpose="late", key="late-1")
    owner = "slow-caller"
    PaymentAttempt.objects.filter(pk=attempt.pk).update(status="sent", lease_owner=owner, leased_until=timezone.now() - datetime.timedelta(seconds=1))
    payments.reconcile_attempt(attempt=attempt)  # the lease lapsed: asked, not found
    assert PaymentAttempt.objects.get(pk=attempt.pk).failure_code == "not_received"
    from billing.gateways import get_gateway

    result = get_gateway().charge(card_token=card.token, amount_cents=700, idempotency_key="late-1", description="late", customer_ref=f"client-{payer.pk}")
    payments._finish(attempt.pk, owner, result)  # the slow call's answer comes back: the money was taken
    payments.reconcile()
    assert PaymentAttempt.objects.get(pk=attempt.pk).status == "booked" and balance(payer) == 800
    books_balance(payer)


def test_per7_the_beat_books_a_payment_taken_but_not_booked(payer, monkeypatch):
    def crash(attempt, **kwargs):
        raise SystemExit("killed")  # the process dies after the gateway answered

    monkeypatch.setattr(payments, "book", crash)
    with pytest.raises(SystemExit):
        services.top_up(client=payer, amount_cents=1500)
    monkeypatch.undo()
    assert PaymentAttempt.objects.get(kind="charge").status == "succeeded" and balance(payer) == 100
    assert dunning.reconcile_payments() == 1
    assert balance(payer) == 1600 and LedgerEntry.objects.get(kind="top_up").amount_cents == 1500
    assert AuditLog.objects.filter(action="billing.payment_reconciled", client=payer).count() == 1  # CMP-5
    books_balance(payer)


def test_per7_a_slow_gateway_keeps_its_lease(payer, gateway, monkeypatch):
    monkeypatch.setenv("SLOW_GATEWAY_SECONDS", "0")
    gateway(SlowGateway)
    assert api_as(payer).post(TOPUP, {"amount_cents": 1000}).status_code == 200
    attempt = PaymentAttempt.objects.get(kind="charge")
    assert attempt.status == "booked" and attempt.leased_until <= timezone.now()  # let go once answered


def test_per7_a_retry_with_a_new_card_while_the_gateway_is_unreachable_answers_503(payer, gateway):
    gateway(LostAnswerGateway)
    assert api_as(payer).post(ACTIVATE, {"period": "monthly"}).status_code == 503  # taken, answer lost
    gateway(None)
    services.attach_card(client=payer, token="tok_mastercard")
    gateway(UnreachableGateway)  # it cannot even be asked what became of the first charge
    retried = api_as(payer).post(ACTIVATE, {"period": "monthly"})
    assert retried.status_code == 503 and retried.json()["code"] == "payment_pending"
    assert not Subscription.objects.filter(client=payer).exists()
    gateway(None)
    assert api_as(payer).post(ACTIVATE, {"period": "monthly"}).status_code == 200  # asked, found, booked: no new charge
    assert card_paid(payer) == 100 + 900 + 100 and balance(payer) == 100
    books_balance(payer)


def test_wal5_a_top_up_refused_before_any_charge_can_be_retried_with_its_key(db):
    from tests.billing.conftest import verified

    client = verified("no-card-yet@example.com")
    first = api_as(client).post(TOPUP, {"amount_cents": 1500}, HTTP_IDEMPOTENCY_KEY="early")
    assert first.status_code == 409 and first.json()["code"] == "card_required"
    services.attach_card(client=client, token="tok_visa")
    assert api_as(client).post(TOPUP, {"amount_cents": 1500}, HTTP_IDEMPOTENCY_KEY="early").status_code == 200
    assert balance(client) == 1600 and card_paid(client) == 1600


def test_per7_a_night_attempt_made_but_never_sent_fails_when_asked_for_and_the_next_night_collects_anew(db, monkeypatch):
    """The night makes its attempts `sent` under the chunk's lease: a run that died before calling
    the gateway leaves them unanswered; once the lease lapses, reconciliation asks the gateway by
    key, finds nothing, and the next night's try is a new attempt with a new key, charged once."""
    from tests.billing.nights import D, run_night

    client = failing_pro("never-sent@example.com")
    services.attach_card(client=client, token="tok_visa", role="backup")
    monkeypatch.setattr(payments, "_calls", lambda attempts, gateway: (_ for _ in ()).throw(SystemExit("killed before the calls")))
    with pytest.raises(SystemExit):
        run_night(D(2027, 7, 2))
    monkeypatch.undo()
    [made] = PaymentAttempt.objects.filter(client=client, purpose_key__startswith=f"debt:{client.pk}:")
    assert made.status == "sent" and made.lease_owner and SandboxCharge.objects.filter(idempotency_key=made.idempotency_key).count() == 0
    assert payments.reconcile(older_than=datetime.timedelta(0)) == []  # its lease holds: nobody decides it
    with time_machine.travel(made.leased_until + datetime.timedelta(minutes=1), tick=False):
        payments.reconcile(older_than=datetime.timedelta(0))
    made.refresh_from_db()
    assert (made.status, made.failure_code) == ("failed", "not_received")
    run_night(D(2027, 7, 3))
    tries = list(PaymentAttempt.objects.filter(client=client, purpose_key__startswith=f"debt:{client.pk}:").order_by("id").values_list("status", "idempotency_key"))
    assert tries[0] == ("failed", made.idempotency_key) and all(key != made.idempotency_key for _, key in tries[1:])
    assert any(status == "booked" for status, _ in tries[1:]) and balance(client) >= 0
    books_balance(client)
