"""The payment gateway port (CARD-3): one interface, chosen by the PAYMENT_GATEWAY setting."""

from django.conf import settings
from django.utils.module_loading import import_string

from billing.gateways.base import CardDeclined, CardDetails, ChargeResult, Gateway, GatewayUnavailable

GATEWAYS = {
    "sandbox": "billing.gateways.sandbox.SandboxGateway",
    "stripe": "billing.gateways.stripe.StripeGateway",
}

__all__ = ["CardDeclined", "CardDetails", "ChargeResult", "Gateway", "GatewayUnavailable", "get_gateway"]


def get_gateway() -> Gateway:
    """The configured gateway: `sandbox`, `stripe`, or a dotted path to a Gateway class."""
    name = settings.PAYMENT_GATEWAY
    return import_string(GATEWAYS.get(name, name))()
