import pytest

from accounts import services as accounts
from billing import services
from tests.factories import make_client


def verified(email: str):
    client = make_client(email=email)
    accounts.mark_email_verified(client=client, email=client.email)
    client.refresh_from_db()
    return client


@pytest.fixture
def payer(db):
    """A client with a verified email and a verified tok_visa card (and its $1 in the wallet)."""
    client = verified("payer@example.com")
    services.attach_card(client=client, token="tok_visa", actor=client)
    return client


def balance(client) -> int:
    return services.balance_cents(services.wallet_of(client))


def charged(client) -> int:
    """Cents taken from the client's cards, refunds deducted."""
    from billing.models import PaymentAttempt

    attempts = PaymentAttempt.objects.filter(client=client, status__in=["succeeded", "booked"])
    return sum(a.amount_cents for a in attempts.exclude(kind="refund")) - sum(a.amount_cents for a in attempts.filter(kind="refund"))
