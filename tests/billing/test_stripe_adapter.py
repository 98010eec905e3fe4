"""CARD-3: the Stripe adapter against a local HTTP server standing in for Stripe's API (the
library pointed at it through STRIPE_API_BASE), not by patching the library."""

import json
import threading
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from billing import services
from billing.gateways.base import CardDeclined, GatewayUnavailable
from billing.gateways.stripe import StripeGateway
from billing.models import PaymentAttempt, Subscription
from tests.billing.conftest import balance, verified

DECLINING = {"pm_card_chargeDeclined"}
FAILS_LATER = {"pm_card_chargeCustomerFail"}


class FakeStripe:
    """Just enough of Stripe's API: customers, attaching payment methods, PaymentIntents with
    idempotency keys and search, refunds. `drop_next_charge` takes a charge and then closes the
    connection without answering, as a timeout would look."""

    def __init__(self):
        self.intents: dict[str, dict] = {}
        self.by_key: dict[str, tuple[int, dict]] = {}
        self.requests: list[tuple[str, str]] = []
        self.drop_next_charge = False
        self.detached: list[str] = []


def make_handler(state: FakeStripe):
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args):
            pass

        def _send(self, status: int, body: dict):
            data = json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def do_GET(self):  # noqa: N802
            url = urllib.parse.urlparse(self.path)
            state.requests.append(("GET", url.path))
            if url.path == "/v1/payment_intents/search":
                query = urllib.parse.parse_qs(url.query)["query"][0]
                key = query.split(":'", 1)[1].rstrip("'")
                found = [i for i in state.intents.values() if i["metadata"].get("idempotency_key") == key]
                return self._send(200, {"object": "search_result", "data": found, "has_more": False, "url": url.path})
            self._send(404, {"error": {"type": "invalid_request_error", "message": "no route"}})

        def do_POST(self):  # noqa: N802
            length = int(self.headers.get("Content-Length") or 0)
            form = urllib.parse.parse_qs(self.rfile.read(length).decode())
            field = {k: v[0] for k, v in form.items()}
            key = self.headers.get("Idempotency-Key")
            state.requests.append(("POST", self.path))
            if key and key in state.by_key:
                return self._send(*state.by_key[key])
            status, body = self.route(self.path, field)
            if key:
                state.by_key[key] = (status, body)
            if self.path == "/v1/payment_intents" and state.drop_next_charge:
                state.drop_next_charge = False
                self.close_connection = True
                self.connection.shutdown(2)
                return None
            return self._send(status, body)

        def route(self, path: str, field: dict):
            if path == "/v1/customers":
                return 200, {"id": f"cus_{len(state.requests)}", "object": "customer"}
            if path.startswith("/v1/payment_methods/") and path.endswith("/attach"):
                method = path.split("/")[3]
                if method in DECLINING:
                    return 402, {"error": {"type": "card_error", "code": "card_declined", "message": "Your card was declined."}}
                card = {"brand": "visa", "last4": "4242", "exp_month": 12, "exp_year": 2031, "fingerprint": f"fp_{method}"}
                return 200, {"id": method, "object": "payment_method", "customer": field["customer"], "card": card}
            if path == "/v1/payment_intents":
                number = f"pi_{len(state.intents) + 1}"
                metadata = {k[9:-1]: v for k, v in field.items() if k.startswith("metadata[")}
                if field["payment_method"] in FAILS_LATER:
                    error = {"type": "card_error", "code": "card_declined", "message": "Declined.", "payment_intent": {"id": number}}
                    return 402, {"error": error}
                intent = {"id": number, "object": "payment_intent", "status": "succeeded", "amount": int(field["amount"]),
                          "currency": field["currency"], "metadata": metadata, "last_payment_error": None}
                state.intents[number] = intent
                return 200, intent
            if path.startswith("/v1/payment_methods/") and path.endswith("/detach"):
                method = path.split("/")[3]
                state.detached.append(method)
                return 200, {"id": method, "object": "payment_method", "customer": None}
            if path == "/v1/refunds":
                return 200, {"id": "re_1", "object": "refund", "status": "succeeded", "amount": int(field["amount"])}
            return 404, {"error": {"type": "invalid_request_error", "message": "no route"}}

    return Handler


@pytest.fixture
def fake_stripe(settings):
    state = FakeStripe()
    server = ThreadingHTTPServer(("127.0.0.1", 0), make_handler(state))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    settings.PAYMENT_GATEWAY = "stripe"
    settings.STRIPE_API_KEY = "sk_test_local"
    settings.STRIPE_API_BASE = f"http://127.0.0.1:{server.server_address[1]}"
    yield state
    server.shutdown()


def test_card3_stripe_attaches_and_charges_off_session_with_the_key(fake_stripe):
    gateway = StripeGateway()
    card = gateway.attach_card(token="pm_card_visa", customer_ref="client-1")
    assert (card.brand, card.last4, card.fingerprint) == ("visa", "4242", "fp_pm_card_visa")
    first = gateway.charge(card_token=card.token, amount_cents=1200, idempotency_key="k1", description="x", customer_ref="client-1")
    again = gateway.charge(card_token=card.token, amount_cents=1200, idempotency_key="k1", description="x", customer_ref="client-1")
    assert first.succeeded and again.reference == first.reference
    assert len(fake_stripe.intents) == 1


def test_card3_stripe_declines_are_failures_with_their_code(fake_stripe):
    gateway = StripeGateway()
    with pytest.raises(CardDeclined) as declined:
        gateway.attach_card(token="pm_card_chargeDeclined", customer_ref="client-1")
    assert declined.value.code == "card_declined"
    card = gateway.attach_card(token="pm_card_chargeCustomerFail", customer_ref="client-1")
    result = gateway.charge(card_token=card.token, amount_cents=500, idempotency_key="k2", description="x", customer_ref="client-1")
    assert result.status == "failed" and result.failure_code == "card_declined"


def test_card3_stripe_a_lost_answer_is_unknown_and_found_by_its_key(fake_stripe):
    gateway = StripeGateway()
    card = gateway.attach_card(token="pm_card_visa", customer_ref="client-1")
    fake_stripe.drop_next_charge = True
    with pytest.raises(GatewayUnavailable):
        gateway.charge(card_token=card.token, amount_cents=900, idempotency_key="k3", description="x", customer_ref="client-1")
    found = gateway.find_charge(idempotency_key="k3")
    assert found is not None and found.succeeded and len(fake_stripe.intents) == 1
    assert gateway.find_charge(idempotency_key="never-sent") is None


@pytest.mark.django_db
def test_card3_the_platform_runs_on_stripe_by_setting_alone(fake_stripe):
    client = verified("stripe-user@example.com")
    services.attach_card(client=client, token="pm_card_visa")
    assert balance(client) == 100
    services.activate_pro(client=client, period="monthly")
    assert Subscription.objects.get(client=client).is_active
    charge = PaymentAttempt.objects.get(kind="charge")
    assert charge.gateway == "stripe" and charge.gateway_reference.startswith("pi_") and charge.amount_cents == 900
    services.top_up(client=client, amount_cents=2000, idempotency_key="t1")
    top_up = PaymentAttempt.objects.get(kind="charge", amount_cents=2000)
    refund = services.staff_refund(payment=top_up, amount_cents=2000, reason="test", actor=client)
    assert refund.status == "booked" and balance(client) == 0
    assert ("POST", "/v1/refunds") in fake_stripe.requests


@pytest.mark.django_db
def test_dea5_deleting_the_account_detaches_its_cards_at_stripe(fake_stripe):
    from accounts import services as accounts
    from billing.models import Card
    from tests.factories import PASSWORD

    client = verified("leaving@example.com")
    services.attach_card(client=client, token="pm_card_visa")
    services.attach_card(client=client, token="pm_card_mastercard", role="backup")
    accounts.delete_account(client=client, password=PASSWORD, actor=client)
    assert sorted(fake_stripe.detached) == ["pm_card_mastercard", "pm_card_visa"]
    assert not Card.objects.filter(client=client).exclude(token="").exists()
