"""What every gateway offers, as dataclasses in and out (STYLE.md: saleor's payment interface)."""

from dataclasses import dataclass, field
from typing import Protocol


@dataclass(frozen=True)
class CardDetails:
    """What the platform keeps of a card (CARD-1): never its number or CVV."""

    token: str
    brand: str
    last4: str
    exp_month: int
    exp_year: int
    fingerprint: str


@dataclass(frozen=True)
class ChargeResult:
    """The outcome of one charge or refund: `succeeded`, `failed` (with a code) or `unknown`."""

    status: str
    reference: str = ""
    failure_code: str = ""
    raw: dict = field(default_factory=dict)

    @property
    def succeeded(self) -> bool:
        return self.status == "succeeded"


class CardDeclined(Exception):
    """The gateway refused to attach the card; `code` as the gateway says it."""

    def __init__(self, code: str, message: str = "") -> None:
        super().__init__(message or code)
        self.code = code


class GatewayUnavailable(Exception):
    """No answer (a timeout, a broken connection): the outcome of the call is unknown."""


class Gateway(Protocol):
    name: str

    def attach_card(self, *, token: str, customer_ref: str) -> CardDetails:
        """Check and store the card with the gateway; CardDeclined when it is refused."""

    def charge(self, *, card_token: str, amount_cents: int, idempotency_key: str, description: str, customer_ref: str) -> ChargeResult:
        """Charge a saved card off-session. The same key never charges twice: a repeat returns the
        first outcome. GatewayUnavailable when the outcome cannot be known."""

    def refund(self, *, charge_reference: str, amount_cents: int, idempotency_key: str) -> ChargeResult:
        """Return (part of) a charge to its card."""

    def find_charge(self, *, idempotency_key: str) -> ChargeResult | None:
        """The outcome of an earlier charge by its key, or None when the gateway never got it."""

    def detach_card(self, *, card_token: str) -> None:
        """Remove the saved card from the gateway for good (DEA-5); a card already gone is no
        error. GatewayUnavailable when there is no answer."""
