"""Demo billing: Alice on PRO (monthly, a sandbox Visa, a top-up in the wallet), Bob with a card
on Free."""

from accounts.models import Client
from billing import services
from billing.models import Subscription


def seed() -> list[str]:
    alice = Client.objects.get(email="alice@example.com")
    bob = Client.objects.get(email="bob@example.com")
    if services.live_card(alice) is None:
        services.attach_card(client=alice, token="tok_visa", actor=alice)
    if not Subscription.objects.filter(client=alice).exists():
        services.activate_pro(client=alice, period="monthly", actor=alice)
        services.top_up(client=alice, amount_cents=2500, idempotency_key="demo-top-up", actor=alice)
    if services.live_card(bob) is None:
        services.attach_card(client=bob, token="tok_mastercard", actor=bob)
    return ["Billing: Alice on PRO monthly with a wallet, Bob on Free with a card (sandbox tokens: tok_visa, tok_chargeCustomerFail …)."]
