"""The Stripe adapter (CARD-3), on the `stripe` package: saved cards charged off-session through
PaymentIntents, each with an idempotency key. Chosen by PAYMENT_GATEWAY=stripe with STRIPE_API_KEY;
STRIPE_API_BASE points it at another address (the tests' stand-in server)."""

import stripe
from django.conf import settings

from billing.gateways.base import CardDeclined, CardDetails, ChargeResult, GatewayUnavailable

# Our token for a saved card: the Stripe customer and its payment method, "cus_…/pm_…".
SEPARATOR = "/"


class StripeGateway:
    name = "stripe"

    def __init__(self) -> None:
        if not settings.STRIPE_API_KEY:
            raise RuntimeError("PAYMENT_GATEWAY=stripe needs STRIPE_API_KEY.")
        base = {"api": settings.STRIPE_API_BASE} if settings.STRIPE_API_BASE else None
        # No retries inside the library: an unanswered charge is reconciled by its key instead.
        self.client = stripe.StripeClient(settings.STRIPE_API_KEY, base_addresses=base, max_network_retries=0)

    def attach_card(self, *, token: str, customer_ref: str) -> CardDetails:
        try:
            customer = self.client.v1.customers.create(
                params={"metadata": {"client": customer_ref}}, options={"idempotency_key": f"customer-{customer_ref}-{token}"}
            )
            method = self.client.v1.payment_methods.attach(token, params={"customer": customer.id})
        except stripe.CardError as exc:
            raise CardDeclined(exc.code or "card_declined", str(exc.user_message or exc)) from None
        except stripe.InvalidRequestError as exc:
            raise CardDeclined(exc.code or "invalid_token", str(exc.user_message or exc)) from None
        except (stripe.APIConnectionError, stripe.APIError) as exc:
            raise GatewayUnavailable(str(exc)) from exc
        card = method.card
        return CardDetails(
            token=f"{customer.id}{SEPARATOR}{method.id}", brand=card.brand, last4=card.last4,
            exp_month=card.exp_month, exp_year=card.exp_year, fingerprint=card.fingerprint or method.id,
        )

    @staticmethod
    def _result(intent) -> ChargeResult:
        if intent.status == "succeeded":
            return ChargeResult(status="succeeded", reference=intent.id, raw=intent.to_dict())
        code = (intent.last_payment_error or {}).get("code") if intent.last_payment_error else None
        return ChargeResult(status="failed", reference=intent.id, failure_code=code or intent.status, raw=intent.to_dict())

    def charge(self, *, card_token: str, amount_cents: int, idempotency_key: str, description: str, customer_ref: str) -> ChargeResult:
        customer, method = card_token.split(SEPARATOR, 1)
        try:
            intent = self.client.v1.payment_intents.create(
                params={
                    "amount": amount_cents, "currency": "usd", "customer": customer, "payment_method": method,
                    "off_session": True, "confirm": True, "description": description,
                    "metadata": {"idempotency_key": idempotency_key, "client": customer_ref},
                },
                options={"idempotency_key": idempotency_key},
            )
        except stripe.CardError as exc:
            return ChargeResult(status="failed", failure_code=exc.code or "card_declined", raw=exc.json_body or {})
        except (stripe.APIConnectionError, stripe.APIError) as exc:
            raise GatewayUnavailable(str(exc)) from exc
        return self._result(intent)

    def refund(self, *, charge_reference: str, amount_cents: int, idempotency_key: str) -> ChargeResult:
        try:
            refund = self.client.v1.refunds.create(
                params={"payment_intent": charge_reference, "amount": amount_cents}, options={"idempotency_key": idempotency_key}
            )
        except stripe.InvalidRequestError as exc:
            return ChargeResult(status="failed", failure_code=exc.code or "refund_refused", raw=exc.json_body or {})
        except (stripe.APIConnectionError, stripe.APIError) as exc:
            raise GatewayUnavailable(str(exc)) from exc
        status = "succeeded" if refund.status in ("succeeded", "pending") else "failed"
        return ChargeResult(status=status, reference=refund.id, failure_code="" if status == "succeeded" else refund.status, raw=refund.to_dict())

    def find_charge(self, *, idempotency_key: str) -> ChargeResult | None:
        try:
            found = self.client.v1.payment_intents.search(params={"query": f"metadata['idempotency_key']:'{idempotency_key}'"})
        except (stripe.APIConnectionError, stripe.APIError) as exc:
            raise GatewayUnavailable(str(exc)) from exc
        return self._result(found.data[0]) if found.data else None

    def detach_card(self, *, card_token: str) -> None:
        _, method = card_token.split(SEPARATOR, 1)
        try:
            self.client.v1.payment_methods.detach(method)
        except stripe.InvalidRequestError:
            return  # already detached, or gone with its customer
        except (stripe.APIConnectionError, stripe.APIError) as exc:
            raise GatewayUnavailable(str(exc)) from exc
