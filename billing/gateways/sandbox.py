"""The built-in sandbox (CARD-3): behaves like a real gateway's test mode, no network.

Test tokens (API.md): `tok_visa`, `tok_mastercard` succeed; `tok_chargeDeclined` is refused when
attached; `tok_chargeDeclinedInsufficientFunds` is refused when attached for lack of funds;
`tok_chargeCustomerFail` attaches and verifies, then every later charge fails. Any other token is
unknown (refused). Charges are kept per idempotency key in the cache, so that a repeat with the
same key returns the first outcome, as a real gateway does."""

import hashlib

from django.core.cache import cache

from billing.gateways.base import CardDeclined, CardDetails, ChargeResult

CARDS = {
    "tok_visa": ("visa", "4242", "ok"),
    "tok_mastercard": ("mastercard", "4444", "ok"),
    "tok_chargeDeclined": ("visa", "0002", "card_declined"),
    "tok_chargeDeclinedInsufficientFunds": ("visa", "9995", "insufficient_funds"),
    "tok_chargeCustomerFail": ("visa", "0341", "fails_later"),
}
KEEP_SECONDS = 7 * 24 * 3600


class SandboxGateway:
    name = "sandbox"

    def attach_card(self, *, token: str, customer_ref: str) -> CardDetails:
        known = CARDS.get(token)
        if known is None:
            raise CardDeclined("invalid_token", "The card token is unknown.")
        brand, last4, behaviour = known
        if behaviour in ("card_declined", "insufficient_funds"):
            raise CardDeclined(behaviour)
        fingerprint = hashlib.sha256(f"sandbox:{token}".encode()).hexdigest()[:32]
        # The card's own token, bound to the customer, as a gateway's saved payment method is.
        return CardDetails(token=f"{token}:{customer_ref}", brand=brand, last4=last4, exp_month=12, exp_year=2034, fingerprint=fingerprint)

    def _behaviour(self, card_token: str) -> str:
        return CARDS.get(card_token.split(":", 1)[0], ("", "", "card_declined"))[2]

    def charge(self, *, card_token: str, amount_cents: int, idempotency_key: str, description: str, customer_ref: str) -> ChargeResult:
        key = f"sandbox-charge:{idempotency_key}"
        if (earlier := cache.get(key)) is not None:
            return ChargeResult(**earlier)
        verification = description.startswith("Card verification")
        if self._behaviour(card_token) == "ok" or (verification and self._behaviour(card_token) == "fails_later"):
            outcome = {"status": "succeeded", "reference": "ch_" + hashlib.sha256(key.encode()).hexdigest()[:24]}
        else:
            outcome = {"status": "failed", "failure_code": "card_declined"}
        outcome["raw"] = {"amount": amount_cents, "description": description, **outcome}
        cache.set(key, outcome, KEEP_SECONDS)
        return ChargeResult(**outcome)

    def refund(self, *, charge_reference: str, amount_cents: int, idempotency_key: str) -> ChargeResult:
        key = f"sandbox-refund:{idempotency_key}"
        if (earlier := cache.get(key)) is None:
            earlier = {"status": "succeeded", "reference": "re_" + hashlib.sha256(key.encode()).hexdigest()[:24], "raw": {"charge": charge_reference}}
            cache.set(key, earlier, KEEP_SECONDS)
        return ChargeResult(**earlier)

    def find_charge(self, *, idempotency_key: str) -> ChargeResult | None:
        earlier = cache.get(f"sandbox-charge:{idempotency_key}")
        return ChargeResult(**earlier) if earlier is not None else None
