"""The cards' life at the gateway's end (DEA-5): a deleted account's saved cards are detached
there, not only forgotten here."""

import logging

from django.db import transaction
from django.utils import timezone

from accounts.models import Client
from billing.audit_actions import Audit
from billing.gateways import GatewayUnavailable, get_gateway
from billing.models import Card
from compliance.services import record
from core.db import in_open_transaction

logger = logging.getLogger(__name__)


def detach_cards(*, client: Client, actor: Client | None = None) -> list[int]:
    """DEA-5: every card of the client the gateway still holds is detached there, then its data
    deleted here (token gone, removed). Called outside any transaction: a gateway's answer cannot
    be rolled back. A card the gateway does not answer for keeps its token, for staff to retry,
    and the audit entry names it. Returns the cards detached."""
    if in_open_transaction():
        raise RuntimeError("Cards are detached at the gateway outside any transaction.")
    gateway = get_gateway()
    detached, unanswered = [], []
    for card in Card.objects.filter(client=client).exclude(token="").order_by("pk"):
        try:
            gateway.detach_card(card_token=card.token)
        except GatewayUnavailable:
            logger.warning("card %s of client %s: the gateway did not answer its detachment", card.pk, client.pk)
            unanswered.append(card.pk)
        else:
            detached.append(card.pk)
    if not detached and not unanswered:
        return []
    now = timezone.now()
    with transaction.atomic():
        Card.objects.filter(pk__in=detached).update(token="", fingerprint="")
        Card.objects.filter(pk__in=detached + unanswered, removed_at__isnull=True).update(removed_at=now)
        record(action=Audit.CARDS_DETACHED, actor=actor, client=client, details={"cards": detached, "unanswered": unanswered})
    return detached
