"""The built-in sandbox (CARD-3): behaves like a real gateway's test mode, no network.

Test tokens (API.md): `tok_visa`, `tok_mastercard` succeed; `tok_chargeDeclined` is refused when
attached; `tok_chargeDeclinedInsufficientFunds` is refused when attached for lack of funds;
`tok_chargeCustomerFail` attaches and verifies, then every later charge fails. Any other token is
unknown (refused). What it charged is kept per idempotency key in the database (`SandboxCharge`),
so every process (the web, a worker, a test) sees one memory, as with a real gateway: a repeat
with the same key returns the first outcome and charges nothing more."""

import functools
import hashlib
import time

import psycopg
from django.conf import settings
from django.db import connection
from django.utils import timezone

from billing.gateways.base import CardDeclined, CardDetails, ChargeResult
from billing.models import SandboxCharge
from core.db import in_open_transaction

CARDS = {
    "tok_visa": ("visa", "4242", "ok"),
    "tok_mastercard": ("mastercard", "4444", "ok"),
    "tok_chargeDeclined": ("visa", "0002", "card_declined"),
    "tok_chargeDeclinedInsufficientFunds": ("visa", "9995", "insufficient_funds"),
    "tok_chargeCustomerFail": ("visa", "0341", "fails_later"),
}


@functools.cache
def _upsert_sql(columns: tuple[str, ...]) -> str:
    quote = connection.ops.quote_name
    return (
        f"INSERT INTO {quote(SandboxCharge._meta.db_table)} ({', '.join(quote(c) for c in columns)}) VALUES ({', '.join(['%s'] * len(columns))}) "  # noqa: S608
        "ON CONFLICT (idempotency_key) DO UPDATE SET idempotency_key = EXCLUDED.idempotency_key "
        "RETURNING status, reference, failure_code, amount_cents, description"
    )


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

    @staticmethod
    def _remember(*, key: str, kind: str, **values) -> ChargeResult:
        """Keep the outcome under its key, once; a key seen before answers its first outcome. One
        statement (an upsert that changes nothing on a key seen before), as fast as a gateway's
        memory should be: the night charges thousands in a row."""

        if in_open_transaction():  # a real gateway's charge cannot be rolled back with our transaction
            raise RuntimeError("The sandbox gateway was called inside an open transaction.")
        row = {"idempotency_key": key, "kind": kind, "status": "", "amount_cents": 0, "reference": "", "failure_code": "",
               "customer_ref": "", "description": "", **values, "created_at": timezone.now()}
        if connection.vendor == "postgresql":
            # A statement prepared once per connection, its values bound by the server: the
            # sandbox's own memory, as cheap as the stand-in for another company's system can be.
            connection.ensure_connection()
            with connection.wrap_database_errors, psycopg.Cursor(connection.connection) as cursor:
                cursor.execute(_upsert_sql(tuple(row)), list(row.values()), prepare=True)
                status, reference, failure_code, amount, description = cursor.fetchone()
        else:
            with connection.cursor() as cursor:
                cursor.execute(_upsert_sql(tuple(row)), list(row.values()))
                status, reference, failure_code, amount, description = cursor.fetchone()
        raw = {"amount": amount, "description": description, "status": status}
        return ChargeResult(status=status, reference=reference, failure_code=failure_code, raw=raw)

    @staticmethod
    def _result(charge) -> ChargeResult:
        raw = {"amount": charge.amount_cents, "description": charge.description, "status": charge.status}
        return ChargeResult(status=charge.status, reference=charge.reference, failure_code=charge.failure_code, raw=raw)

    def charge(self, *, card_token: str, amount_cents: int, idempotency_key: str, description: str, customer_ref: str) -> ChargeResult:
        if settings.SANDBOX_LATENCY_MS:
            time.sleep(settings.SANDBOX_LATENCY_MS / 1000)
        verification = description.startswith("Card verification")
        behaviour = self._behaviour(card_token)
        if behaviour == "ok" or (verification and behaviour == "fails_later"):
            values = {"status": "succeeded", "reference": "ch_" + hashlib.sha256(idempotency_key.encode()).hexdigest()[:24]}
        else:
            values = {"status": "failed", "failure_code": "card_declined"}
        return self._remember(key=idempotency_key, kind="charge", amount_cents=amount_cents, customer_ref=customer_ref[:60],
                              description=description[:200], **values)

    def refund(self, *, charge_reference: str, amount_cents: int, idempotency_key: str) -> ChargeResult:
        reference = "re_" + hashlib.sha256(idempotency_key.encode()).hexdigest()[:24]
        return self._remember(key=f"refund:{idempotency_key}", kind="refund", amount_cents=amount_cents, status="succeeded",
                              reference=reference, description=charge_reference[:200])

    def find_charge(self, *, idempotency_key: str) -> ChargeResult | None:

        charge = SandboxCharge.objects.filter(idempotency_key=idempotency_key, kind="charge").first()
        return self._result(charge) if charge is not None else None

    def detach_card(self, *, card_token: str) -> None:
        # Kept in the same memory, so that a test (or staff) sees what the gateway was asked to forget.
        self._remember(key=f"detach:{card_token}"[:255], kind="detach", status="succeeded", customer_ref=card_token.split(":", 1)[-1][:60])
