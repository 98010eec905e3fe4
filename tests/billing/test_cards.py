"""Cards (CARD-1, CARD-2, CARD-4), the $1 verification (WAL-4) and one Free account (TAR-6)."""

import pytest

from billing import ledger, services
from billing.models import Card, FreeAccountFlag, LedgerEntry, PaymentAttempt
from tests.billing.conftest import balance, charged, verified
from tests.factories import api_as

pytestmark = pytest.mark.django_db


@pytest.fixture
def client_(db):
    return verified("cardholder@example.com")


def test_wal4_a_card_is_verified_with_1_dollar_that_goes_to_the_wallet(client_):
    response = api_as(client_).put("/api/v1/billing/card/", {"token": "tok_visa"})
    assert response.status_code == 200
    assert response.json() == {"brand": "visa", "last4": "4242", "exp_month": 12, "exp_year": 2034}
    assert charged(client_) == 100 and balance(client_) == 100
    entry = LedgerEntry.objects.get(wallet__client=client_)
    assert entry.kind == "verification" and entry.amount_cents == 100 and "WAL-4" in entry.description
    summary = api_as(client_).get("/api/v1/billing/").json()
    assert summary["card"]["last4"] == "4242" and summary["balance_cents"] == 100


def test_card1_only_the_token_brand_last4_expiry_and_fingerprint_are_kept(client_):
    services.attach_card(client=client_, token="tok_mastercard")
    card = Card.objects.get(client=client_)
    stored = " ".join(str(getattr(card, f.attname)) for f in Card._meta.fields)
    assert "5555555555554444" not in stored and "4242424242424242" not in stored
    assert {f.name for f in Card._meta.fields} <= {
        "id", "client", "role", "gateway", "token", "brand", "last4", "exp_month", "exp_year", "fingerprint", "verified_at", "created_at", "removed_at",
    }


@pytest.mark.parametrize("token", ["tok_chargeDeclined", "tok_chargeDeclinedInsufficientFunds", "tok_nonsense"])
def test_card3_a_refused_card_is_409_and_nothing_changes(client_, token):
    response = api_as(client_).put("/api/v1/billing/card/", {"token": token})
    assert response.status_code == 409 and response.json()["code"] == "card_declined"
    assert not Card.objects.filter(client=client_, removed_at__isnull=True, verified_at__isnull=False).exists()
    assert balance(client_) == 0 and charged(client_) == 0


def test_card3_customer_fail_attaches_and_verifies_then_charges_fail(client_):
    assert api_as(client_).put("/api/v1/billing/card/", {"token": "tok_chargeCustomerFail"}).status_code == 200
    assert balance(client_) == 100
    response = api_as(client_).post("/api/v1/billing/topup/", {"amount_cents": 2000})
    assert response.status_code == 409 and response.json()["code"] == "payment_failed"
    assert balance(client_) == 100


def test_card_a_new_card_replaces_the_old_one(client_):
    services.attach_card(client=client_, token="tok_visa")
    services.attach_card(client=client_, token="tok_mastercard")
    live = Card.objects.filter(client=client_, role="main", removed_at__isnull=True)
    assert [c.last4 for c in live] == ["4444"]
    assert balance(client_) == 200


def test_card_the_same_card_twice_the_same_day_is_verified_once(client_):
    services.attach_card(client=client_, token="tok_visa")
    services.attach_card(client=client_, token="tok_visa")
    assert charged(client_) == 100 and balance(client_) == 100
    assert Card.objects.filter(client=client_, removed_at__isnull=True, verified_at__isnull=False).count() == 1


def test_card4_the_backup_card_pays_when_the_main_card_fails(client_):
    services.attach_card(client=client_, token="tok_chargeCustomerFail")
    response = api_as(client_).put("/api/v1/billing/backup-card/", {"token": "tok_mastercard"})
    assert response.status_code == 200
    assert api_as(client_).post("/api/v1/billing/topup/", {"amount_cents": 2500}).status_code == 200
    assert balance(client_) == 100 + 100 + 2500
    paid = PaymentAttempt.objects.get(client=client_, kind="charge", status="booked")
    assert paid.card.role == "backup" and PaymentAttempt.objects.filter(client=client_, kind="charge", status="failed").count() == 1
    assert api_as(client_).get("/api/v1/billing/").json()["backup_card"]["last4"] == "4444"


def test_card2_a_card_can_be_removed_with_at_most_1_dollar_owed_and_no_pro(client_):
    services.attach_card(client=client_, token="tok_visa")
    assert api_as(client_).delete("/api/v1/billing/card/").status_code == 204
    assert services.live_card(client_) is None
    assert api_as(client_).delete("/api/v1/billing/card/").json()["code"] == "no_card"


def test_card2_a_card_cannot_be_removed_while_pro_is_active(payer):
    services.activate_pro(client=payer, period="monthly")
    response = api_as(payer).delete("/api/v1/billing/card/")
    assert response.status_code == 409 and response.json()["code"] == "card_removal_refused"
    assert services.live_card(payer) is not None


@pytest.mark.parametrize(("debt", "allowed"), [(100, True), (101, False)])
def test_card2_debt_over_1_dollar_keeps_the_card(client_, debt, allowed):
    services.attach_card(client=client_, token="tok_visa")
    wallet = services.wallet_of(client_)
    ledger.post(wallet, amount=-(100 + debt), kind="fee", description="Unpaid fee", reference="test", key=f"debt:{debt}")
    response = api_as(client_).delete("/api/v1/billing/card/")
    assert (response.status_code == 204) is allowed
    if not allowed:
        assert response.json()["code"] == "card_removal_refused" and services.live_card(client_) is not None


def test_tar6_a_second_free_account_with_the_same_card_is_flagged(client_):
    other = verified("second@example.com")
    services.attach_card(client=client_, token="tok_visa")
    services.attach_card(client=other, token="tok_visa")
    flag = FreeAccountFlag.objects.get()
    assert (flag.client, flag.other, flag.matched_on) == (other, client_, "card")


def test_tar6_a_pro_account_sharing_a_card_is_not_flagged(payer):
    services.activate_pro(client=payer, period="monthly")
    services.attach_card(client=verified("second@example.com"), token="tok_visa")
    assert not FreeAccountFlag.objects.exists()


def test_tar6_a_shared_verified_email_is_flagged(client_):
    from allauth.account.models import EmailAddress

    other = verified("other-person@example.com")
    EmailAddress.objects.create(user=client_, email="shared@example.com", verified=True)
    services.flag_shared_email(client=other, email="shared@example.com")
    assert FreeAccountFlag.objects.filter(client=other, other=client_, matched_on="email").exists()


def test_card_bad_input_is_400(client_):
    assert api_as(client_).put("/api/v1/billing/card/", {}).status_code == 400
    assert not Card.objects.exists()
