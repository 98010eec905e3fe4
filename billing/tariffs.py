"""The end of PRO, which a client's deactivation (DEA-1..3), a DEA-3 renewal night and DUN-5 all
come to."""

import datetime

from django.utils import timezone

from accounts.models import Client
from billing.audit_actions import Audit
from billing.models import Subscription
from compliance.services import record
from projects import services as projects


def end_pro(*, subscription: Subscription, actor: Client | None = None, now: datetime.datetime | None = None) -> None:
    """PRO ends: the client is on Free from `now` (the night's instant, or the moment), a new Free
    stint (TAR-2), its projects archived (DEA-2). Called inside the caller's transaction."""
    now = now or timezone.now()
    subscription.status, subscription.deactivated_at, subscription.ends_after = Subscription.Status.DEACTIVATED, now, None
    subscription.save(update_fields=["status", "deactivated_at", "ends_after"])
    Client.objects.filter(pk=subscription.client_id).update(tariff=Client.Tariff.FREE, tariff_since=now)
    projects.archive_owner_projects(owner=subscription.client, actor=actor)
    record(action=Audit.PRO_DEACTIVATED, actor=actor, target=subscription, client=subscription.client)
